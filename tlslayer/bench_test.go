package tlslayer_test

import (
	"crypto/tls"
	"net"
	"strconv"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/tlslayer"
)

// BenchmarkEchoTLS measures round trips of service.Echo under the TLS layer
// on the epoll backend: an in-process crypto/tls client writes a message
// and reads it back in full. Compare with BenchmarkEchoPlain for the cost
// of TLS per message. Allocations are the client's and the server's
// together.
func BenchmarkEchoTLS(b *testing.B) {
	benchEcho(b, func(b *testing.B, a string) net.Conn {
		return dialTLS(b, a, testkit.ClientTLS())
	}, tlslayer.Server(service.Echo{}, testkit.ServerTLS(), tlslayer.Options{}))
}

// BenchmarkEchoPlain is BenchmarkEchoTLS without TLS.
func BenchmarkEchoPlain(b *testing.B) {
	benchEcho(b, func(b *testing.B, a string) net.Conn { return dialRaw(b, a) }, service.Echo{})
}

func benchEcho(b *testing.B, dial func(*testing.B, string) net.Conn, h engine.Handler) {
	for _, size := range []int{64, 16 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			srv, err := engine.NewServer(&engine.Config{Backend: engine.BackendEpoll})
			if err != nil {
				b.Skipf("the epoll backend is not available: %v", err)
			}
			b.Cleanup(func() { srv.Close() })
			c := dial(b, serve(b, srv, h))
			if tc, ok := c.(*tls.Conn); ok {
				if err := tc.Handshake(); err != nil {
					b.Fatal(err)
				}
			}
			testkit.RoundTrips(b, c, testkit.Pattern(size, 0))
		})
	}
}
