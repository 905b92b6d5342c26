package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dial connects to addr on network with Timeout as the connection's
// deadline for everything that follows, and closes it when the test ends.
func Dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(Timeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// DialSmall is Dial over TCP with a receive buffer of rcvbuf bytes
// (SO_RCVBUF, set before the connect so that the window the peer sees is
// small from the start): for a client that does not read, whose peer's
// output should back up soon.
func DialSmall(t testing.TB, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: Timeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setRcvBuf(fd, rcvbuf) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial tcp %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(Timeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// Pipe returns both ends of a fresh loopback TCP connection on network
// (tcp, tcp4 or tcp6), or an error and neither. It does not touch a
// testing.T, so that nettest's MakePipe functions can call it; the caller
// closes both ends.
func Pipe(network string) (dialed, accepted net.Conn, err error) {
	host := "127.0.0.1"
	if network == "tcp6" {
		host = "::1"
	}
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	dialed, err = net.DialTimeout(network, ln.Addr().String(), Timeout)
	if err != nil {
		ln.Close() // ends the Accept
	}
	accepted = <-ch
	if err != nil || accepted == nil {
		if dialed != nil {
			dialed.Close()
		}
		if accepted != nil {
			accepted.Close()
		}
		return nil, nil, errors.Join(err, errors.New("no connection accepted"))
	}
	return dialed, accepted, nil
}

// TCPPair returns both ends of a fresh loopback TCP connection, each with
// Timeout as its deadline; both are closed when the test ends.
func TCPPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	c, s, err := Pipe("tcp4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	deadline := time.Now().Add(Timeout)
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// Serve accepts TCP connections on 127.0.0.1:0 until the test ends and
// runs handle on each, on a goroutine of its own; it returns the address
// to dial. When the test ends it closes the listener and every accepted
// connection (which ends a handler blocked on one) and waits for the
// handlers to return. A handler that must wait until then, without
// reading, waits for the test's context: t.Context().Done().
func Serve(t testing.TB, handle func(c net.Conn)) net.Addr {
	t.Helper()
	return ServeAt(t, "127.0.0.1:0", handle)
}

// ServeAt is Serve on address, a loopback host and port 0 ("[::1]:0").
func ServeAt(t testing.TB, address string, handle func(c net.Conn)) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				continue
			}
			conns = append(conns, c)
			wg.Go(func() { handle(c) })
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr()
}

// Hold is a handler for Serve that keeps each connection open, silent and
// unread, until the test ends.
func Hold(net.Conn) {}

// ResetAfter is a handler for Serve that reads n bytes of each connection
// (the first request a client sends, say) and then resets it: SO_LINGER 0,
// so that its close sends RST, and the client's next read or write fails
// with ECONNRESET (or EPIPE) — a peer that breaks off in the middle of a
// handshake.
func ResetAfter(n int) func(c net.Conn) {
	return func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(Timeout))
		io.ReadFull(c, make([]byte, n))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
}

// Echo is a handler for Serve, or any blocking server: it copies c back
// to itself until the peer's FIN, half-closes, and then reads until the
// peer closes too, as sockit's echo service does.
func Echo(c net.Conn) {
	io.Copy(c, c)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, c)
}

// CloseBoth closes a and b at once and returns when both have: a
// WebSocket or TLS Close may wait for the other side's close.
func CloseBoth(a, b io.Closer) {
	var wg sync.WaitGroup
	wg.Go(func() { a.Close() })
	b.Close()
	wg.Wait()
}

// BufferedConn is a net.Conn that reads through R, a reader that has
// buffered what was read of Conn so far (a bufio.Reader that has read a
// header).
type BufferedConn struct {
	net.Conn
	R io.Reader
}

func (b BufferedConn) Read(p []byte) (int, error) { return b.R.Read(p) }

// ReadAll reads r until EOF and returns what it read; more than limit
// bytes is an error. The connection's deadline bounds it in time.
func ReadAll(r io.Reader, limit int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for len(out) <= limit {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, fmt.Errorf("more than %d bytes", limit)
}

// RoundTrip writes msg to c and reads back as many bytes, which must
// equal it.
func RoundTrip(c net.Conn, msg []byte) error {
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs: sent %q, got %q", msg[:min(len(msg), 40)], got[:min(len(got), 40)])
	}
	return nil
}

// Pattern returns n pseudo-random bytes, the same for the same seed and
// different for another: a byte lost, repeated or moved shows.
func Pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// EOFNotifier is a reader that tells when the reader it wraps has
// returned io.EOF: the moment a pipe's input ended.
type EOFNotifier struct {
	r    io.Reader
	once sync.Once
	eof  chan struct{}
}

// NotifyEOF wraps r.
func NotifyEOF(r io.Reader) *EOFNotifier { return &EOFNotifier{r: r, eof: make(chan struct{})} }

func (e *EOFNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// EOF is closed once the wrapped reader has returned io.EOF.
func (e *EOFNotifier) EOF() <-chan struct{} { return e.eof }

// Endless is an input that always has more to send.
type Endless struct{}

func (Endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'r'
	}
	return len(p), nil
}

// Connect dials ln, a listener of the test's own, and accepts the
// connection: it returns both ends, closed when the test ends. The dialed
// end has Timeout as its deadline, as with Dial.
func Connect(t testing.TB, ln net.Listener) (dialed, accepted net.Conn) {
	t.Helper()
	dialed = Dial(t, ln.Addr().Network(), ln.Addr().String())
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on %s: %v", ln.Addr(), err)
	}
	t.Cleanup(func() { accepted.Close() })
	return dialed, accepted
}
