package engine_test

import (
	"io"
	"strconv"
	"testing"
	"time"

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
					msg, got := noise[:size], make([]byte, size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						if i%4096 == 0 { // keep any -benchtime inside the deadline
							if err := c.SetDeadline(time.Now().Add(testkit.Timeout)); err != nil {
								b.Fatal(err)
							}
						}
						if _, err := c.Write(msg); err != nil {
							b.Fatalf("write: %v", err)
						}
						if _, err := io.ReadFull(c, got); err != nil {
							b.Fatalf("read: %v", err)
						}
					}
				})
			}
		})
	}
}
