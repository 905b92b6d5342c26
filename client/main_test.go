package client_test

import (
	"net"
	"os"
	"testing"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// network is one kind of endpoint the tests run against.
type network struct{ scheme string }

// addr is a fresh address to listen on; it skips the test where the
// machine lacks the kind.
func (nw network) addr(t *testing.T) string { return testkit.Loopback(t, nw.scheme) }

var (
	tcp4       = network{scheme: "tcp4"}
	tcp6       = network{scheme: "tcp6"}
	unixStream = network{scheme: "unix"}
	unixPacket = network{scheme: "unixpacket"}
	udp4       = network{scheme: "udp"}
	unixgram   = network{scheme: "unixgram"}
)

// serveEcho serves service.Echo on a fresh address of nw and returns the
// server and the endpoint it listens on.
func serveEcho(t *testing.T, nw network) (*engine.Server, endpoint.Endpoint) {
	t.Helper()
	return testkit.ServeEngine(t, nil, nw.scheme, service.Echo{})
}

// dial connects to ep and closes the connection when the test ends.
func dial(t *testing.T, ep endpoint.Endpoint, o client.Options) *client.Conn {
	t.Helper()
	c, err := client.Dial(testkit.Context(t), ep, o)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", ep, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpServer runs handle on each connection to a loopback TCP server (see
// testkit.Serve) and returns its endpoint.
func tcpServer(t *testing.T, handle func(net.Conn)) endpoint.Endpoint {
	t.Helper()
	return endpoint.Endpoint{Scheme: "tcp4", Addr: testkit.Serve(t, handle).String()}
}

// silentTCP is a TCP server that holds each connection open and never
// writes.
func silentTCP(t *testing.T) endpoint.Endpoint {
	t.Helper()
	return tcpServer(t, testkit.Hold)
}

// silentUDP is a UDP socket that never answers.
func silentUDP(t *testing.T) endpoint.Endpoint {
	t.Helper()
	return endpoint.Endpoint{Scheme: "udp", Addr: testkit.QuietUDP(t)}
}

// forNetworks runs f as a parallel subtest per network, named after its
// scheme; t runs in parallel too.
func forNetworks(t *testing.T, nws []network, f func(t *testing.T, nw network)) {
	t.Parallel()
	for _, nw := range nws {
		t.Run(nw.scheme, func(t *testing.T) {
			t.Parallel()
			f(t, nw)
		})
	}
}
