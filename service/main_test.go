package service_test

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// serveTCP starts an engine server running h on a loopback TCP port and
// returns it with the address it listens on. It is closed when the test
// ends.
func serveTCP(t *testing.T, h engine.Handler) (*engine.Server, string) {
	t.Helper()
	srv, ep := testkit.ServeEngine(t, nil, "tcp4", h)
	return srv, ep.Addr
}

// serveUDP is serveTCP for a PacketHandler on a loopback UDP port.
func serveUDP(t *testing.T, h engine.PacketHandler) (*engine.Server, string) {
	t.Helper()
	srv, ep := testkit.ServeEngine(t, nil, "udp4", h)
	return srv, ep.Addr
}

// dialTCP connects to addr with a deadline on all I/O (testkit.Dial).
func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	return testkit.Dial(t, "tcp4", addr).(*net.TCPConn)
}

// dialUDP is dialTCP for a connected UDP socket.
func dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	return testkit.Dial(t, "udp4", addr).(*net.UDPConn)
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

// isTimeout reports whether err is a deadline that expired.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
