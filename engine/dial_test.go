package engine_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// An outgoing connection made by Server.Dial is served by its handler like
// an accepted one: it opens, writes, half-closes, reads the echo, closes.
func TestDialEcho(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network, func(t *testing.T) {
				srv := newServer(t, b, engine.Config{})
				at := "127.0.0.1:0"
				if network == "unix" {
					at = testkit.SockPath(t, "d")
				}
				addr := listen(t, srv, network, at, service.Echo{})
				d := testkit.NewSender(pattern(1<<20, 3))
				if err := srv.Dial(endpoint.Endpoint{Scheme: network, Addr: addr.String()}, d, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if err := testkit.Receive(t, d.Done(), "OnClose of the dialed connection"); err != nil {
					t.Errorf("OnClose: %v, want nil", err)
				}
				if got := d.Reply(); !bytes.Equal(got, d.Msg) {
					t.Errorf("echo of %d bytes came back as %d bytes", len(d.Msg), len(got))
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
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := testkit.Refused(t)
		srv := newServer(t, b, engine.Config{})
		d := testkit.NewSender([]byte("x"))
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr), d, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		err := testkit.Receive(t, d.Done(), "OnClose of the refused dial")
		var se *sockit.Error
		if !errors.As(err, &se) || se.Op != "connect" || sockit.KindOf(err) != sockit.KindRefused {
			t.Errorf("OnClose error = %v (%T), want a connect *sockit.Error of kind refused", err, err)
		}
		if d.Opened() {
			t.Error("OnOpen was called for a dial that never connected")
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
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := testkit.FullBacklog(t)
		srv := newServer(t, b, engine.Config{})
		d := testkit.NewSender([]byte("x"))
		start := time.Now()
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr), d, engine.DialOptions{Timeout: 300 * time.Millisecond}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		err := testkit.Receive(t, d.Done(), "OnClose of the timed-out dial")
		if sockit.KindOf(err) != sockit.KindTimeout || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose error = %v (kind %v), want a timeout", err, sockit.KindOf(err))
		}
		if el := time.Since(start); el < 300*time.Millisecond {
			t.Errorf("timed out after %v, before the 300ms asked for", el)
		}
	})
}

// Datagram endpoints have nothing to dial; a shut-down server dials no more.
// (Had either dial gone out, it would have reached addresses that take
// datagrams and refuse connections for the whole test.)
func TestDialRefusesBadUse(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		if err := srv.Dial(ep("udp", testkit.QuietUDP(t)), testkit.NewSender(nil), engine.DialOptions{Timeout: time.Second}); err == nil {
			t.Error("Dial of a udp endpoint succeeded")
		}
		srv.Close()
		if err := srv.Dial(ep("tcp", testkit.Refused(t)), testkit.NewSender(nil), engine.DialOptions{Timeout: time.Second}); !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Dial after Close = %v, want ErrServerClosed", err)
		}
	})
}

// Stats.Accepted counts accepted connections, not those Dial made, on both
// backends.
func TestStatsAcceptedNotDialed(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
		d := testkit.NewSender([]byte("hello"))
		if err := srv.Dial(ep("tcp4", addr.String()), d, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Receive(t, d.Done(), "OnClose of the dialed connection"); err != nil {
			t.Fatalf("dialed connection: %v", err)
		}
		waitIdle(t, srv)
		if got := srv.Stats().Accepted; got != 1 {
			t.Errorf("Stats.Accepted = %d after one accepted and one dialed connection, want 1", got)
		}
	})
}

// Dial with a Source connects from that address.
func TestDialSource(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address only on Linux")
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		peers := make(chan net.Addr, 1)
		addr := listen(t, srv, "tcp", "127.0.0.1:0", peerRecorder{peers})
		d := testkit.NewSender([]byte("from 127.0.0.2"))
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr.String()), d, engine.DialOptions{Timeout: 5 * time.Second, Source: netip.MustParseAddr("127.0.0.2")}); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Receive(t, d.Done(), "OnClose of the dialed connection"); err != nil {
			t.Fatalf("OnClose: %v", err)
		}
		peer := testkit.Receive(t, peers, "the server's view of the peer")
		if ap, err := netip.ParseAddrPort(peer.String()); err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.2") {
			t.Errorf("server saw the peer as %v, want 127.0.0.2:*", peer)
		}
		if string(d.Reply()) != "from 127.0.0.2" {
			t.Errorf("echo = %q", d.Reply())
		}
	})
}

// Source is for TCP only.
func TestDialSourceRefusedForUnix(t *testing.T) {
	t.Parallel()
	srv := newServer(t, engine.BackendStd, engine.Config{})
	err := srv.Dial(ep("unix", testkit.SockPath(t, "x.sock")), testkit.NewSender(nil), engine.DialOptions{Source: netip.MustParseAddr("127.0.0.2")})
	if err == nil {
		t.Fatal("Dial unix with a source address succeeded")
	}
}

type peerRecorder struct{ peers chan net.Addr }

func (p peerRecorder) OnOpen(c engine.Conn) {
	select {
	case p.peers <- c.RemoteAddr():
	default:
	}
}

func (p peerRecorder) OnData(c engine.Conn, in []byte) int { c.Write(in); return len(in) }

func (p peerRecorder) OnPeerClose(c engine.Conn) { c.CloseWrite() }

func (p peerRecorder) OnClose(engine.Conn, error) {}
