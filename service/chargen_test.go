package service_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// RFC 864's pattern, written out here independently of the service: lines
// of 72 printable ASCII characters (32 to 126) and CRLF; line i starts with
// the i-th printable character, wrapping after the 95th.
const (
	lineWidth = 72
	lineLen   = lineWidth + 2 // with CRLF
	printable = 95
)

// chargenByte is the byte at offset off of the chargen stream.
func chargenByte(off int) byte {
	line, col := off/lineLen, off%lineLen
	switch col {
	case lineWidth:
		return '\r'
	case lineWidth + 1:
		return '\n'
	}
	return byte(' ' + (line+col)%printable)
}

// checkChargen reports the first byte of b that is not the chargen stream
// at offsets off, off+1, ...
func checkChargen(b []byte, off int) error {
	for i, c := range b {
		if want := chargenByte(off + i); c != want {
			return fmt.Errorf("byte %d of the stream is %q, want %q", off+i, c, want)
		}
	}
	return nil
}

func TestChargenPattern(t *testing.T) {
	t.Parallel()
	cycle := printable * lineLen
	for _, n := range []int{0, 1, lineWidth, lineLen, lineLen + 1, cycle - 1, cycle, cycle + 1, 3*cycle + 17} {
		p := service.ChargenPattern(n)
		if len(p) != n {
			t.Errorf("len(ChargenPattern(%d)) = %d", n, len(p))
		}
		if err := checkChargen(p, 0); err != nil {
			t.Errorf("ChargenPattern(%d): %v", n, err)
		}
	}
}

// chargenSpy is Chargen that reports the peer's FIN and the end of each
// connection. Embedding keeps Chargen's OnDrain.
type chargenSpy struct {
	service.Chargen
	peerClosed chan struct{}
	closed     chan error
}

func newChargenSpy() chargenSpy {
	return chargenSpy{peerClosed: make(chan struct{}, 8), closed: make(chan error, 8)}
}

func (s chargenSpy) OnPeerClose(c engine.Conn) {
	s.Chargen.OnPeerClose(c)
	s.peerClosed <- struct{}{}
}

func (s chargenSpy) OnClose(c engine.Conn, err error) {
	s.Chargen.OnClose(c, err)
	s.closed <- err
}

func TestChargenTCPFirstBytes(t *testing.T) {
	t.Parallel()
	_, addr := serveTCP(t, service.Chargen{})
	c := dialTCP(t, addr)
	const n = 10000
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if want := service.ChargenPattern(n); !bytes.Equal(got, want) {
		t.Errorf("the first %d bytes differ from ChargenPattern(%d)", n, n)
	}
	if err := checkChargen(got, 0); err != nil {
		t.Error(err)
	}
	lines := bytes.Split(got, []byte("\r\n"))
	for i, l := range lines[:len(lines)-1] { // the last line is cut short
		if len(l) != lineWidth {
			t.Fatalf("line %d is %d characters, want %d: %q", i, len(l), lineWidth, l)
		}
		for _, c := range l {
			if c < ' ' || c > '~' {
				t.Fatalf("line %d holds %q, not printable ASCII", i, c)
			}
		}
	}
}

// TestChargenTCPAfterHalfClose: the RFC stops chargen when the client
// closes, not when it half-closes, so the stream goes on after our FIN.
func TestChargenTCPAfterHalfClose(t *testing.T) {
	t.Parallel()
	h := newChargenSpy()
	srv, addr := serveTCP(t, h)
	c := dialTCP(t, addr)
	buf := make([]byte, 64<<10)
	off := 0
	read := func() {
		t.Helper()
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
		if err := checkChargen(buf[:n], off); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	read()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	testkit.Receive(t, h.peerClosed, "the server's OnPeerClose")
	// Whatever the server had sent by now is at most sent; what we read
	// beyond that (plus what its writer may hold, well under the margin)
	// it wrote after our FIN.
	const margin = 4 << 20
	limit := int(srv.Stats().BytesOut) + margin
	for i := 0; off <= limit; i++ {
		if i > 1<<16 {
			t.Fatalf("%d reads and only %d of %d bytes", i, off, limit)
		}
		read()
	}
}

// TestChargenTCPClientCloses: a client that closes mid-stream (with the
// stream's bytes unread, so the close resets) ends only its connection.
func TestChargenTCPClientCloses(t *testing.T) {
	t.Parallel()
	h := newChargenSpy()
	_, addr := serveTCP(t, h)
	c := dialTCP(t, addr)
	if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	err := testkit.Receive(t, h.closed, "the server's OnClose")
	t.Logf("the server saw the connection end with: %v", err)

	c2 := dialTCP(t, addr)
	got := make([]byte, 10000)
	if _, err := io.ReadFull(c2, got); err != nil {
		t.Fatalf("a new connection after the close: %v", err)
	}
	if err := checkChargen(got, 0); err != nil {
		t.Errorf("a new connection after the close: %v", err)
	}
}

func TestChargenUDP(t *testing.T) {
	t.Parallel()
	_, addr := serveUDP(t, service.Chargen{})
	c := dialUDP(t, addr)
	for i := 0; i < 32; i++ {
		got := roundTrip(t, c, []byte("any"))
		if len(got) > 512 {
			t.Errorf("reply %d is %d bytes, want at most 512", i, len(got))
		}
		if err := checkChargen(got, 0); err != nil {
			t.Errorf("reply %d (%d bytes) is not the start of the pattern: %v", i, len(got), err)
		}
	}
}
