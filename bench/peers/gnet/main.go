// Command gnet is an echo server on github.com/panjf2000/gnet/v2, a peer
// that sockit's benchmark harness (bench/harness) measures beside sockit.
// It is not part of the product and lives in a module of its own so that
// sockit's go.mod does not grow.
//
//	gnet [ADDR]     default tcp://127.0.0.1:0 (any free port)
//
// It prints "listening on tcp://HOST:PORT" once it listens, echoes every
// byte it reads, and stops on SIGTERM or SIGINT. It is set up the way the
// gnet authors' own echo example is: multicore, here one event loop per
// GOMAXPROCS (gnet's multicore default is one per CPU), and TCP_NODELAY,
// gnet's default.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// echo is the gnet event handler: whatever arrives goes straight back.
type echo struct {
	gnet.BuiltinEventEngine
	booted chan gnet.Engine
}

// OnBoot hands the engine to main, which prints where it listens.
func (e *echo) OnBoot(eng gnet.Engine) gnet.Action {
	e.booted <- eng
	return gnet.None
}

// OnTraffic writes back everything in the connection's inbound buffer.
func (e *echo) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr := "tcp://127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	h := &echo{booted: make(chan gnet.Engine, 1)}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(h, addr,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)))
	}()
	var eng gnet.Engine
	select {
	case eng = <-h.booted:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
	bound, err := boundAddr(eng)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on tcp://%s\n", bound)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gnet: stop:", err)
		os.Exit(1)
	}
	<-done
}

// boundAddr is the address of the engine's listener: gnet does not say
// which port it got for port 0, so ask the kernel about a copy of its
// descriptor.
func boundAddr(eng gnet.Engine) (string, error) {
	fd, err := eng.Dup()
	if err != nil {
		return "", fmt.Errorf("dup listener: %w", err)
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", fmt.Errorf("getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), fmt.Sprint(a.Port)), nil
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), fmt.Sprint(a.Port)), nil
	}
	return "", fmt.Errorf("listener address %T is not TCP", sa)
}
