// Command nethttp is the net/http peer of the benchmark harness's HTTP
// cases (go run ./bench/harness -cases h1,h2,h3,h4): Go's own HTTP server,
// a goroutine per connection, answering every GET with the plaintext body
// sockit serves on /plaintext. It is a module of its own so that sockit's
// go.mod never grows for a comparison.
//
//	go run . -addr 127.0.0.1:0      # prints "listening on http://ADDR/"; SIGTERM stops it
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var body = []byte("Hello, World!")

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{"13"}
			h["Server"] = []string{"nethttp"}
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}
