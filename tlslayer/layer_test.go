package tlslayer_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/tlslayer"
)

// Small messages go around one at a time.
func TestEchoSmall(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var ctr tlslayer.Counters
		_, a := serveEcho(t, b, &ctr)
		c := dialTLS(t, a, testkit.ClientTLS())
		got := make([]byte, 64)
		for i := range 100 {
			msg := fmt.Appendf(nil, "message %d", i)
			if _, err := c.Write(msg); err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := io.ReadFull(c, got[:len(msg)]); err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got[:len(msg)], msg) {
				t.Fatalf("echo = %q, want %q", got[:len(msg)], msg)
			}
		}
		if st := ctr.Stats(); st.Handshakes != 1 || st.Failed != 0 {
			t.Errorf("Stats = %+v, want 1 handshake, none failed", st)
		}
	})
}

// 16 MiB go through while they come back, and the SHA-256 of what came
// back matches. The client then half-closes (close_notify), and the echo
// answers with close_notify and FIN after the last byte.
func TestEchoLarge(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, a := serveEcho(t, b, nil)
		c := dialTLS(t, a, testkit.ClientTLS())
		const size = 16 << 20
		msg := testkit.Pattern(size, 1)
		werr := make(chan error, 1)
		go func() {
			for p := msg; len(p) > 0; {
				n, err := c.Write(p[:min(len(p), 100_000)])
				if err != nil {
					werr <- err
					return
				}
				p = p[n:]
			}
			werr <- c.CloseWrite()
		}()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", n, err)
		}
		if err := testkit.Receive(t, werr, "end of the writer"); err != nil {
			t.Fatalf("write: %v", err)
		}
		if want := sha256.Sum256(msg); n != size || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("echo: %d bytes with SHA-256 %x, want %d bytes with %x", n, h.Sum(nil), size, want)
		}
	})
}

// A client that half-closes after its data gets all of it back, then the
// server's close_notify and FIN: the four-way teardown, over TLS.
func TestHalfClose(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, a := serveEcho(t, b, nil)
		c := dialTLS(t, a, testkit.ClientTLS())
		msg := []byte("all of this comes back before the FIN")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil { // close_notify
			t.Fatal(err)
		}
		tcp := c.NetConn().(*net.TCPConn)
		if err := tcp.CloseWrite(); err != nil { // FIN
			t.Fatal(err)
		}
		got, err := testkit.ReadAll(c, 1<<20)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read %q, %v; want %q then EOF (close_notify)", got, err, msg)
		}
		// After close_notify the server's FIN: the raw connection ends.
		if n, err := tcp.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("raw read after close_notify = %d, %v; want 0, EOF (FIN)", n, err)
		}
	})
}

// The client side on the engine: a dialed connection runs tlslayer.Client
// against tlslayer.Server, both in one engine.
func TestClientOnEngine(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var sctr, cctr tlslayer.Counters
		srv, a := serveEcho(t, b, &sctr)
		d := newTLSSender(testkit.Pattern(1<<20, 3))
		h := tlslayer.Client(d, testkit.ClientTLS(), testOpts(&cctr))
		if err := srv.Dial(endpoint.MustParse("tcp://"+a), h, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if err := testkit.Receive(t, d.Done(), "OnClose of the dialed connection"); err != nil {
			t.Errorf("OnClose: %v, want nil", err)
		}
		if got := d.Reply(); !bytes.Equal(got, d.Msg) {
			t.Errorf("echo of %d bytes came back as %d bytes", len(d.Msg), len(got))
		}
		cs := testkit.Receive(t, d.state, "ConnectionState")
		if !cs.HandshakeComplete || cs.Version != tls.VersionTLS13 {
			t.Errorf("ConnectionState: complete %v, version %x; want complete TLS 1.3", cs.HandshakeComplete, cs.Version)
		}
		if st := cctr.Stats(); st.Handshakes != 1 || st.Failed != 0 {
			t.Errorf("client Stats = %+v, want 1 handshake", st)
		}
	})
}

