package service_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// testTimeout bounds every wait, so that a bug fails a test instead of
// hanging the binary.
const testTimeout = 10 * time.Second

// serveTCP starts an engine server running h on a loopback TCP port and
// returns it with the address it listens on. It is closed when the test
// ends.
func serveTCP(t *testing.T, h engine.Handler) (*engine.Server, string) {
	t.Helper()
	srv := newServer(t)
	addr, err := srv.Listen(endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return srv, addr.String()
}

// serveUDP is serveTCP for a PacketHandler on a loopback UDP port.
func serveUDP(t *testing.T, h engine.PacketHandler) (*engine.Server, string) {
	t.Helper()
	srv := newServer(t)
	addr, err := srv.ListenPacket(endpoint.Endpoint{Scheme: "udp4", Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	return srv, addr.String()
}

func newServer(t *testing.T) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	return srv
}

// dialTCP connects to addr with a deadline of testTimeout on all I/O.
func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn)
}

// dialUDP is dialTCP for a connected UDP socket.
func dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.DialTimeout("udp4", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.UDPConn)
}

// roundTrip sends one datagram on c and returns the reply.
func roundTrip(t *testing.T, c *net.UDPConn, p []byte) []byte {
	t.Helper()
	if _, err := c.Write(p); err != nil {
		t.Fatalf("write datagram: %v", err)
	}
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return buf[:n]
}

// wait receives from ch, failing the test after testTimeout.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("%s did not happen within %v", what, testTimeout)
		var zero T
		return zero
	}
}

// isTimeout reports whether err is a deadline that expired.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
