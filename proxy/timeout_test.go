package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tlslayer"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// listen serves h on a loopback port of a new server on backend b, closed
// when the test ends.
func listen(t *testing.T, b engine.Backend, h engine.Handler) string {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Backend: b, Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	a, err := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), h)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn)
}

// Connections that send half a header and then nothing are reset once
// HeaderTimeout has passed, and counted as timed out; they never reach
// the inner handler.
func TestHeaderTimeout(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const timeout, conns = 200 * time.Millisecond, 20
		var counters Counters
		s := seen{peers: make(chan net.Addr, conns), data: make(chan []byte, conns)}
		addr := listen(t, b, Accept(s, Options{Counters: &counters, HeaderTimeout: timeout}))
		h, _ := Header(2, src, dst)
		start := time.Now()
		var cs []*net.TCPConn
		for i := range conns {
			c := dial(t, addr)
			half := []byte("PROXY TCP4 192.0.2.7 127.0.0.1 ")
			if i%2 == 1 {
				half = h[:len(h)-3]
			}
			if _, err := c.Write(half); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		for i, c := range cs {
			n, err := io.Copy(io.Discard, c)
			if n != 0 || err == nil {
				t.Errorf("connection %d: read %d bytes, %v; want a reset", i, n, err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection %d still open after %v, HeaderTimeout %v", i, testTimeout, timeout)
			}
		}
		if waited := time.Since(start); waited < timeout {
			t.Errorf("connections closed after %v, before HeaderTimeout %v", waited, timeout)
		}
		if st := counters.Stats(); st.TimedOut != conns || st.Rejected != 0 || st.Headers != 0 {
			t.Errorf("stats %+v, want %d timed out and nothing else", st, conns)
		}
		select {
		case p := <-s.peers:
			t.Errorf("the inner handler opened a connection from %v", p)
		default:
		}
	})
}

// A header that arrives in time cancels the bound: the connection then
// lives as long as the inner handler wants.
func TestHeaderInTimeKeepsConnection(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const timeout = 100 * time.Millisecond
		var counters Counters
		s := seen{peers: make(chan net.Addr, 1), data: make(chan []byte, 4)}
		addr := listen(t, b, Accept(s, Options{Counters: &counters, HeaderTimeout: timeout}))
		c := dial(t, addr)
		h, _ := Header(1, src, dst)
		c.Write(h)
		<-s.peers
		// A connection opened after it, with no header, is reset when its
		// own bound runs out: by then the first one's has too.
		late := dial(t, addr)
		_, err := io.Copy(io.Discard, late)
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a connection without a header: %v; want a reset", err)
		}
		c.Write([]byte("late"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "late" {
			t.Fatalf("past HeaderTimeout: echo %q, %v", buf, err)
		}
		if st := counters.Stats(); st.TimedOut != 1 || st.Headers != 1 {
			t.Errorf("stats %+v, want 1 header and 1 timeout (the second connection)", st)
		}
	})
}

// ticker asks for a timer in OnOpen and a Wake from another goroutine in
// its first OnTimer, writing what fired; then it half-closes. It is an
// engine.Drainer that writes only in its first OnDrain.
type ticker struct{}

type tickState struct {
	ticks   int
	drained bool
}

func (ticker) OnOpen(c engine.Conn) {
	c.SetContext(&tickState{})
	c.SetTimer(time.Now().Add(10 * time.Millisecond))
}
func (ticker) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (ticker) OnPeerClose(engine.Conn)             {}
func (ticker) OnClose(engine.Conn, error)          {}

func (ticker) OnTimer(c engine.Conn) {
	st := c.Context().(*tickState)
	st.ticks++
	switch st.ticks {
	case 1:
		c.Write([]byte("timer "))
		go c.Wake()
	case 2:
		c.Write([]byte("wake"))
		c.CloseWrite()
	}
}

func (ticker) OnDrain(c engine.Conn) {
	if st := c.Context().(*tickState); !st.drained {
		st.drained = true
		c.Write([]byte("drain "))
	}
}

// Once the header is read, the inner handler's timers, Wake and OnDrain
// reach it as on a bare connection.
func TestAcceptPassesTimersWakesAndDrains(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := listen(t, b, Accept(ticker{}, Options{HeaderTimeout: time.Minute}))
		c := dial(t, addr)
		h, _ := Header(2, src, dst)
		c.Write(h)
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "drain timer wake" {
			t.Errorf("read %q, %v; want %q, then EOF", got, err, "drain timer wake")
		}
	})
}

// TLS runs under the PROXY header, which comes first on the connection as
// a load balancer sends it (HAProxy's send-proxy): the handshake needs the
// timer (its bound) and Wake (its goroutine handing back to the loop).
func TestTLSUnderHeader(t *testing.T) {
	cert, err := certs.SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		s := seen{peers: make(chan net.Addr, 1), data: make(chan []byte, 4)}
		var counters Counters
		addr := listen(t, b, Accept(tlslayer.Server(s, cfg, tlslayer.Options{}), Options{Counters: &counters}))
		c := dial(t, addr)
		h, _ := Header(1, src, dst)
		c.Write(h)
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake after the PROXY header: %v", err)
		}
		tc.Write([]byte("over tls"))
		buf := make([]byte, 8)
		if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "over tls" {
			t.Fatalf("echo over TLS: %q, %v", buf, err)
		}
		if p := <-s.peers; p.String() != src.String() {
			t.Errorf("the handler under TLS saw %v, want the header's %v", p, src)
		}
		tc.Close()
		if st := counters.Stats(); st.Headers != 1 {
			t.Errorf("stats %+v, want 1 header", st)
		}
	})
}
