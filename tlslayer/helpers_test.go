package tlslayer_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/tlslayer"
)

// ioTimeout bounds every blocking step of a test: each connection gets it
// as a deadline, and every wait for a condition gives up after it.
const ioTimeout = 30 * time.Second

// testCert is the server certificate of the tests, and otherCert one no
// client trusts.
var (
	testCert  = sync.OnceValue(func() tls.Certificate { return mustSelfSigned() })
	otherCert = sync.OnceValue(func() tls.Certificate { return mustSelfSigned() })
)

func mustSelfSigned() tls.Certificate {
	c, err := certs.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	return c
}

func serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert()}}
}

// clientConfig trusts cert only.
func clientConfig(cert tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{RootCAs: pool}
}

func newServer(t testing.TB, b engine.Backend) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Backend: b})
	if err != nil {
		t.Fatalf("NewServer(backend %s): %v", b, err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil && !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("server Close: %v", err)
		}
	})
	return srv
}

// serve listens on 127.0.0.1:0 with h and returns the address.
func serve(t testing.TB, srv *engine.Server, h engine.Handler) net.Addr {
	t.Helper()
	a, err := srv.Listen(endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return a
}

// dialTLS connects with crypto/tls, ioTimeout as the deadline.
func dialTLS(t testing.TB, a net.Addr, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout}
	c, err := tls.DialWithDialer(d, "tcp", a.String(), cfg)
	if err != nil {
		t.Fatalf("tls.Dial %s: %v", a, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

// dialRaw connects with plain TCP, ioTimeout as the deadline.
func dialRaw(t testing.TB, a net.Addr) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", a.String(), ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", a, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn)
}

// readAll reads c until EOF, at most limit bytes.
func readAll(c io.Reader, limit int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for len(out) <= limit {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, errors.New("more than the limit")
}

// receive returns the next value on ch, failing the test after ioTimeout.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("no %s within %v", what, ioTimeout)
		var zero T
		return zero
	}
}

// eventually polls cond until it holds, failing after ioTimeout. It is for
// counters that another goroutine updates with no event to wait on.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for backoff := time.Millisecond; !cond(); backoff = min(2*backoff, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, ioTimeout)
		}
		time.Sleep(backoff) // polling a condition with a deadline, not a fixed wait
	}
}

// pattern is n bytes of a pattern that shifts with seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i/251) + seed
	}
	return p
}

// testOpts are the layer's options for tests: counters, and ioTimeout for
// the handshake, which many parallel handshakes under -race can take.
func testOpts(ctr *tlslayer.Counters) tlslayer.Options {
	return tlslayer.Options{Counters: ctr, HandshakeTimeout: ioTimeout}
}