// A dial that never connects reaches the inner handler's OnClose with the
// engine's connect error, as without TLS.
func TestClientDialRefused(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := testkit.Refused(t)
		srv := newServer(t, b)
		d := testkit.NewSender([]byte("x"))
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr), tlslayer.Client(d, testkit.ClientTLS(), testOpts(nil)), engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatal(err)
		}
		err := testkit.Receive(t, d.Done(), "OnClose")
		var he *tlslayer.HandshakeError
		if err == nil || errors.As(err, &he) {
			t.Errorf("OnClose(%v), want the connect error", err)
		}
	})
}

// Bytes that are not TLS end the connection without an alert (crypto/tls
// sends none for them); a malformed ClientHello gets crypto/tls's alert.
// Both are counted, and the next client is served.
func TestGarbage(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var ctr tlslayer.Counters
		_, a := serveEcho(t, b, &ctr)

		c := dialRaw(t, a)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if got, err := testkit.ReadAll(c, 1<<10); err != nil || len(got) != 0 {
			t.Errorf("plain text: the server sent %q, %v; want nothing, then FIN", got, err)
		}
		if st := ctr.Stats(); st.NotTLS != 1 || st.Failed != 1 {
			t.Errorf("Stats = %+v, want 1 failed as not TLS", st)
		}

		// A handshake record whose message is nonsense.
		c = dialRaw(t, a)
		if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef}); err != nil {
			t.Fatal(err)
		}
		got, err := testkit.ReadAll(c, 1<<10)
		if err != nil || len(got) != 7 || got[0] != 0x15 || got[5] != 2 {
			t.Errorf("bad ClientHello: the server sent %x, %v; want one fatal alert record, then FIN", got, err)
		}
		if st := ctr.Stats(); st.Protocol != 1 || st.Failed != 2 {
			t.Errorf("Stats = %+v, want a second failure, a protocol error", st)
		}

		tc := dialTLS(t, a, testkit.ClientTLS())
		if _, err := tc.Write([]byte("ok")); err != nil {
			t.Fatal(err)
		}
		if got := make([]byte, 2); func() error { _, err := io.ReadFull(tc, got); return err }() != nil || string(got) != "ok" {
			t.Errorf("a good client after the garbage got no echo")
		}
		if st := ctr.Stats(); st.Handshakes != 1 {
			t.Errorf("Stats = %+v, want 1 handshake", st)
		}
	})
}

// A client that does not trust the server's certificate fails with a clear
// error, and the server counts the peer's bad-certificate alert.
func TestWrongCA(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var ctr tlslayer.Counters
		srv, a := serveEcho(t, b, &ctr)

		_, err := tls.DialWithDialer(&net.Dialer{Timeout: testkit.Timeout}, "tcp", a, testkit.Trusting(testkit.OtherCert()))
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &cve) {
			t.Fatalf("tls.Dial with the wrong CA = %v, want a CertificateVerificationError", err)
		}
		// The server hears of it from the client's bad_certificate alert,
		// unless the client's close with the server's last flight unread
		// turned into a reset that got there first (Linux drops unread input
		// on a reset, per RFC 1122 section 4.2.2.13's abortive close).
		testkit.Eventually(t, "server counts the failure", func() bool { return ctr.Stats().Failed == 1 })
		if st := ctr.Stats(); st.BadCertificate+st.PeerClosed != 1 {
			t.Errorf("server Stats = %+v, want a bad certificate (or a reset)", st)
		}

		// The engine's client side says the same, in OnClose.
		d := testkit.NewSender([]byte("x"))
		h := tlslayer.Client(d, testkit.Trusting(testkit.OtherCert()), testOpts(nil))
		if err := srv.Dial(endpoint.MustParse("tcp://"+a), h, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatal(err)
		}
		err = testkit.Receive(t, d.Done(), "OnClose of the client")
		var he *tlslayer.HandshakeError
		if !errors.As(err, &he) || he.Reason != tlslayer.ReasonBadCertificate || !errors.As(err, &cve) {
			t.Fatalf("OnClose(%v), want a HandshakeError for a bad certificate", err)
		}
		t.Logf("the client's error: %v", err)
		if d.Opened() {
			t.Error("OnOpen was called after a failed handshake")
		}
		// The layer's client closes gracefully: the alert gets there.
		testkit.Eventually(t, "server counts the second rejection", func() bool { return ctr.Stats().Failed == 2 })
		if st := ctr.Stats(); st.BadCertificate < 1 || st.BadCertificate+st.PeerClosed != 2 {
			t.Errorf("server Stats = %+v, want the layer client's bad_certificate alert counted", st)
		}
	})
}

