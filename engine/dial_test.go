package engine_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/enginetest"
	"github.com/sockit/sockit/service"
)

// dialClient is a Handler for outgoing connections: it sends msg on open,
// half-closes, collects what comes back and reports it at close.
type dialClient struct {
	msg    []byte
	opened chan struct{}
	mu     sync.Mutex
	got    bytes.Buffer
	done   chan error
}

func newDialClient(msg []byte) *dialClient {
	return &dialClient{msg: msg, opened: make(chan struct{}, 1), done: make(chan error, 1)}
}

func (d *dialClient) OnOpen(c engine.Conn) {
	d.opened <- struct{}{}
	c.Write(d.msg)
	c.CloseWrite()
}

func (d *dialClient) OnData(_ engine.Conn, in []byte) int {
	d.mu.Lock()
	d.got.Write(in)
	d.mu.Unlock()
	return len(in)
}

func (d *dialClient) OnPeerClose(c engine.Conn)        { c.Close() }
func (d *dialClient) OnClose(_ engine.Conn, err error) { d.done <- err }

func (d *dialClient) reply() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.got.Bytes())
}

// An outgoing connection made by Server.Dial is served by its handler like
// an accepted one: it opens, writes, half-closes, reads the echo, closes.
func TestDialEcho(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network, func(t *testing.T) {
				srv := newServer(t, b, engine.Config{})
				at := "127.0.0.1:0"
				if network == "unix" {
					at = sockPath(t, "d")
				}
				addr := listen(t, srv, network, at, service.Echo{})
				d := newDialClient(pattern(1<<20, 3))
				if err := srv.Dial(endpoint.Endpoint{Scheme: network, Addr: addr.String()}, d, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if err := receive(t, d.done, "OnClose of the dialed connection"); err != nil {
					t.Errorf("OnClose: %v, want nil", err)
				}
				if got := d.reply(); !bytes.Equal(got, d.msg) {
					t.Errorf("echo of %d bytes came back as %d bytes", len(d.msg), len(got))
				}
				st := srv.Stats()
				if st.BytesIn != 2<<20 || st.BytesOut != 2<<20 {
					t.Errorf("Stats bytes in/out = %d/%d, want %d each (server and client side in one engine)", st.BytesIn, st.BytesOut, 2<<20)
				}
			})
		}
	})
}

// A refused dial ends in OnClose, without OnOpen, with a connect error.
func TestDialRefused(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		srv := newServer(t, b, engine.Config{})
		d := newDialClient([]byte("x"))
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr), d, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		err = receive(t, d.done, "OnClose of the refused dial")
		var se *sockit.Error
		if !errors.As(err, &se) || se.Op != "connect" || sockit.KindOf(err) != sockit.KindRefused {
			t.Errorf("OnClose error = %v (%T), want a connect *sockit.Error of kind refused", err, err)
		}
		select {
		case <-d.opened:
			t.Error("OnOpen was called for a dial that never connected")
		default:
		}
		if a := srv.Stats().Active; a != 0 {
			t.Errorf("Stats().Active = %d after the failed dial, want 0", a)
		}
	})
}

// A dial that gets no answer ends with a timeout. The listener's accept
// queue is full and never drained, so Linux drops further SYNs (per
// listen(2), the backlog) and the connect stays in SYN_SENT.
func TestDialTimeout(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := fullBacklog(t)
		srv := newServer(t, b, engine.Config{})
		d := newDialClient([]byte("x"))
		start := time.Now()
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr), d, engine.DialOptions{Timeout: 300 * time.Millisecond}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		err := receive(t, d.done, "OnClose of the timed-out dial")
		if sockit.KindOf(err) != sockit.KindTimeout || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose error = %v (kind %v), want a timeout", err, sockit.KindOf(err))
		}
		if el := time.Since(start); el < 300*time.Millisecond {
			t.Errorf("timed out after %v, before the 300ms asked for", el)
		}
	})
}

// Datagram endpoints have nothing to dial; a shut-down server dials no more.
func TestDialRefusesBadUse(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		if err := srv.Dial(endpoint.MustParse("udp://127.0.0.1:9"), newDialClient(nil), engine.DialOptions{Timeout: time.Second}); err == nil {
			t.Error("Dial of a udp endpoint succeeded")
		}
		srv.Close()
		if err := srv.Dial(endpoint.MustParse("tcp://127.0.0.1:9"), newDialClient(nil), engine.DialOptions{Timeout: time.Second}); !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Dial after Close = %v, want ErrServerClosed", err)
		}
	})
}
