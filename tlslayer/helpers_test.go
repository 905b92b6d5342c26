package tlslayer_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/tlslayer"
)

func newServer(t testing.TB, b engine.Backend) *engine.Server {
	t.Helper()
	return testkit.NewServer(t, &engine.Config{Backend: b})
}

// serve listens on 127.0.0.1:0 with h and returns the address.
func serve(t testing.TB, srv *engine.Server, h engine.Handler) string {
	t.Helper()
	return testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, h).Addr
}

// serveEcho serves service.Echo under the TLS layer with testOpts(ctr) on
// backend b, and returns the server and the address.
func serveEcho(t testing.TB, b engine.Backend, ctr *tlslayer.Counters) (*engine.Server, string) {
	t.Helper()
	srv := newServer(t, b)
	return srv, serve(t, srv, tlslayer.Server(service.Echo{}, testkit.ServerTLS(), testOpts(ctr)))
}

// dialTLS connects with crypto/tls, testkit.Timeout as the deadline.
func dialTLS(t testing.TB, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: testkit.Timeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("tls.Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	return c
}

// dialRaw connects with plain TCP, testkit.Timeout as the deadline.
func dialRaw(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	return testkit.Dial(t, "tcp", addr).(*net.TCPConn)
}

// testOpts are the layer's options for tests: counters, and testkit.Timeout for
// the handshake, which many parallel handshakes under -race can take.
func testOpts(ctr *tlslayer.Counters) tlslayer.Options {
	return tlslayer.Options{Counters: ctr, HandshakeTimeout: testkit.Timeout}
}

// tlsSender is a testkit.Sender that also reports the TLS state of its
// connection at open.
type tlsSender struct {
	*testkit.Sender
	state chan tls.ConnectionState
}

func newTLSSender(msg []byte) tlsSender {
	return tlsSender{Sender: testkit.NewSender(msg), state: make(chan tls.ConnectionState, 1)}
}

func (d tlsSender) OnOpen(c engine.Conn) {
	if cs, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		d.state <- cs.ConnectionState()
	}
	d.Sender.OnOpen(c)
}
