package ws

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit/engine"
)

// MessageHandler is a WebSocket service. Its methods are called on the
// connection's event loop, one at a time per connection, like an
// engine.Handler's: they must not block.
type MessageHandler interface {
	// OnOpen is called once the opening handshake has succeeded.
	OnOpen(c *Conn)
	// OnMessage is called with each complete message, fragments
	// reassembled: op is OpText (data is valid UTF-8) or OpBinary. data is
	// valid only during the call.
	OnMessage(c *Conn, op Opcode, data []byte)
	// OnClose is called once when the connection is gone. code and reason
	// are the peer's close frame after a close handshake (CloseNoStatus if
	// it had no code); the code this side sent when it failed the
	// connection for a protocol error (err is then a *ProtocolError); or
	// CloseAbnormal when there was no close frame (err says why, if the
	// engine knows). err is nil after a clean close handshake.
	//
	// On the server, OnClose follows OnOpen: a connection that never
	// upgrades does not reach the MessageHandler. On the client (NewClient),
	// OnClose is called for every connection, also without OnOpen when the
	// connect or the handshake fails (err is then the engine's connect error
	// or a *HandshakeError).
	OnClose(c *Conn, code CloseCode, reason string, err error)
}

// Defaults for the zero values of ServerOptions and ClientOptions.
const (
	DefaultMaxMessage       = 1 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
)

// Errors of Conn, BlockingConn and Stream.
var (
	// ErrCloseSent: a close frame was sent, so no more messages can be.
	ErrCloseSent = errors.New("websocket: close frame already sent")
	// ErrCloseTimeout: the peer did not answer a close frame in time.
	ErrCloseTimeout = errors.New("websocket: no answer to the close frame in time")
	// ErrNoCloseFrame: the TCP connection ended without a close frame.
	ErrNoCloseFrame = errors.New("websocket: connection ended without a close frame")
	// ErrBadOpcode: WriteMessage was given an opcode it cannot send.
	ErrBadOpcode = errors.New("websocket: cannot send this opcode with WriteMessage")
	// ErrControlTooLong: a ping or pong payload longer than 125 bytes.
	ErrControlTooLong = errors.New("websocket: control frame payload longer than 125 bytes")
	// ErrShuttingDown: the engine shut down before the upgrade was done.
	ErrShuttingDown = errors.New("websocket: the server shut down before the upgrade")
	// ErrBadCloseCode: Close was given a code that may not be sent.
	ErrBadCloseCode = errors.New("websocket: close code may not be sent")
)

type connState uint8

const (
	stateHandshake connState = iota // reading the upgrade request or response
	stateOpen                       // exchanging frames
	stateClosing                    // handshake over or failed: input is discarded
	stateDone                       // OnClose has run
)

// Conn is one WebSocket connection on the engine, server or client side.
//
// WriteMessage, Context and SetContext belong to the MessageHandler's
// callbacks (the connection's loop). AsyncWriteMessage and Close are safe
// from any goroutine.
type Conn struct {
	ec     engine.Conn
	h      MessageHandler
	st     *Counters
	client bool

	req         *Request // server only
	path        string
	subprotocol string
	value       any

	// Loop-owned.
	state        connState
	opened       bool
	rd           frameReader
	deadline     time.Time // of the handshake, or of the close handshake once a close frame is sent
	closeTimeout time.Duration
	gotClose     bool        // the peer's close frame arrived
	deferred     atomic.Bool // a CloseFrameHandler holds the answer to the peer's close frame
	code         CloseCode   // what OnClose reports
	reason       string
	err          error
	key          string // client: the Sec-WebSocket-Key sent
	held         int    // what the reader holds, as last reported with Hold

	// wmu orders whole frames and the close frame: nothing is written
	// after it.
	wmu       sync.Mutex
	sentClose bool
	done      atomic.Bool // OnClose ran
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.ec.RemoteAddr() }

// LocalAddr is this side's address.
func (c *Conn) LocalAddr() net.Addr { return c.ec.LocalAddr() }

