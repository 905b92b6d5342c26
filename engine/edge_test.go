package engine_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/enginetest"
	"github.com/sockit/sockit/service"
)

// collector is a Handler that keeps everything it reads, notes the peer's
// FIN, and reports the OnClose error.
type collector struct {
	got      chan []byte
	finSeen  chan struct{}
	closeErr chan error
	buf      []byte
}

func newCollector() *collector {
	return &collector{got: make(chan []byte, 1), finSeen: make(chan struct{}, 1), closeErr: make(chan error, 1)}
}

func (h *collector) OnOpen(engine.Conn) {}
func (h *collector) OnData(_ engine.Conn, in []byte) int {
	h.buf = append(h.buf, in...)
	return len(in)
}
func (h *collector) OnPeerClose(c engine.Conn) {
	h.finSeen <- struct{}{}
	h.got <- h.buf
	c.Close()
}
func (h *collector) OnClose(_ engine.Conn, err error) { h.closeErr <- err }

// A Unix peer that writes and then close(2)s (not shutdown) still delivers
// every byte, then EOF, and the close is orderly. (On Linux the reader sees
// EPOLLHUP at once, with data still queued.)
func TestUnixPeerCloseDeliversAll(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		h := newCollector()
		addr := listen(t, srv, "unix", sockPath(t, "c"), h)
		c, err := net.Dial("unix", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		want := pattern(1<<20, 9)
		c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := receive(t, h.got, "the data and the peer's FIN")
		if !bytes.Equal(got, want) {
			t.Errorf("server read %d bytes of %d before EOF", len(got), len(want))
		}
		if err := receive(t, h.closeErr, "OnClose"); err != nil {
			t.Errorf("OnClose(%v), want nil after an orderly close", err)
		}
	})
}

// AsyncWrite beyond MaxPending is refused with ErrOutputFull and the
// connection stays usable.
func TestAsyncWriteOutputFull(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const maxPending = 256 << 10
		srv := newServer(t, b, engine.Config{HighWatermark: 64 << 10, MaxPending: maxPending, SendBuf: 32 << 10})
		conns := make(chan engine.Conn, 1)
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", funcs{open: func(c engine.Conn) { conns <- c }})
		c := dial(t, addr)
		c.(*net.TCPConn).SetReadBuffer(32 << 10)
		sc := receive(t, conns, "server conn")
		chunk := make([]byte, 32<<10)
		var full bool
		for i := 0; i < 1000 && !full; i++ { // the client reads nothing: output must fill up
			err := sc.AsyncWrite(chunk)
			switch {
			case errors.Is(err, engine.ErrOutputFull):
				full = true
			case err != nil:
				t.Fatalf("AsyncWrite %d: %v", i, err)
			}
		}
		if !full {
			t.Fatalf("1000 AsyncWrites of 32 KiB never met ErrOutputFull (MaxPending %d)", maxPending)
		}
		// Still open: what was accepted arrives, then more goes through.
		if err := sc.AsyncWrite([]byte("end")); err != nil && !errors.Is(err, engine.ErrOutputFull) {
			t.Fatalf("AsyncWrite after ErrOutputFull: %v", err)
		}
		sc.CloseWrite()
		got, err := readAll(c, 64<<20)
		if err != nil {
			t.Fatalf("reading what was accepted: %v after %d bytes", err, len(got))
		}
		if len(got) < maxPending/2 {
			t.Errorf("read %d bytes, want at least the %d that fit", len(got), maxPending/2)
		}
	})
}

// WriteTo on a datagram socket after Shutdown fails with ErrClosed.
func TestPacketWriteAfterShutdown(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
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
		c.SetDeadline(time.Now().Add(ioTimeout))
		c.Write([]byte("x"))
		pc := receive(t, pcs, "the datagram socket")
		srv.Close()
		if _, err := pc.WriteTo([]byte("late"), c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close = %v, want ErrClosed", err)
		}
	})
}

type packetFunc func(pc engine.PacketConn, p []byte, from net.Addr)

func (f packetFunc) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) { f(pc, p, from) }
