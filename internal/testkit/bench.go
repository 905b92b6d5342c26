package testkit

import (
	"io"
	"net"
	"testing"
	"time"
)

// RoundTrips is the loop of an echo benchmark: once per b.Loop it writes
// msg to c and reads as many bytes back. It reports bytes and allocations,
// and renews c's deadline every 4096 round trips, so that any -benchtime
// fits in it.
func RoundTrips(b *testing.B, c net.Conn, msg []byte) {
	b.Helper()
	got := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%4096 == 0 {
			if err := c.SetDeadline(time.Now().Add(Timeout)); err != nil {
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
}
