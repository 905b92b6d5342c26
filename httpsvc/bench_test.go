package httpsvc_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

// fakeConn is an engine.Conn without a socket: what the handler writes is
// counted and dropped.
type fakeConn struct {
	out   int
	value any
}

func (f *fakeConn) Write(p []byte) (int, error) { f.out += len(p); return len(p), nil }
func (f *fakeConn) AsyncWrite(p []byte) error   { f.out += len(p); return nil }
func (f *fakeConn) CloseWrite() error           { return nil }
func (f *fakeConn) Close() error                { return nil }
func (f *fakeConn) Abort() error                { return nil }
func (f *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (f *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (f *fakeConn) Pending() int                { return 0 }
func (f *fakeConn) Hold(int)                    {}
func (f *fakeConn) PauseReading(bool)           {}
func (f *fakeConn) Context() any                { return f.value }
func (f *fakeConn) SetContext(v any)            { f.value = v }
func (f *fakeConn) SetTimer(time.Time)          {}
func (f *fakeConn) Wake() error                 { return nil }

// A keep-alive request costs the handler no allocation: on /plaintext,
// on / (the JSON description), and pipelined.
func TestKeepAliveAllocs(t *testing.T) {
	if testkit.RaceEnabled() {
		t.Skip("under -race sync.Pool drops some of what it is given: allocations are counted without -race")
	}
	svc := httpsvc.New(httpsvc.Options{})
	fc := &fakeConn{}
	svc.OnOpen(fc)
	for _, req := range []string{
		"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n",
		"GET /anything/x HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n",
		strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n", 16),
	} {
		in := []byte(req)
		svc.OnData(fc, in) // warm the pools
		if n := testing.AllocsPerRun(200, func() { svc.OnData(fc, in) }); n != 0 {
			t.Errorf("%.1f allocations per OnData of %q", n, req[:30])
		}
	}
}

// BenchmarkKeepAlive: GET /plaintext over a real loopback socket, one
// request in flight (depth 1) and 16 pipelined; the allocations counted
// are the whole process's, client included.
func BenchmarkKeepAlive(b *testing.B) {
	for _, depth := range []int{1, 16} {
		b.Run(map[int]string{1: "depth1", 16: "depth16"}[depth], func(b *testing.B) {
			svc := httpsvc.New(httpsvc.Options{})
			_, ep := testkit.ServeEngine(b, &engine.Config{Loops: 1}, "tcp", svc)
			c := testkit.Dial(b, "tcp", ep.Addr)
			req := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n", depth))
			c.Write(req[:len(req)/depth])
			first := make([]byte, 4096)
			n, err := c.Read(first)
			if err != nil {
				b.Fatal(err)
			}
			resp := make([]byte, n*depth) // every response has the first one's length
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += depth {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
