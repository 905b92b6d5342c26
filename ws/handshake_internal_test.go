package ws

import (
	"bytes"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeConn is an engine.Conn that records what a handler does, for driving
// a Server without sockets.
type fakeConn struct {
	out     bytes.Buffer
	closed  bool
	value   any
	timerAt time.Time
}

func (f *fakeConn) Write(p []byte) (int, error) { return f.out.Write(p) }
func (f *fakeConn) AsyncWrite(p []byte) error   { f.out.Write(p); return nil }
func (f *fakeConn) CloseWrite() error           { return nil }
func (f *fakeConn) Close() error                { f.closed = true; return nil }
func (f *fakeConn) Abort() error                { f.closed = true; return nil }
func (f *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (f *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (f *fakeConn) Pending() int                { return 0 }
func (f *fakeConn) Hold(int)                    {}
func (f *fakeConn) PauseReading(bool)           {}
func (f *fakeConn) Context() any                { return f.value }
func (f *fakeConn) SetContext(v any)            { f.value = v }
func (f *fakeConn) SetTimer(at time.Time)       { f.timerAt = at }
func (f *fakeConn) Wake() error                 { return nil }

// offer feeds in to h in pieces chosen by cut, keeping the unconsumed rest
// in front of the next piece as the engine does.
func offer(t testing.TB, s *Server, fc *fakeConn, in []byte, cut func(rest int) int) {
	var pending []byte
	for len(in) > 0 && !fc.closed {
		k := max1(cut(len(in)), len(in))
		pending = append(pending, in[:k]...)
		in = in[k:]
		n := s.OnData(fc, pending)
		if n < 0 || n > len(pending) {
			t.Fatalf("OnData consumed %d of %d bytes", n, len(pending))
		}
		pending = bytes.Clone(pending[n:])
	}
}

// skipEmptyLines drops the empty lines a request line may follow (RFC
// 9112, 2.2), which the parser skips.
func skipEmptyLines(b []byte) []byte {
	for bytes.HasPrefix(b, []byte("\r\n")) {
		b = b[2:]
	}
	return b
}

// FuzzUpgradeRequest feeds arbitrary bytes, in arbitrary splits, to the
// request parser and to a Server: no panic, a consistent Request, and at
// most one well-formed response.
func FuzzUpgradeRequest(f *testing.F) {
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85\x01\x02\x03\x04iggmn"), uint64(1))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint64(2))
	f.Add([]byte("POST /ws?a=b HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n"), uint64(3))
	f.Add([]byte("GET /ws HTTP/1.1\r\n folded\r\n\r\n"), uint64(4))
	f.Add([]byte("GET /ws HTTP/1.1\r\nUpgrade: x, websocket\r\nConnection: a,upgrade\r\nHost: h\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Protocol: a, b\r\n\r\n"), uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		const max = 1 << 10
		req, n, herr := parseRequest(data, max)
		switch {
		case n < 0 || n > len(data):
			t.Fatalf("parseRequest consumed %d of %d", n, len(data))
		case n == 0 && herr == nil && (len(data) >= max || bytes.Contains(skipEmptyLines(data), []byte("\r\n\r\n"))):
			t.Fatalf("parseRequest wants more of a complete or oversized head")
		case req != nil && herr != nil:
			t.Fatalf("both a request and an error")
		case req != nil && req.Path+strings.TrimSuffix("?"+req.RawQuery, "?") != req.Target && req.Path+"?" != req.Target:
			t.Fatalf("Target %q splits into %q and %q", req.Target, req.Path, req.RawQuery)
		case herr != nil && (herr.Status < 400 || herr.Status > 505):
			t.Fatalf("error status %d", herr.Status)
		}

		s := NewServer(Echo{}, ServerOptions{Path: "/ws", MaxHeader: max, Subprotocols: []string{"b"}})
		fc := &fakeConn{}
		s.OnOpen(fc)
		r := rand.New(rand.NewPCG(seed, 7))
		offer(t, s, fc, bytes.Clone(data), func(n int) int { return 1 + r.IntN(min(n, 32)) })
		out := fc.out.Bytes()
		if len(out) == 0 {
			return
		}
		if !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) || bytes.Count(out, []byte("HTTP/1.1 ")) > 1+bytes.Count(data, []byte("HTTP/1.1 ")) {
			t.Fatalf("response %q", out)
		}
		if bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) != (s.Stats().Upgrades == 1) {
			t.Fatalf("response %q with Stats %+v", out, s.Stats())
		}
		if !bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) && !fc.closed {
			t.Fatalf("not closed after %q", out)
		}
	})
}

// Once upgraded, echoing a message that arrives whole costs no allocation:
// the frame is unmasked in place and the reply built in a reused buffer.
func TestEchoAllocs(t *testing.T) {
	s := NewServer(Echo{}, ServerOptions{})
	fc := &fakeConn{}
	s.OnOpen(fc)
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if n := s.OnData(fc, []byte(req)); n != len(req) || fc.closed {
		t.Fatalf("upgrade: consumed %d of %d, closed %v", n, len(req), fc.closed)
	}
	msg := bytes.Repeat([]byte("x"), 512)
	wire := appendFrame(nil, true, OpBinary, msg, true, [4]byte{1, 2, 3, 4})
	in := make([]byte, len(wire))
	fc.out.Grow(4 << 10)
	allocs := testing.AllocsPerRun(100, func() {
		copy(in, wire) // unmasking happens in place
		fc.out.Reset()
		if n := s.OnData(fc, in); n != len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per echoed message, want 0", allocs)
	}
	if want := appendFrame(nil, true, OpBinary, msg, false, [4]byte{}); !bytes.Equal(fc.out.Bytes(), want) {
		t.Errorf("echo frame % x…, want % x…", fc.out.Bytes()[:8], want[:8])
	}
}