// Path is the request path of the upgrade (without the query).
func (c *Conn) Path() string { return c.path }

// Request is the upgrade request on the server side, nil on the client.
func (c *Conn) Request() *Request { return c.req }

// Subprotocol is the subprotocol the handshake agreed on, "" for none.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// CloseFrameHandler is implemented by MessageHandlers that have more to
// send after the peer's close frame (a relay whose target still answers, a
// stream whose peer half-closed): instead of answering the close frame at
// once, the connection calls OnCloseFrame, reads nothing more, still sends
// messages, and sends its close frame (and closes the TCP connection) when
// the handler calls Close. RFC 6455, 5.5.1 lets an endpoint delay its
// close frame so. When this side's close frame went first, the peer's
// answers it and ends the closing handshake: OnCloseFrame is called all
// the same, and the TCP connection closes after it returns.
type CloseFrameHandler interface {
	OnCloseFrame(c *Conn, code CloseCode, reason string)
}

// TimerHandler is implemented by MessageHandlers that schedule work of
// their own with Conn.SetTimer or Conn.Wake (a load generator pacing its
// messages). OnTimer runs on the connection's loop, so it may WriteMessage.
type TimerHandler interface {
	OnTimer(c *Conn)
}

// SetTimer asks for one call of the handler's OnTimer at or soon after at
// (a zero at cancels), while the connection is open and no close frame has
// gone out, or while a CloseFrameHandler holds its answer to the peer's
// close frame (the stream is half-closed: the handler may still write).
// Call it only from the handler's callbacks.
func (c *Conn) SetTimer(at time.Time) {
	if c.state == stateOpen || c.answering() {
		c.ec.SetTimer(at)
	}
}

