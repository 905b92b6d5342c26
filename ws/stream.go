package ws

import (
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit"
)

// StreamOptions configure the stream views of WebSocket connections:
// Stream over a BlockingConn, and NewStreamServer and NewStreamClient on
// the engine. The zero value sends every write as one binary message.
type StreamOptions struct {
	// TextIfUTF8 sends a write as a text message when its bytes are valid
	// UTF-8, and as binary otherwise; false sends every write as binary.
	// (On the engine, a write made inside OnData takes the opcode of the
	// message being answered, when its bytes allow.)
	TextIfUTF8 bool
	// MaxInput bounds the bytes an engine handler leaves unconsumed, which
	// are offered again in front of the next message; above it the
	// connection is closed with CloseMessageTooBig and the handler's
	// OnClose gets engine.ErrInputTooLarge. 0 = engine.DefaultMaxInput.
	// Stream does not use it.
	MaxInput int
}

// opcode is the opcode of a write of p.
func (o StreamOptions) opcode(p []byte) Opcode {
	if o.TextIfUTF8 && utf8.Valid(p) {
		return OpText
	}
	return OpBinary
}

// Stream is a net.Conn over a BlockingConn, either side of it, for code
// that speaks bytes: each Write sends one message; Read returns the
// payloads of the messages received, in order (a message longer than the
// buffer over several Reads). The peer's close frame is the end of data:
// Read returns io.EOF for a normal close (1000, 1001, or a close frame
// without a code) and an error that holds a *CloseError for any other
// code. WebSocket has no half-close, but its close frame can stand in for
// one: after the peer's close frame Write still works (RFC 6455, 5.5.1
// lets an endpoint send before it answers), and CloseWrite sends ours.
// Close runs the closing handshake, bounded by the options' CloseTimeout.
//
// Its methods are safe for concurrent use, as a net.Conn's are, and Close
// cuts short a Read or Write in progress. Deadlines apply to the
// connection underneath. A Write that a deadline cuts short fails with a
// timeout after taking all of p (it goes out, whole, first with the next
// write); a Write after the deadline takes nothing. Errors are
// *sockit.Error values naming the operation.
type Stream struct {
	c    *BlockingConn
	opts StreamOptions
	rest []byte // the unread part of the message being read, under c.rmu
}

var _ net.Conn = (*Stream)(nil)

// NewStream returns the stream view of c. From then on the peer's close
// frame is not answered until CloseWrite or Close; use c only through the
// Stream.
func NewStream(c *BlockingConn, opts StreamOptions) *Stream {
	c.rmu.Lock()
	c.hold = true
	c.rmu.Unlock()
	return &Stream{c: c, opts: opts}
}

// Conn is the WebSocket connection under the stream: its subprotocol, its
// upgrade request.
func (s *Stream) Conn() *BlockingConn { return s.c }

// Read reads the payload bytes of the messages received.
func (s *Stream) Read(p []byte) (int, error) {
	c := s.c
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closing.Load() {
		return 0, s.wrap("read", net.ErrClosed)
	}
	for len(s.rest) == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		_, data, err := c.next()
		if err != nil {
			return 0, s.readErr(err)
		}
		s.rest = data // valid until the next call of next: after it is read
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// readErr is what Read returns for an error of the connection.
func (s *Stream) readErr(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case CloseNormal, CloseGoingAway, CloseNoStatus:
			return io.EOF
		}
	}
	return s.wrap("read", s.c.cut(err))
}

// Write sends p as one message: binary, or text if the options say so and
// p is valid UTF-8. An empty p sends nothing.
func (s *Stream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		if s.c.closing.Load() {
			return 0, s.wrap("write", net.ErrClosed)
		}
		return 0, nil
	}
	taken, err := s.c.send(s.opts.opcode(p), p)
	n := 0
	if taken {
		n = len(p)
	}
	if err != nil {
		if s.c.closing.Load() {
			err = net.ErrClosed
		}
		return n, s.wrap("write", err)
	}
	return n, nil
}

// CloseWrite sends our close frame (1000): the peer reads its end of
// data, and this side can still read until the peer's close frame. A
// second call does nothing.
func (s *Stream) CloseWrite() error {
	_, err := s.c.send(OpClose, closePayload(CloseNormal, ""))
	if errors.Is(err, ErrCloseSent) {
		err = nil
	}
	return s.wrap("shutdown", err)
}

// Close runs the closing handshake with a normal close (1000) and closes
// the connection; see BlockingConn.Close.
func (s *Stream) Close() error { return s.CloseWith(CloseNormal, "") }

// CloseWith is Close with another code and reason: 1001 for a side that
// is going away, 1011 for a server that cannot go on, and the like.
func (s *Stream) CloseWith(code CloseCode, reason string) error {
	return s.wrap("close", s.c.Close(code, reason))
}

func (s *Stream) LocalAddr() net.Addr                { return s.c.nc.LocalAddr() }
func (s *Stream) RemoteAddr() net.Addr               { return s.c.nc.RemoteAddr() }
func (s *Stream) SetDeadline(t time.Time) error      { return s.c.nc.SetDeadline(t) }
func (s *Stream) SetReadDeadline(t time.Time) error  { return s.c.nc.SetReadDeadline(t) }
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.c.nc.SetWriteDeadline(t) }

// wrap makes err a *sockit.Error for op on the connection's peer.
func (s *Stream) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	network, addr := "", ""
	if a := s.c.nc.RemoteAddr(); a != nil {
		network, addr = a.Network(), a.String()
	}
	return sockit.Wrap(op, network, addr, err)
}