// A client that connects and says nothing is reset when the handshake
// timeout runs out.
func TestHandshakeTimeout(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var ctr tlslayer.Counters
		const timeout = 200 * time.Millisecond
		srv := newServer(t, b)
		opened := make(chan struct{}, 1)
		inner := testkit.Funcs{Open: func(engine.Conn) { opened <- struct{}{} }}
		a := serve(t, srv, tlslayer.Server(inner, testkit.ServerTLS(), tlslayer.Options{HandshakeTimeout: timeout, Counters: &ctr}))
		start := time.Now()
		var got []byte
		c, err := net.DialTimeout("tcp", a, testkit.Timeout)
		if err == nil { // else a test machine so busy that the reset came before connect(2) returned
			defer c.Close()
			c.SetDeadline(time.Now().Add(testkit.Timeout))
			got, err = testkit.ReadAll(c, 1<<10)
		}
		if el := time.Since(start); !errors.Is(err, syscall.ECONNRESET) || len(got) != 0 || el < timeout {
			t.Errorf("silent client: read %q, %v after %v; want a reset after at least %v", got, err, el, timeout)
		}
		if st := ctr.Stats(); st.Timeout != 1 || st.Failed != 1 {
			t.Errorf("Stats = %+v, want 1 timeout", st)
		}
		select {
		case <-opened:
			t.Error("the inner OnOpen was called")
		default:
		}
	})
}

// Many clients at once, each with its own handshake goroutine for a while.
func TestManyClients(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const clients = 200
		var ctr tlslayer.Counters
		_, a := serveEcho(t, b, &ctr)
		cfg := testkit.ClientTLS()
		errs := make(chan error, clients)
		for i := range clients {
			go func() { errs <- echoOnce(a, cfg, testkit.Pattern(1000+i, uint64(i))) }()
		}
		for range clients {
			if err := testkit.Receive(t, errs, "client result"); err != nil {
				t.Error(err)
			}
		}
		if st := ctr.Stats(); st.Handshakes != clients || st.Failed != 0 {
			t.Errorf("Stats = %+v, want %d handshakes", st, clients)
		}
	})
}

// Chargen, a Drainer, streams over TLS as fast as the client reads.
func TestChargen(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b)
		h := tlslayer.Server(service.Chargen{}, testkit.ServerTLS(), testOpts(nil))
		if _, ok := h.(engine.Drainer); !ok {
			t.Fatal("the layer over a Drainer is not a Drainer")
		}
		if _, ok := tlslayer.Server(service.Echo{}, testkit.ServerTLS(), testOpts(nil)).(engine.Drainer); ok {
			t.Fatal("the layer over a handler that is not a Drainer is one")
		}
		a := serve(t, srv, h)
		c := dialTLS(t, a, testkit.ClientTLS())
		const size = 4 << 20
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read: %v", err)
		}
		if !bytes.Equal(got, service.ChargenPattern(size)) {
			t.Error("the chargen stream differs from the pattern")
		}
	})
}

// AsyncWrite from a goroutine of the inner handler's own is encrypted in
// order on the loop, and its Close comes after the last of it.
func TestAsyncWrite(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const chunks, size = 200, 10_000
		srv := newServer(t, b)
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait)
		inner := testkit.Funcs{Open: func(c engine.Conn) {
			wg.Go(func() {
				for i := range chunks {
					if err := c.AsyncWrite(testkit.Pattern(size, uint64(i))); err != nil {
						t.Errorf("AsyncWrite %d: %v", i, err)
						return
					}
				}
				c.Close()
			})
		}}
		a := serve(t, srv, tlslayer.Server(inner, testkit.ServerTLS(), testOpts(nil)))
		c := dialTLS(t, a, testkit.ClientTLS())
		got, err := testkit.ReadAll(c, 2*chunks*size)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var want []byte
		for i := range chunks {
			want = append(want, testkit.Pattern(size, uint64(i))...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("got %d bytes, want %d in order", len(got), len(want))
		}
	})
}

