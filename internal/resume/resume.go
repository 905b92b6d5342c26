// Package resume keeps a byte stream whole when a write deadline cuts a
// write short, for the protocols that stack on a socket.
//
// A protocol that frames its bytes cannot lose the tail of a frame that a
// deadline cut off: crypto/tls makes every write error permanent (its
// halfConn.setErrorLocked), and half a WebSocket frame corrupts the stream
// for good. Yet net.Conn promises that a write which times out leaves the
// connection usable. Conn squares the two. It sits right above the socket,
// under every layer: a socket write that times out part way leaves its
// unwritten tail with Conn, which reports success to the layer above and
// sends the tail before anything else on the next write. The conn at the
// top of the stack (Stack here; ws.Stream) asks Conn before each write
// whether the deadline allows one (Begin) and after it whether the
// deadline cut it short (Check), and reports the timeout to its caller.
//
// So a write at the top that the deadline cuts short fails with a timeout
// after taking all its bytes (n = len(p)): they go out, tail first, with
// the next write, and the tail is bounded by what one write at the top
// produces. A write that starts after the deadline writes nothing.
package resume

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is the resumable writer over a socket. Its methods are safe for
// concurrent use, as the socket's are; writes are serialized, so that a
// tail always goes out before later bytes.
type Conn struct {
	net.Conn

	mu      sync.Mutex // held across each socket write
	tail    []byte     // bytes accepted and not yet written, under mu
	pending atomic.Bool
	wdl     atomic.Int64 // the write deadline, unix nanoseconds; 0 = none
}

// New returns a Conn over nc, the socket (or whatever carries the bytes
// of the layers above it).
func New(nc net.Conn) *Conn { return &Conn{Conn: nc} }

// Write writes p after any tail left by an earlier write. When the write
// deadline cuts the socket write short, Write keeps the unwritten rest as
// the tail and reports success: the layer above must not see the timeout.
// Other errors are returned as they are.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tail) > 0 {
		if err := c.flushLocked(); err != nil {
			if !isTimeout(err) {
				return 0, err
			}
			c.tail = append(c.tail, p...)
			return len(p), nil
		}
	}
	n, err := c.Conn.Write(p)
	if err != nil && isTimeout(err) {
		c.tail = append(c.tail[:0], p[n:]...)
		c.pending.Store(len(c.tail) > 0)
		return len(p), nil
	}
	return n, err
}

// flushLocked writes the tail; after an error the rest of it stays.
func (c *Conn) flushLocked() error {
	for len(c.tail) > 0 {
		n, err := c.Conn.Write(c.tail)
		c.tail = c.tail[n:]
		if err != nil {
			c.pending.Store(len(c.tail) > 0)
			return err
		}
	}
	c.tail = nil // rare: do not hold the buffer
	c.pending.Store(false)
	return nil
}

// Begin readies the stack for a write from its top: it sends the tail of
// an earlier write first. It fails with a timeout error, writing nothing
// new, when the write deadline has passed or the tail cannot be written
// before it; then the write at the top must not go ahead.
func (c *Conn) Begin() error {
	if dl := c.wdl.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return os.ErrDeadlineExceeded
	}
	if !c.pending.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// Check reports a timeout error when a tail waits: a write since Begin
// was cut short by the deadline. Its bytes are taken all the same.
func (c *Conn) Check() error {
	if c.pending.Load() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// SetDeadline sets the socket's deadlines and notes the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.wdl.Store(nanos(t))
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline sets the socket's write deadline and notes it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(nanos(t))
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite half-closes the socket (shutdown SHUT_WR) after sending the
// tail, if it can be sent before the deadline.
func (c *Conn) CloseWrite() error {
	if err := c.Begin(); err != nil {
		return err
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	return cw.CloseWrite()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// Stack is the top of layers stacked over a Conn (TLS over a socket): a
// net.Conn whose Write keeps net.Conn's deadline contract for the whole
// stack, as the package doc says. The rest of net.Conn is the top layer's.
type Stack struct {
	net.Conn // the top layer
	rw       *Conn
}

// Over returns the Stack of top, a layer that writes through rw.
func Over(top net.Conn, rw *Conn) *Stack { return &Stack{Conn: top, rw: rw} }

// Write writes p through the top layer. It fails with a timeout error and
// n = 0 when the deadline has passed (or the tail of an earlier write
// cannot be sent before it), and with a timeout error and n = len(p) when
// the deadline cut this write short: the layer took all of p.
func (s *Stack) Write(p []byte) (int, error) {
	if err := s.rw.Begin(); err != nil {
		return 0, err
	}
	n, err := s.Conn.Write(p)
	if err == nil {
		err = s.rw.Check()
	}
	return n, err
}

// CloseWrite ends the top layer's output (TLS: close_notify), when the
// deadline allows a write.
func (s *Stack) CloseWrite() error {
	if err := s.rw.Begin(); err != nil {
		return err
	}
	cw, ok := s.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	if err := cw.CloseWrite(); err != nil {
		return err
	}
	return s.rw.Check()
}

// Top is the top layer, whose writes are not guarded: for a layer that
// stacks on this one and guards its own (ws.Stream).
func (s *Stack) Top() net.Conn { return s.Conn }

// Resumable is the Conn under the stack.
func (s *Stack) Resumable() *Conn { return s.rw }

// Split finds the resumable Conn for a layer about to stack on nc: when nc
// is a Stack, its Conn and its unguarded top, which the new layer writes
// to; when nc is a Conn, nc twice; otherwise a new Conn over nc, for nc is
// taken to be the socket. (A Conn over TLS that has none beneath it cannot
// save TLS from its permanent write errors: build TLS on a Conn.)
func Split(nc net.Conn) (rw *Conn, top net.Conn) {
	switch c := nc.(type) {
	case *Stack:
		return c.rw, c.Conn
	case *Conn:
		return c, c
	}
	rw = New(nc)
	return rw, rw
}
