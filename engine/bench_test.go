package engine_test

import (
	"strconv"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// BenchmarkEcho measures round trips of service.Echo over one loopback TCP
// connection: the client writes a message and reads it back in full. The
// allocations reported are the client's and the server's together.
func BenchmarkEcho(b *testing.B) {
	for _, be := range testkit.Backends() {
		b.Run(string(be), func(b *testing.B) {
			for _, size := range []int{64, 1024, 16384} {
				b.Run(strconv.Itoa(size), func(b *testing.B) {
					srv := newServer(b, be, engine.Config{})
					c := dial(b, listen(b, srv, "tcp4", "127.0.0.1:0", service.Echo{}))
					testkit.RoundTrips(b, c, noise[:size])
				})
			}
		})
	}
}