// The inner handler's SetTimer and Wake reach its OnTimer through the
// layer, which shares the connection's timer with it.
func TestInnerTimer(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b)
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait)
		ticks := 0
		inner := testkit.Funcs{
			Open: func(c engine.Conn) { c.SetTimer(time.Now().Add(20 * time.Millisecond)) },
			Timer: func(c engine.Conn) {
				ticks++
				c.Write(fmt.Appendf(nil, "tick %d\n", ticks))
				if ticks == 1 {
					wg.Go(func() { c.Wake() }) // from another goroutine
				} else {
					c.Close()
				}
			},
		}
		a := serve(t, srv, tlslayer.Server(inner, testkit.ServerTLS(), testOpts(nil)))
		c := dialTLS(t, a, testkit.ClientTLS())
		got, err := testkit.ReadAll(c, 1<<10)
		if want := "tick 1\ntick 2\n"; err != nil || string(got) != want {
			t.Errorf("read %q, %v; want %q then EOF", got, err, want)
		}
	})
}

// The inner handler may leave plaintext unconsumed: it is offered again in
// front of the next, as the engine does.
func TestPartialConsume(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b)
		// Answers each complete line, upper-cased; keeps partial lines.
		inner := testkit.Funcs{Data: func(c engine.Conn, in []byte) int {
			i := bytes.LastIndexByte(in, '\n')
			if i < 0 {
				return 0
			}
			c.Write(bytes.ToUpper(in[:i+1]))
			return i + 1
		}}
		a := serve(t, srv, tlslayer.Server(inner, testkit.ServerTLS(), testOpts(nil)))
		c := dialTLS(t, a, testkit.ClientTLS())
		for _, part := range []string{"hel", "lo\nwor", "ld", "\n"} {
			if _, err := c.Write([]byte(part)); err != nil {
				t.Fatal(err)
			}
		}
		want := "HELLO\nWORLD\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Errorf("read %q, %v; want %q", got, err, want)
		}
	})
}

// The server's OnClose tells the inner handler once, and a reset of the
// peer in the middle of the handshake is counted.
func TestResetDuringHandshake(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var ctr tlslayer.Counters
		_, a := serveEcho(t, b, &ctr)
		c := dialRaw(t, a)
		c.Write([]byte{0x16, 0x03, 0x01}) // the start of a record
		c.SetLinger(0)
		c.Close()
		testkit.Eventually(t, "the failure is counted", func() bool { return ctr.Stats().PeerClosed == 1 })
	})
}

// errors.Is works through a HandshakeError for a timeout.
func TestHandshakeErrorTimeout(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		silent := testkit.Serve(t, testkit.Hold) // accepts and never answers
		srv := newServer(t, b)
		d := testkit.NewSender([]byte("x"))
		h := tlslayer.Client(d, testkit.ClientTLS(), tlslayer.Options{HandshakeTimeout: 100 * time.Millisecond})
		if err := srv.Dial(endpoint.MustParse("tcp://"+silent.String()), h, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatal(err)
		}
		err := testkit.Receive(t, d.Done(), "OnClose")
		var he *tlslayer.HandshakeError
		if !errors.As(err, &he) || !he.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose(%v), want a handshake timeout", err)
		}
	})
}

// echoOnce sends msg over TLS, half-closes, and checks the echo.
func echoOnce(a string, cfg *tls.Config, msg []byte) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: testkit.Timeout}, "tcp", a, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	got, err := testkit.ReadAll(c, 1<<20)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo of %d bytes came back as %d bytes", len(msg), len(got))
	}
	return nil
}
