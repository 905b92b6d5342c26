package layer_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// schemes are the endpoints' kinds the tests run over: one without layers
// and each layered one.
var schemes = []string{"tcp", "tls", "ws", "wss"}

// endpointFor is a loopback endpoint of scheme on port 0.
func endpointFor(scheme string) endpoint.Endpoint {
	ep := endpoint.Endpoint{Scheme: scheme, Addr: "127.0.0.1:0"}
	if ep.IsWebSocket() {
		ep.Path = "/stream"
	}
	return ep
}

func newEngine(t *testing.T, b engine.Backend) *engine.Server {
	t.Helper()
	return testkit.NewServer(t, &engine.Config{Backend: b, Loops: 2})
}

// blockingServer accepts on a loopback TCP port and runs serve, with the
// Server's Upgrade done, on each connection; it stops when the test ends.
func blockingServer(t *testing.T, ls *layer.Server, ep endpoint.Endpoint, serve func(c net.Conn)) endpoint.Endpoint {
	t.Helper()
	addr := testkit.Serve(t, func(nc net.Conn) {
		c, err := ls.Upgrade(context.Background(), nc, ep)
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	})
	return ep.WithAddr(addr)
}
