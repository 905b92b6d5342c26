package proxy

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
)

// FuzzHeaderLen feeds headerLen, the scan that finds where a PROXY header
// ends however little of it has come, arbitrary bytes, and checks what
// Accept relies on: it never consumes more than it was given; an end it
// finds is the end of a version 1 line (CRLF within 107 bytes) or of a
// version 2 header (16 bytes and the length they state), and every
// shorter prefix is "wait for more"; bytes that cannot start a header are
// ErrNoHeader; and a refusal is final, whatever follows.
func FuzzHeaderLen(f *testing.F) {
	for _, v := range []int{1, 2} {
		h, _ := Header(v, src, dst)
		f.Add(h, []byte("data"))
		f.Add(h[:len(h)/2], h[len(h)/2:])
	}
	f.Add([]byte("PROXY UNKNOWN\r\n"), []byte(nil))
	f.Add([]byte("PROXY "+string(bytes.Repeat([]byte("x"), 110))), []byte("\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n"), []byte(nil))
	f.Add(v2sig[:7], []byte("x"))
	f.Add(append(bytes.Clone(v2sig), 0x21, 0x11, 0xFF, 0xFF), []byte(nil))
	f.Fuzz(func(t *testing.T, b, extra []byte) {
		n, err := headerLen(b)
		switch {
		case n < 0 || n > len(b):
			t.Fatalf("headerLen(%q) = %d of %d bytes", b, n, len(b))
		case err != nil && n != 0:
			t.Fatalf("headerLen(%q) = %d and %v", b, n, err)
		}
		v1, v2 := bytes.HasPrefix(b, []byte("PROXY ")), bytes.HasPrefix(b, v2sig)
		maybe := bytes.HasPrefix([]byte("PROXY "), b) || bytes.HasPrefix(v2sig, b)
		if !v1 && !v2 && !maybe {
			if n != 0 || !errors.Is(err, ErrNoHeader) {
				t.Fatalf("headerLen(%q) = %d, %v; want ErrNoHeader", b, n, err)
			}
		}
		if err != nil {
			if m, err2 := headerLen(append(bytes.Clone(b), extra...)); err2 == nil {
				t.Fatalf("headerLen(%q) refused it (%v), but with %q after it = %d", b, err, extra, m)
			}
			return
		}
		if n == 0 {
			if len(b) >= maxV1 && v1 || len(b) >= 16+0xFFFF {
				t.Fatalf("headerLen(%q) waits with %d bytes in hand", b, len(b))
			}
			return
		}
		switch {
		case v1 && (n > maxV1 || !bytes.Equal(b[n-2:n], []byte("\r\n")) || bytes.Contains(b[:n-2], []byte("\r\n"))):
			t.Fatalf("headerLen(%q) = %d: not the first CRLF within %d bytes", b, n, maxV1)
		case v2 && n != 16+int(b[14])<<8+int(b[15]):
			t.Fatalf("headerLen(%q) = %d: not the length the version 2 header states", b, n)
		case !v1 && !v2:
			t.Fatalf("headerLen(%q) = %d for bytes that are no header", b, n)
		}
		if m, err := headerLen(append(bytes.Clone(b), extra...)); m != n || err != nil {
			t.Fatalf("headerLen with %q after the header = %d, %v; want %d", extra, m, err, n)
		}
		for _, k := range prefixes(n) {
			if m, err := headerLen(b[:k]); m != 0 || err != nil {
				t.Fatalf("headerLen of the first %d of the header's %d bytes = %d, %v; want 0 (wait)", k, n, m, err)
			}
		}
	})
}

