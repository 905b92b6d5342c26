package ws

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit/engine"
)

// NewStreamServer returns the engine.Handler of a WebSocket server whose
// connections h serves as streams, the way it serves TCP connections:
// the payload of each message is offered to h.OnData (what h leaves
// unconsumed is offered again in front of the next payload, up to
// StreamOptions.MaxInput); each Write or AsyncWrite of h sends one
// message, with the opcode of the message being answered when h writes
// inside OnData (an echo keeps text as text), and StreamOptions' opcode
// otherwise. The peer's close frame is h's OnPeerClose, after which h may
// still write; h's CloseWrite or Close sends our close frame (1000), which
// ends the closing handshake when the peer's came first. Abort resets the
// TCP connection at once, as the engine's Abort does, without a close
// frame: a stream that fails, fails fast. SetTimer, Wake, Pending, Context,
// SetContext, LocalAddr and RemoteAddr are the engine's (Pending counts
// frame headers too; h's OnTimer and OnDrain run until our close frame has
// gone, after the peer's too: the half-closed stream, as Conn.SetTimer
// says). h.OnClose gets a *CloseError when the peer closed with a code
// other than 1000, 1001 or none.
//
// h may be an engine.TimerHandler, and an engine.Drainer: the handler
// returned is a Drainer exactly when h is one, so that chargen over
// WebSocket gets its OnDrain. Counters count in opts.Counters; see Server
// for the rest of opts.
func NewStreamServer(h engine.Handler, opts ServerOptions, sopts StreamOptions) engine.Handler {
	v := newStreamView(h, sopts)
	s := NewServer(v, opts)
	if v.drainer != nil {
		return drainServer{s}
	}
	return s
}

// NewStreamClient is NewStreamServer for connections made with
// engine.Server.Dial: the client side of WebSocket, with h served as a
// stream. A connect or an upgrade that fails reaches h.OnClose without
// OnOpen, as a dial that fails does.
func NewStreamClient(h engine.Handler, opts ClientOptions, sopts StreamOptions) engine.Handler {
	v := newStreamView(h, sopts)
	cl := NewClient(v, opts)
	if v.drainer != nil {
		return drainClient{cl}
	}
	return cl
}

// drainServer and drainClient are the handlers for a Drainer inner
// handler: separate types, so that the engine sees a Drainer exactly when
// the inner handler is one (a Drainer is called after every write).
type (
	drainServer struct{ *Server }
	drainClient struct{ *Client }
)

func (d drainServer) OnDrain(ec engine.Conn) { drainView(ec) }
func (d drainClient) OnDrain(ec engine.Conn) { drainView(ec) }

func drainView(ec engine.Conn) {
	c, ok := ec.Context().(*Conn)
	if !ok || c.state != stateOpen && !c.answering() {
		return
	}
	if s, ok := c.Context().(*sconn); ok {
		s.v.drain(s)
	}
}

// streamView is the MessageHandler behind NewStreamServer and
// NewStreamClient.
type streamView struct {
	h        engine.Handler
	drainer  engine.Drainer
	timer    engine.TimerHandler
	opts     StreamOptions
	maxInput int
}

func newStreamView(h engine.Handler, opts StreamOptions) *streamView {
	v := &streamView{h: h, opts: opts, maxInput: opts.MaxInput}
	if v.maxInput <= 0 {
		v.maxInput = engine.DefaultMaxInput
	}
	v.drainer, _ = h.(engine.Drainer)
	v.timer, _ = h.(engine.TimerHandler)
	return v
}

var (
	_ CloseFrameHandler = (*streamView)(nil)
	_ TimerHandler      = (*streamView)(nil)
	_ engine.Conn       = (*sconn)(nil)
)

// sconn is the engine.Conn the stream handler sees. Fields without a
// comment on their owner belong to the connection's loop.
type sconn struct {
	v     *streamView
	c     *Conn
	value any
	in    []byte // input h left unconsumed, offered again with the next payload
	held  int    // cap(in) as last reported with Hold
	op    Opcode // inside OnData: the opcode of the message being answered
	told  bool   // h has had OnPeerClose
	err   error  // why the view ended the connection, for h's OnClose

	shut atomic.Bool // CloseWrite, Close or Abort asked for: writes are refused
	drop atomic.Bool // Close or Abort asked for: input is dropped too
}

func (v *streamView) OnOpen(c *Conn) {
	s := &sconn{v: v, c: c}
	c.SetContext(s)
	v.h.OnOpen(s)
	v.drain(s) // as the engine does after OnOpen
}

