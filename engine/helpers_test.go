package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// The helpers of this package's tests; those other packages' tests need
// too are in internal/testkit.

const (
	// bufSize is the read and write size of the streaming tests and the
	// server's read buffer: large, so that 64 MiB passes quickly under -race.
	bufSize = 256 << 10
)

// newServer makes a server on backend b with cfg and closes it when the
// test ends.
func newServer(t testing.TB, b engine.Backend, cfg engine.Config) *engine.Server {
	t.Helper()
	cfg.Backend = b
	return testkit.NewServer(t, &cfg)
}

func ep(network, addr string) endpoint.Endpoint {
	return endpoint.Endpoint{Scheme: network, Addr: addr}
}

// listen serves h on network at addr and returns the address bound.
func listen(t testing.TB, srv *engine.Server, network, addr string, h engine.Handler) net.Addr {
	t.Helper()
	a, err := srv.Listen(ep(network, addr), h)
	if err != nil {
		t.Fatalf("Listen(%s://%s): %v", network, addr, err)
	}
	return a
}

// dialConn connects to a with testkit.Timeout as the connection's deadline.
func dialConn(a net.Addr) (net.Conn, error) {
	c, err := net.DialTimeout(a.Network(), a.String(), testkit.Timeout)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(testkit.Timeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dial is testkit.Dial to a.
func dial(t testing.TB, a net.Addr) net.Conn {
	t.Helper()
	return testkit.Dial(t, a.Network(), a.String())
}

func closeWrite(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("%T cannot half-close", c)
	}
	return cw.CloseWrite()
}

func truncate(p []byte) []byte {
	if len(p) > 40 {
		return p[:40]
	}
	return p
}

// readEOF reads until EOF and fails the test unless nothing came before it.
func readEOF(t testing.TB, c net.Conn) {
	t.Helper()
	var buf [64]byte
	n, err := c.Read(buf[:])
	if n != 0 || err != io.EOF {
		t.Fatalf("read after the last byte = %d, %v; want 0, EOF", n, err)
	}
}

// waitIdle waits until the server has no open connection.
func waitIdle(t testing.TB, srv *engine.Server) {
	t.Helper()
	testkit.Eventually(t, "no active connections", func() bool { return srv.Stats().Active == 0 })
}

// noise is random bytes that streams are cut from, so that a byte lost,
// repeated or moved changes the stream's SHA-256.
var noise = func() []byte {
	b := make([]byte, 2*bufSize)
	rand.NewChaCha8([32]byte{'s', 'o', 'c', 'k', 'i', 't'}).Read(b)
	return b
}()

// pattern returns n bytes cut from noise, different for each seed.
func pattern(n, seed int) []byte {
	out := make([]byte, 0, n)
	for i := seed; len(out) < n; i++ {
		start := i * 4099 % (len(noise) - bufSize)
		out = append(out, noise[start:start+min(bufSize, n-len(out))]...)
	}
	return out
}

// closeWatch wraps a Handler and reports each OnClose error on errs.
type closeWatch struct {
	engine.Handler
	errs chan error
}

func watchClose(h engine.Handler) closeWatch {
	return closeWatch{Handler: h, errs: make(chan error, 16)}
}

func (w closeWatch) OnClose(c engine.Conn, err error) {
	w.Handler.OnClose(c, err)
	w.errs <- err
}

// next returns the error of the next OnClose.
func (w closeWatch) next(t *testing.T) error {
	t.Helper()
	return testkit.Receive(t, w.errs, "OnClose")
}

func indexEvent(events []sockit.Event, from int, match func(sockit.Event) bool) int {
	for i := from; i < len(events); i++ {
		if match(events[i]) {
			return i
		}
	}
	return -1
}

func narrate(events []sockit.Event) string {
	var b bytes.Buffer
	for i, e := range events {
		fmt.Fprintf(&b, "\t%d: fd %d %v\n", i, e.FD, e)
	}
	return b.String()
}

// listenPacket serves h on the datagram network at addr and returns the
// address bound.
func listenPacket(t testing.TB, srv *engine.Server, network, addr string, h engine.PacketHandler) net.Addr {
	t.Helper()
	a, err := srv.ListenPacket(ep(network, addr), h)
	if err != nil {
		t.Fatalf("ListenPacket(%s://%s): %v", network, addr, err)
	}
	return a
}