// prefixes lists lengths below n to try: all of them for a short header,
// the first and last few and some between for a long one.
func prefixes(n int) []int {
	var ks []int
	for k := 0; k < n; k++ {
		if n <= 256 || k < 64 || k > n-64 || k%997 == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// FuzzAccept feeds the handler Accept returns arbitrary bytes, in
// arbitrary pieces, as the engine would, and checks its decision: a
// connection is either served (one OnOpen of the inner handler, which
// then gets exactly the bytes after the header), or reset and counted as
// rejected, or still waiting, when what came is a header's beginning. A
// served header whose addresses Header can write reads back, rewritten,
// as the same addresses (a round trip through the decoder).
func FuzzAccept(f *testing.F) {
	for _, v := range []int{1, 2} {
		h, _ := Header(v, src, dst)
		f.Add(append(h, "hello"...), uint64(v))
		h6, _ := Header(v, &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 1}, &net.TCPAddr{IP: net.IPv6loopback, Port: 2})
		f.Add(h6, uint64(v+2))
	}
	local, _ := Header(2, &net.UnixAddr{Name: "@x", Net: "unix"}, dst)
	f.Add(append(local, 0), uint64(5))
	f.Add([]byte("PROXY UNKNOWN\r\nrest"), uint64(6))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), uint64(7))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), uint64(8))
	f.Add([]byte("SSH-2.0-x\r\n"), uint64(9))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		rec, c, st := accept(t, data, seed)
		n, herr := headerLen(data)
		switch {
		case st.Headers+st.Rejected > 1 || rec.opens > 1:
			t.Fatalf("decided twice: %+v, %d opens", st, rec.opens)
		case st.Rejected == 1:
			if !c.aborted || rec.opens != 0 {
				t.Fatalf("rejected, but aborted %v, %d opens", c.aborted, rec.opens)
			}
		case st.Headers == 1:
			if c.aborted || rec.opens != 1 || herr != nil || n == 0 {
				t.Fatalf("served (aborted %v, %d opens), but headerLen = %d, %v", c.aborted, rec.opens, n, herr)
			}
			if got := append(bytes.Clone(rec.data), c.pending...); !bytes.Equal(got, data[n:]) {
				t.Fatalf("the inner handler got %q; want %q, what follows the header", got, data[n:])
			}
			roundTrip(t, rec)
		default:
			if c.aborted || rec.opens != 0 || herr != nil || n != 0 {
				t.Fatalf("undecided, but aborted %v, %d opens, headerLen %d, %v", c.aborted, rec.opens, n, herr)
			}
		}
	})
}

// roundTrip writes a served header's addresses with Header, when they are
// TCP ones, and checks that Accept reads them back.
func roundTrip(t *testing.T, rec *recorder) {
	t.Helper()
	s, ok1 := rec.remote.(*net.TCPAddr)
	d, ok2 := rec.local.(*net.TCPAddr)
	if !ok1 || !ok2 || (s.IP.To4() == nil) != (d.IP.To4() == nil) {
		return
	}
	for _, v := range []int{1, 2} {
		h, err := Header(v, s, d)
		if err != nil {
			t.Fatalf("Header(%d, %v, %v): %v", v, s, d, err)
		}
		back, _, st := accept(t, h, 1)
		if st.Headers != 1 || !sameTCP(back.remote, s) || !sameTCP(back.local, d) {
			t.Fatalf("version %d header %q for %v → %v reads back as %v → %v (%+v)", v, h, s, d, back.remote, back.local, st)
		}
	}
}

// FuzzHeaderRoundTrip writes the header of a TCP connection between any
// two addresses of one family with Header, version 1 and 2, and checks
// that headerLen finds all of it and Accept reads the same addresses.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add(false, []byte{192, 0, 2, 7}, []byte{127, 0, 0, 1}, uint16(40000), uint16(7007))
	f.Add(true, []byte(net.ParseIP("2001:db8::1")), []byte(net.IPv6loopback), uint16(0), uint16(65535))
	f.Add(true, []byte(net.ParseIP("::ffff:1.2.3.4")), []byte(net.ParseIP("::ffff:127.0.0.1")), uint16(1), uint16(2))
	f.Fuzz(func(t *testing.T, v6 bool, sip, dip []byte, sport, dport uint16) {
		size := 4
		if v6 {
			size = 16
		}
		s := &net.TCPAddr{IP: make(net.IP, size), Port: int(sport)}
		d := &net.TCPAddr{IP: make(net.IP, size), Port: int(dport)}
		copy(s.IP, sip)
		copy(d.IP, dip)
		if (s.IP.To4() == nil) != (d.IP.To4() == nil) {
			return // one an IPv4-mapped address and not the other: no one family
		}
		for _, v := range []int{1, 2} {
			h, err := Header(v, s, d)
			if err != nil {
				t.Fatalf("Header(%d, %v, %v): %v", v, s, d, err)
			}
			if n, err := headerLen(h); n != len(h) || err != nil {
				t.Fatalf("headerLen of Header(%d, %v, %v) = %d, %v; want %d", v, s, d, n, err, len(h))
			}
			rec, _, st := accept(t, append(h, "after"...), uint64(sport))
			if st.Headers != 1 || !sameTCP(rec.remote, s) || !sameTCP(rec.local, d) || string(rec.data)+string(rec.pendingOf()) != "after" {
				t.Fatalf("version %d header %q for %v → %v: served as %v → %v, data %q (%+v)", v, h, s, d, rec.remote, rec.local, rec.data, st)
			}
		}
	})
}