func (v *streamView) OnMessage(c *Conn, op Opcode, data []byte) {
	s := c.Context().(*sconn)
	if len(data) == 0 || s.drop.Load() || s.err != nil {
		return
	}
	p := data
	if len(s.in) > 0 {
		s.in = append(s.in, data...)
		p = s.in
	}
	s.op = op
	k := v.h.OnData(s, p)
	s.op = 0
	rest := p[min(max(k, 0), len(p)):]
	switch {
	case len(rest) == 0:
		s.in = s.in[:0]
		if cap(s.in) > retainMax {
			s.in = nil
		}
	case len(rest) > v.maxInput:
		s.err = engine.ErrInputTooLarge
		s.in = nil
		s.shut.Store(true)
		s.drop.Store(true)
		c.Close(CloseMessageTooBig, "unconsumed input exceeds the stream's bound")
	case len(s.in) > 0:
		s.in = s.in[:copy(s.in, rest)]
	default:
		s.in = append(s.in[:0], rest...)
	}
	s.account()
}

// account tells the engine's budget what input the view holds.
func (s *sconn) account() {
	if d := cap(s.in) - s.held; d != 0 {
		s.c.ec.Hold(d)
		s.held = cap(s.in)
	}
}

// OnCloseFrame is the peer's end of data: h's OnPeerClose.
func (v *streamView) OnCloseFrame(c *Conn, code CloseCode, reason string) {
	s := c.Context().(*sconn)
	if !s.told && !s.drop.Load() && s.err == nil {
		s.told = true
		v.h.OnPeerClose(s)
	}
}

func (v *streamView) OnTimer(c *Conn) {
	if s, ok := c.Context().(*sconn); ok && v.timer != nil {
		v.timer.OnTimer(s)
	}
}

func (v *streamView) drain(s *sconn) {
	if v.drainer != nil && !s.shut.Load() {
		v.drainer.OnDrain(s)
	}
}

func (v *streamView) OnClose(c *Conn, code CloseCode, reason string, err error) {
	s, ok := c.Context().(*sconn)
	if !ok { // a client whose connect or upgrade failed
		s = &sconn{v: v, c: c}
	}
	switch {
	case s.err != nil:
		err = s.err
	case err == nil && code != CloseNormal && code != CloseGoingAway && code != CloseNoStatus:
		err = &CloseError{Code: code, Reason: reason}
	}
	v.h.OnClose(s, err)
}

// opcode is the opcode of a write of p made on the loop.
func (s *sconn) opcode(p []byte) Opcode {
	if s.op == OpBinary || s.op == OpText && utf8.Valid(p) {
		return s.op
	}
	return s.v.opts.opcode(p)
}

// Write sends p as one message; the engine.Conn contract holds, and
// ErrClosed follows CloseWrite, Close or Abort.
func (s *sconn) Write(p []byte) (int, error) {
	if s.shut.Load() {
		return 0, engine.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.c.WriteMessage(s.opcode(p), p); err != nil {
		return 0, closedErr(err)
	}
	return len(p), nil
}

// AsyncWrite sends a copy of p as one message, with the options' opcode.
func (s *sconn) AsyncWrite(p []byte) error {
	if s.shut.Load() {
		return engine.ErrClosed
	}
	if len(p) == 0 {
		return nil
	}
	return closedErr(s.c.AsyncWriteMessage(s.v.opts.opcode(p), p))
}

func closedErr(err error) error {
	if errors.Is(err, ErrCloseSent) {
		return engine.ErrClosed
	}
	return err
}

// CloseWrite sends our close frame after the messages written so far.
// Messages still arrive until the peer's close frame (OnPeerClose). Safe
// from any goroutine.
func (s *sconn) CloseWrite() error {
	s.shut.Store(true)
	return s.close()
}

// Close sends our close frame after the messages written so far, and
// drops what arrives from then on; OnClose follows the closing handshake.
// Safe from any goroutine.
func (s *sconn) Close() error {
	s.shut.Store(true)
	s.drop.Store(true)
	return s.close()
}

func (s *sconn) close() error {
	if err := s.c.Close(CloseNormal, ""); err != nil && !errors.Is(err, ErrCloseSent) {
		return err
	}
	return nil
}

// Abort resets the TCP connection at once: no close frame, nothing queued
// is sent. Safe from any goroutine.
func (s *sconn) Abort() error {
	s.shut.Store(true)
	s.drop.Store(true)
	return s.c.Abort()
}

func (s *sconn) LocalAddr() net.Addr   { return s.c.LocalAddr() }
func (s *sconn) RemoteAddr() net.Addr  { return s.c.RemoteAddr() }
func (s *sconn) Pending() int          { return s.c.Pending() }
func (s *sconn) Hold(n int)            { s.c.ec.Hold(n) }
func (s *sconn) PauseReading(p bool)   { s.c.ec.PauseReading(p) }
func (s *sconn) Context() any          { return s.value }
func (s *sconn) SetContext(v any)      { s.value = v }
func (s *sconn) SetTimer(at time.Time) { s.c.SetTimer(at) }
func (s *sconn) Wake() error           { return s.c.Wake() }
