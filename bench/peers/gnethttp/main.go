// Command gnethttp is the event-loop peer of the benchmark harness's HTTP
// cases (go run ./bench/harness -cases h1,h2,h3,h4): a plaintext HTTP
// server on github.com/panjf2000/gnet/v2, the epoll engine sockit's
// DESIGN names as its closest twin. Like the gnet entries of the usual
// HTTP benchmarks it splits requests at their empty line and answers
// each with the body sockit serves on /plaintext, checking nothing else;
// it does less per request than sockit or net/http, which parse and
// check every field. It is a module of its own so that sockit's go.mod
// never grows for a comparison.
//
//	go run . -addr 127.0.0.1:0      # prints "listening on http://ADDR/"; SIGTERM stops it
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

type server struct {
	gnet.BuiltinEventEngine
	eng  atomic.Pointer[gnet.Engine]
	date atomic.Pointer[[]byte] // "Date: …\r\n", refreshed every second
}

var (
	headEnd = []byte("\r\n\r\n")
	bufs    = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
)

// OnBoot says where the engine listens: the port of 127.0.0.1:0 is the
// kernel's choice, read from a duplicate of the listening socket.
func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng.Store(&eng)
	fd, err := eng.Dup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet: dup:", err)
		return gnet.Shutdown
	}
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	in4, ok := sa.(*unix.SockaddrInet4)
	if err != nil || !ok {
		fmt.Fprintln(os.Stderr, "gnet: getsockname:", err)
		return gnet.Shutdown
	}
	fmt.Printf("listening on http://%s/\n", netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)))
	return gnet.None
}

// OnTraffic answers every whole request head in what has arrived.
func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	b := bufs.Get().(*[]byte)
	out := (*b)[:0]
	used := 0
	for {
		i := bytes.Index(in[used:], headEnd)
		if i < 0 {
			break
		}
		used += i + 4
		out = append(out, "HTTP/1.1 200 OK\r\nServer: gnet\r\n"...)
		out = append(out, *s.date.Load()...)
		out = append(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, World!"...)
	}
	c.Discard(used)
	if len(out) > 0 {
		c.Write(out)
	}
	*b = out
	bufs.Put(b)
	if c.InboundBuffered() > 64<<10 {
		return gnet.Close // a head that never ends
	}
	return gnet.None
}

func (s *server) tickDate() {
	for {
		d := []byte("Date: " + time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05") + " GMT\r\n")
		s.date.Store(&d)
		time.Sleep(time.Second)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	s := &server{}
	d := []byte("Date: " + time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05") + " GMT\r\n")
	s.date.Store(&d)
	go s.tickDate()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		if eng := s.eng.Load(); eng != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			eng.Stop(sctx)
		}
	}()
	err := gnet.Run(s, "tcp://"+*addr, gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithReusePort(false))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
}