func sameTCP(a net.Addr, want *net.TCPAddr) bool {
	got, ok := a.(*net.TCPAddr)
	return ok && got.IP.Equal(want.IP) && got.Port == want.Port
}

// accept runs the handler Accept returns over one connection that
// receives data, in pieces whose sizes come from seed, keeping what a
// handler leaves unconsumed in front of the next piece, as the engine
// does.
func accept(t *testing.T, data []byte, seed uint64) (*recorder, *fuzzConn, Stats) {
	t.Helper()
	rec := &recorder{}
	var st Counters
	h := Accept(rec, Options{Counters: &st})
	c := &fuzzConn{}
	rec.conn = c
	h.OnOpen(c)
	r := rand.New(rand.NewPCG(seed, 0x50524f58))
	in := bytes.Clone(data)
	for len(in) > 0 && !c.aborted {
		k := 1 + r.IntN(min(len(in), 40))
		c.pending = append(c.pending, in[:k]...)
		in = in[k:]
		n := h.OnData(c, c.pending)
		if n < 0 || n > len(c.pending) {
			t.Fatalf("OnData consumed %d of %d bytes", n, len(c.pending))
		}
		c.pending = bytes.Clone(c.pending[n:])
	}
	return rec, c, st.Stats()
}

// recorder is the inner handler: it notes its OnOpen and the data it
// consumes, and leaves the last byte of each offer unconsumed, to be
// offered again with the next.
type recorder struct {
	opens         int
	remote, local net.Addr
	data          []byte
	conn          *fuzzConn
}

func (r *recorder) OnOpen(c engine.Conn) {
	r.opens++
	r.remote, r.local = c.RemoteAddr(), c.LocalAddr()
}

func (r *recorder) OnData(_ engine.Conn, in []byte) int {
	k := max(len(in)-1, 0)
	r.data = append(r.data, in[:k]...)
	return k
}

func (r *recorder) OnPeerClose(engine.Conn)    {}
func (r *recorder) OnClose(engine.Conn, error) {}

// pendingOf is what the connection holds unconsumed.
func (r *recorder) pendingOf() []byte { return r.conn.pending }

// fuzzConn is an engine.Conn without a socket: it keeps the unconsumed
// input and notes an Abort.
type fuzzConn struct {
	ctx     any
	pending []byte
	aborted bool
}

// The addresses of a fuzzConn's socket: what a connection without a
// PROXY header, or with one that names no addresses, reports.
var (
	sockLocal  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7007}
	sockRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
)

func (c *fuzzConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *fuzzConn) AsyncWrite([]byte) error     { return nil }
func (c *fuzzConn) CloseWrite() error           { return nil }
func (c *fuzzConn) Close() error                { return nil }
func (c *fuzzConn) Abort() error                { c.aborted = true; return nil }
func (c *fuzzConn) LocalAddr() net.Addr         { return sockLocal }
func (c *fuzzConn) RemoteAddr() net.Addr        { return sockRemote }
func (c *fuzzConn) Pending() int                { return 0 }
func (c *fuzzConn) Hold(int)                    {}
func (c *fuzzConn) PauseReading(bool)           {}
func (c *fuzzConn) Context() any                { return c.ctx }
func (c *fuzzConn) SetContext(v any)            { c.ctx = v }
func (c *fuzzConn) SetTimer(time.Time)          {}
func (c *fuzzConn) Wake() error                 { return nil }
