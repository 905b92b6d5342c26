// Command netpoll is an echo server on github.com/cloudwego/netpoll, a
// peer that sockit's benchmark harness (bench/harness) measures beside
// sockit. It is not part of the product and lives in a module of its own
// so that sockit's go.mod does not grow.
//
//	netpoll [ADDR]     default 127.0.0.1:0 (any free port)
//
// It prints "listening on tcp://HOST:PORT" once it listens, echoes every
// byte it reads, and stops on SIGTERM or SIGINT. netpoll runs with its
// defaults (one poller below 20 GOMAXPROCS, handlers on its goroutine pool,
// TCP_NODELAY); the handler uses netpoll's no-copy reader and writer as
// the authors' examples do: it takes what has arrived, writes it back and
// flushes, then releases the input. netpoll closes a connection at the
// client's FIN, dropping what it still owes: no half-close.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
)

// echo writes back everything the connection has read.
func echo(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	defer r.Release()
	buf, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(buf); err != nil {
		return err
	}
	return w.Flush()
}

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = strings.TrimPrefix(os.Args[1], "tcp://")
	}
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netpoll:", err)
		os.Exit(1)
	}
	loop, err := netpoll.NewEventLoop(echo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netpoll:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on tcp://%s\n", ln.Addr())

	done := make(chan error, 1)
	go func() { done <- loop.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "netpoll: serve:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := loop.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "netpoll: shutdown:", err)
		os.Exit(1)
	}
	<-done
}