// answering reports whether the peer's close frame has come and a
// CloseFrameHandler has yet to answer it: it may still send messages, and
// its timer and Wake still reach its OnTimer. Loop only.
func (c *Conn) answering() bool {
	if c.state != stateClosing || !c.deferred.Load() {
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return !c.sentClose
}

// Wake asks for a call of the handler's OnTimer as soon as the loop can;
// safe from any goroutine.
func (c *Conn) Wake() error { return c.ec.Wake() }

// Pending is the number of bytes queued in the engine and not yet written
// to the kernel. Call it only from the handler's callbacks.
func (c *Conn) Pending() int { return c.ec.Pending() }

// Context and SetContext hold one value for the MessageHandler. Call them
// only from its callbacks.
func (c *Conn) Context() any     { return c.value }
func (c *Conn) SetContext(v any) { c.value = v }

// WriteMessage sends one message (OpText, OpBinary) or control frame
// (OpPing, OpPong) in a single frame; it never blocks. The engine queues
// a copy, with the engine.Conn.Write limits (engine.ErrOutputFull). Text
// is not checked: send valid UTF-8. It fails with ErrCloseSent after Close.
// Call it only from the connection's callbacks; AsyncWriteMessage is for
// other goroutines.
func (c *Conn) WriteMessage(op Opcode, data []byte) error {
	return c.write(op, data, false)
}

// AsyncWriteMessage is WriteMessage for any goroutine, through
// engine.Conn.AsyncWrite.
func (c *Conn) AsyncWriteMessage(op Opcode, data []byte) error {
	return c.write(op, data, true)
}

func (c *Conn) write(op Opcode, data []byte, async bool) error {
	if err := checkWrite(op, data); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentClose {
		return ErrCloseSent
	}
	if c.done.Load() {
		return engine.ErrClosed
	}
	fb := getFrameBuf()
	frame := appendFrame((*fb)[:0], true, op, data, c.client, maskKey(c.client))
	// Counted before the write: the peer may read the message (and look
	// at the counters) before the write returns.
	if !op.IsControl() {
		c.st.messagesOut.Add(1)
		c.st.bytesOut.Add(uint64(len(data)))
	}
	var err error
	if async {
		err = c.ec.AsyncWrite(frame) // copies
	} else {
		_, err = c.ec.Write(frame) // copies what the kernel does not take
	}
	putFrameBuf(fb, frame)
	if err != nil && !op.IsControl() {
		c.st.messagesOut.Add(^uint64(0))
		c.st.bytesOut.Add(-uint64(len(data)))
	}
	return err
}

func checkWrite(op Opcode, data []byte) error {
	switch op {
	case OpText, OpBinary:
		return nil
	case OpPing, OpPong:
		if len(data) > maxControl {
			return ErrControlTooLong
		}
		return nil
	}
	return ErrBadOpcode
}

// maskKey returns a fresh masking key for a client frame (RFC 6455, 5.3:
// unpredictable; math/rand/v2's generator is ChaCha8, seeded from the
// system), or zero for a server frame.
func maskKey(client bool) [4]byte {
	var k [4]byte
	if client {
		v := rand.Uint32()
		k = [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	}
	return k
}

// Close starts the closing handshake: it sends a close frame with code and
// reason (cut to 123 bytes), after which no message can be sent. Messages
// still arrive until the peer answers with its close frame; then the TCP
// connection is closed and OnClose follows. If the peer does not answer
// within the close timeout, the connection is closed anyway (OnClose gets
// ErrCloseTimeout). code 0 sends a close frame without a code. Safe from
// any goroutine.
func (c *Conn) Close(code CloseCode, reason string) error {
	if code != 0 && !code.sendable() {
		return ErrBadCloseCode
	}
	c.wmu.Lock()
	if c.sentClose {
		c.wmu.Unlock()
		return ErrCloseSent
	}
	c.sentClose = true
	err := c.ec.AsyncWrite(appendFrame(nil, true, OpClose, closePayload(code, reason), c.client, maskKey(c.client)))
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	if c.deferred.Load() {
		// The answer to the peer's close frame: the handshake is done,
		// and the TCP connection closes after what is queued.
		return c.ec.Close()
	}
	return c.ec.Wake() // the loop arms the close timeout in OnTimer
}

// Abort resets the TCP connection at once, without a closing handshake:
// nothing queued is sent, and OnClose follows with CloseAbnormal. Safe
// from any goroutine.
func (c *Conn) Abort() error { return c.ec.Abort() }

// goingAway starts the closing handshake with 1001 when the engine shuts
// down (on either side: 1001 is "going away" for a server or a client),
// unless a close frame went first; a connection still waiting for its
// upgrade (a browser's spare socket, say) is closed at once.
func (c *Conn) goingAway() {
	switch c.state {
	case stateOpen:
		c.Close(CloseGoingAway, "shutting down")
	case stateHandshake:
		c.abandon(ErrShuttingDown)
	}
}

// writeNow writes one frame from the loop, unless a close frame went
// first. It reports whether the frame was written.
func (c *Conn) writeNow(op Opcode, payload []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentClose {
		return false
	}
	if op == OpClose {
		c.sentClose = true
	}
	fb := getFrameBuf()
	frame := appendFrame((*fb)[:0], true, op, payload, c.client, maskKey(c.client))
	_, err := c.ec.Write(frame)
	putFrameBuf(fb, frame)
	return err == nil
}

// framePool holds the buffers frames are built in on the engine: the
// engine copies what it queues, so a connection keeps none between
// writes.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

func getFrameBuf() *[]byte { return framePool.Get().(*[]byte) }

// putFrameBuf gives fb back holding frame, the buffer it grew into, unless
// that grew past retainMax.
func putFrameBuf(fb *[]byte, frame []byte) {
	if cap(frame) <= retainMax {
		*fb = frame[:0]
		framePool.Put(fb)
	}
}

// account tells the engine's budget what the reader holds for input not
// yet whole: a message being assembled (the buffer it keeps between
// messages, at most retainMax, is the connection's own).
func (c *Conn) account() {
	h := 0
	if c.rd.msgOp != 0 {
		h = cap(c.rd.msg)
	}
	if d := h - c.held; d != 0 {
		c.ec.Hold(d)
		c.held = h
	}
}

// frames reads frames from in while the connection is open, and returns
// how much of in it consumed.
func (c *Conn) frames(in []byte) int {
	defer c.account()
	off := 0
	for c.state == stateOpen {
		n, op, data, perr := c.rd.next(in[off:])
		off += n
		if perr != nil {
			c.fail(perr)
			break
		}
		switch op {
		case 0:
			return off
		case OpText, OpBinary:
			c.st.messagesIn.Add(1)
			c.st.bytesIn.Add(uint64(len(data)))
			c.h.OnMessage(c, op, data)
			c.rd.release() // an idle connection keeps no message buffer
		case OpPing:
			// Counted before the pong goes out: the peer may read the pong
			// (and look at the counters) before writeNow returns.
			c.st.pings.Add(1)
			if !c.writeNow(OpPong, data) {
				c.st.pings.Add(^uint64(0))
			}
		case OpPong:
			// Unsolicited pongs are allowed as heartbeats (RFC 6455, 5.5.3).
		case OpClose:
			code, reason, _ := parseClose(data) // checked by the reader
			c.closeFrame(code, reason)
		}
	}
	return len(in) // closing: the rest is discarded
}

// closeFrame answers the peer's close frame with one of ours (echoing its
// code) unless ours went first, and closes the TCP connection: the server
// closes first per RFC 6455, 7.1.1, and the client, which has nothing more
// to say, closes too (engine Close waits for the peer's FIN). A
// CloseFrameHandler answers when it is done instead.
func (c *Conn) closeFrame(code CloseCode, reason string) {
	c.st.closes.Add(1)
	c.gotClose, c.code, c.reason = true, code, reason
	ch, delays := c.h.(CloseFrameHandler)
	c.wmu.Lock()
	sent := c.sentClose
	c.wmu.Unlock()
	c.state = stateClosing // nothing more is read
	if delays && !sent {
		// The handler answers when it has said all it has to say.
		c.deferred.Store(true)
		ch.OnCloseFrame(c, code, reason)
		return
	}
	c.writeNow(OpClose, closePayload(code, ""))
	if delays {
		ch.OnCloseFrame(c, code, reason)
	}
	c.ec.Close()
}

// fail fails the connection for a protocol error (RFC 6455, 7.1.7): a close
// frame with the error's code, then the TCP close.
func (c *Conn) fail(perr *ProtocolError) {
	c.st.failed(perr.Code)
	c.code, c.err = perr.Code, perr
	c.writeNow(OpClose, closePayload(perr.Code, perr.Msg))
	c.state = stateClosing
	c.ec.Close()
}

// abandon ends the connection without a close handshake (a handshake that
// failed, a peer gone, a timeout).
func (c *Conn) abandon(err error) {
	if c.err == nil {
		c.err = err
	}
	c.state = stateClosing
	c.ec.Close()
}

// peerClosed handles the peer's FIN.
func (c *Conn) peerClosed() {
	switch c.state {
	case stateHandshake:
		c.abandon(hsErr(0, "the peer closed the connection during the handshake"))
	case stateOpen:
		c.abandon(ErrNoCloseFrame)
	default:
		c.ec.Close()
	}
}

// timer handles OnTimer: the handshake deadline, and the close timeout,
// which Close asks for through Wake.
func (c *Conn) timer() {
	now := time.Now()
	switch c.state {
	case stateHandshake:
		if !c.deadline.IsZero() && !now.Before(c.deadline) {
			c.abandon(hsErr(0, "no handshake within the timeout"))
		}
	case stateOpen:
		c.wmu.Lock()
		sent := c.sentClose
		c.wmu.Unlock()
		switch {
		case !sent:
			// Not the close timeout: the handler's own SetTimer or Wake.
			if th, ok := c.h.(TimerHandler); ok {
				th.OnTimer(c)
			}
		case c.deadline.IsZero():
			c.deadline = now.Add(c.closeTimeout)
			c.ec.SetTimer(c.deadline)
		case !now.Before(c.deadline):
			c.abandon(ErrCloseTimeout)
		default:
			c.ec.SetTimer(c.deadline)
		}
	case stateClosing:
		// The half-closed stream of a CloseFrameHandler: its own timer
		// and Wake, until it answers.
		if th, ok := c.h.(TimerHandler); ok && c.answering() {
			th.OnTimer(c)
		}
	}
}

// closed handles the engine's OnClose.
func (c *Conn) closed(err error) {
	c.state = stateDone
	c.done.Store(true)
	if !c.opened && !c.client {
		return
	}
	code, reason := c.code, c.reason
	switch {
	case c.gotClose:
		err = c.err
	case c.err != nil:
		if _, ok := c.err.(*ProtocolError); !ok {
			code = CloseAbnormal
		}
		if err == nil {
			err = c.err
		} else {
			err = errors.Join(c.err, err)
		}
	default:
		code = CloseAbnormal
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
	}
	c.h.OnClose(c, code, reason, err)
}

// Counters count the handshakes and messages of one or more Servers,
// Clients and blocking connections: share one (ServerOptions.Counters,
// ClientOptions.Counters) to get a total. The zero value is ready to use;
// it is safe for concurrent use.
type Counters struct {
	upgrades, rejected, http         atomic.Uint64
	httpRefused                      atomic.Uint64 // plain HTTP requests answered with an error
	messagesIn, messagesOut          atomic.Uint64
	bytesIn, bytesOut, pings, closes atomic.Uint64
	protocolErrors                   [16]atomic.Uint64 // by close code - 1000

	origins atomic.Uint64 // upgrades refused for their Origin
}

func (s *Counters) failed(code CloseCode) {
	if code >= 1000 && code < 1016 {
		s.protocolErrors[code-1000].Add(1)
	}
}

// Stats are a snapshot of Counters: of a Server or Client over all its
// connections, or of whatever shares the Counters.
type Stats struct {
	Upgrades uint64 // opening handshakes completed
	Rejected uint64 // opening handshakes refused (server: an upgrade request answered 4xx; client: bad answers)
	HTTP     uint64 // plain HTTP requests answered by ServerOptions.HTTP
	// HTTPRefused counts plain HTTP requests (no upgrade asked for)
	// answered with an error: a path with no page (a browser's
	// /favicon.ico), no page at all (426), a method other than GET or
	// HEAD. They are not in Rejected.
	HTTPRefused uint64
	MessagesIn  uint64 // whole messages received
	MessagesOut uint64 // messages sent
	BytesIn     uint64 // payload bytes of the messages received
	BytesOut    uint64 // payload bytes of the messages sent
	Pings       uint64 // pings answered with a pong
	Closes      uint64 // close frames received
	// ProtocolErrors counts connections failed for the peer's violations,
	// by the close code sent: CloseProtocolError, CloseInvalidPayload,
	// CloseMessageTooBig.
	ProtocolErrors map[CloseCode]uint64

	// OriginRefused counts the upgrades of Rejected refused for their
	// Origin (ServerOptions.CheckOrigin): pages of other sites.
	OriginRefused uint64
}

// Stats returns a snapshot of the counters.
func (s *Counters) Stats() Stats {
	st := Stats{
		Upgrades: s.upgrades.Load(), Rejected: s.rejected.Load(), HTTP: s.http.Load(), HTTPRefused: s.httpRefused.Load(),
		MessagesIn: s.messagesIn.Load(), MessagesOut: s.messagesOut.Load(),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		Pings: s.pings.Load(), Closes: s.closes.Load(), OriginRefused: s.origins.Load(),
		ProtocolErrors: map[CloseCode]uint64{},
	}
	for i := range s.protocolErrors {
		if n := s.protocolErrors[i].Load(); n > 0 {
			st.ProtocolErrors[CloseCode(1000+i)] = n
		}
	}
	return st
}
