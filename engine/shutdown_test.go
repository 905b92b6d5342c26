package engine_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// Shutdown returns nil, not ctx.Err(), when no connection had to be
// closed, even with a context that has already ended.
func TestShutdownNothingOpen(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i := range 20 { // the wrong answer came from a random select
			srv := newServer(t, b, engine.Config{Loops: 1})
			listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("run %d: Shutdown with nothing open = %v, want nil", i, err)
			}
		}
	})
}

// A Listen on a Unix path racing Shutdown leaves no socket file behind,
// whichever wins: Listen either succeeds before Shutdown (which then
// removes the file) or fails with ErrServerClosed and removes it itself.
func TestListenRacingShutdownRemovesPath(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for i := range 50 {
			srv := newServer(t, b, engine.Config{Loops: 1})
			path := testkit.SockPath(t, "race.sock")
			listened := make(chan error, 1)
			go func() {
				_, err := srv.Listen(ep("unix", path), service.Echo{})
				listened <- err
			}()
			if err := srv.Close(); err != nil {
				t.Fatalf("run %d: Close: %v", i, err)
			}
			if err := testkit.Receive(t, listened, "Listen's return"); err != nil && !errors.Is(err, engine.ErrServerClosed) {
				t.Fatalf("run %d: Listen racing Close: %v, want nil or ErrServerClosed", i, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("run %d: after Listen and Close, Lstat(%s) = %v; want the socket file gone", i, filepath.Base(path), err)
			}
		}
	})
}

// closeOnListen is an Observer that, at the first listen(2) on network,
// closes the server and waits for Close to return: Shutdown then runs
// entirely while Listen is between bind(2) and handing its socket to the
// backend.
type closeOnListen struct {
	network string
	srv     chan *engine.Server // the server, once made
	once    sync.Once
	closed  chan error // Close's result
}

func (o *closeOnListen) Observe(e sockit.Event) {
	if e.Step != sockit.StepListen || e.Net != o.network {
		return
	}
	o.once.Do(func() {
		srv := <-o.srv
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		o.closed <- <-done
	})
}

// A Listen that Shutdown overtakes after bind(2) fails with ErrServerClosed
// and removes the socket file it made.
func TestListenOvertakenByShutdownRemovesPath(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		obs := &closeOnListen{network: "unix", srv: make(chan *engine.Server, 1), closed: make(chan error, 1)}
		srv := newServer(t, b, engine.Config{Loops: 1, Observer: obs})
		obs.srv <- srv
		path := testkit.SockPath(t, "overtaken.sock")
		_, err := srv.Listen(ep("unix", path), service.Echo{})
		if cerr := testkit.Receive(t, obs.closed, "Close's return"); cerr != nil {
			t.Fatalf("Close: %v", cerr)
		}
		if !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Listen overtaken by Close: %v, want ErrServerClosed", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Lstat(%s) = %v; want the socket file removed", filepath.Base(path), err)
		}
	})
}

// WriteTo on a datagram socket after Shutdown fails with ErrClosed.
func TestPacketWriteAfterShutdown(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		pcs := make(chan engine.PacketConn, 1)
		addr, err := srv.ListenPacket(endpoint.MustParse("udp://127.0.0.1:0"), packetFunc(func(pc engine.PacketConn, p []byte, from net.Addr) {
			select {
			case pcs <- pc:
			default:
			}
			service.Echo{}.OnPacket(pc, p, from)
		}))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		c.Write([]byte("x"))
		pc := testkit.Receive(t, pcs, "the datagram socket")
		srv.Close()
		if _, err := pc.WriteTo([]byte("late"), c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close = %v, want ErrClosed", err)
		}
	})
}

type packetFunc func(pc engine.PacketConn, p []byte, from net.Addr)

func (f packetFunc) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) { f(pc, p, from) }
