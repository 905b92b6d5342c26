package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit/internal/resume"
)

// BlockingConn is a WebSocket connection over a net.Conn with blocking
// calls, either side of it: Dial makes a client, Accept a server. It is for
// simple programs, the CLI and the relay; Stream shows one as a byte
// stream.
//
// One goroutine may read (ReadMessage) while others write (WriteMessage,
// CloseWrite); Close may be called from any goroutine, and cuts short a
// read or a write in progress. Deadlines are those of the connection
// underneath (NetConn). A write that a write deadline cuts short is not
// lost half-way: its frame stays whole, and what is left of it goes out
// first with the next write.
type BlockingConn struct {
	nc           net.Conn     // what frames are written to and read from: the socket, or TLS over it
	rw           *resume.Conn // under nc, right above the socket
	client       bool         // masks its frames, and expects them unmasked
	closeTimeout time.Duration
	st           *Counters
	subprotocol  string
	req          *Request    // the server's upgrade request
	closing      atomic.Bool // Close has begun

	rmu      sync.Mutex // held by the reader
	rd       frameReader
	buf      []byte
	r, w     int
	gotClose bool  // the peer's close frame arrived
	rerr     error // sticky: the reading side is over
	hold     bool  // Stream: the peer's close frame is not answered at once

	wmu       sync.Mutex // orders whole frames; nothing after the close frame
	sentClose bool
	wbuf      []byte

	pmu  sync.Mutex // guards pong and owed
	pong []byte     // the payload of a pong owed to a ping, when a writer held wmu
	owed bool       // a pong is owed (its payload may be empty)
}

// readBuf is the read buffer of a BlockingConn; it also bounds a request
// or response head, together with the options' MaxHeader.
const readBuf = 16 << 10

func newBlocking(nc net.Conn, client bool, maxMessage, maxHeader int, closeTimeout time.Duration, st *Counters) *BlockingConn {
	rw, top := resume.Split(nc)
	return &BlockingConn{nc: top, rw: rw, client: client, closeTimeout: closeTimeout, st: st,
		rd: frameReader{max: maxMessage, masked: !client}, buf: make([]byte, max(readBuf, maxHeader+1))}
}

// Dial performs the opening handshake on nc, a connection the caller made
// (a TCP or Unix socket, or TLS over one for wss). target names what to
// ask for: a URL ("ws://host:8080/chat?x=1"; the scheme is not used, the
// caller chose the transport), "host:8080/chat", or just "/chat" (the Host
// header is then nc's remote address). ClientOptions.Host, if set,
// overrides the Host header; ClientOptions.Path and HandshakeTimeout are
// not used. ctx bounds the handshake; it is not kept. Dial leaves nc
// without deadlines. On failure nc is left open for the caller to close.
//
// TLS for wss is best built on the resumable writer package layer puts
// over the socket, so that a write deadline cannot break the TLS stream;
// layer.Dial does all of it.
func Dial(ctx context.Context, nc net.Conn, target string, opts ClientOptions) (*BlockingConn, error) {
	host, path, err := splitTarget(target)
	if err != nil {
		return nil, err
	}
	if host == "" && nc.RemoteAddr() != nil {
		host = nc.RemoteAddr().String()
	}
	if opts.Host != "" {
		host = opts.Host
	}
	opts.Path = path
	opts = opts.withDefaults()
	c := newBlocking(nc, true, opts.MaxMessage, opts.MaxHeader, opts.CloseTimeout, opts.Counters)
	err = c.bounded(ctx, func() error { return c.clientHandshake(host, &opts) })
	if err != nil {
		return nil, err
	}
	c.st.upgrades.Add(1)
	return c, nil
}

// Accept performs the server side of the opening handshake on nc, a
// connection a listener accepted (or TLS over one, for wss): it reads the
// request and answers it as NewServer's handler does, with the same
// options (Path, Subprotocols, CheckOrigin, MaxHeader, HTTP, MaxMessage,
// CloseTimeout; HandshakeTimeout is not used). ctx bounds the handshake;
// it is not kept. A refused request gets its 4xx answer and Accept returns
// the *HandshakeError; a plain GET that ServerOptions.HTTP answers gets
// its page, and Accept returns ErrPlainHTTP. Accept leaves nc without
// deadlines; on failure nc is left open for the caller to close.
func Accept(ctx context.Context, nc net.Conn, opts ServerOptions) (*BlockingConn, error) {
	opts = opts.withDefaults()
	c := newBlocking(nc, false, opts.MaxMessage, opts.MaxHeader, opts.CloseTimeout, opts.Counters)
	if err := c.bounded(ctx, func() error { return c.serverHandshake(&opts) }); err != nil {
		return nil, err
	}
	c.st.upgrades.Add(1)
	return c, nil
}

// ErrPlainHTTP is Accept's error for a plain HTTP request that
// ServerOptions.HTTP answered: there is no WebSocket connection.
var ErrPlainHTTP = errors.New("websocket: answered a plain HTTP request, not an upgrade")

// bounded runs a handshake within ctx: when ctx ends, a deadline in the
// past unblocks the handshake's I/O, and ctx.Err() is part of the error.
func (c *BlockingConn) bounded(ctx context.Context, handshake func() error) error {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	err := handshake()
	if !stop() || ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	c.nc.SetDeadline(time.Time{})
	return err
}

// splitTarget reads Dial's target.
func splitTarget(target string) (host, path string, err error) {
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return "", "", err
		}
		return u.Host, u.RequestURI(), nil
	}
	if strings.HasPrefix(target, "/") {
		return "", target, nil
	}
	host, path, _ = strings.Cut(target, "/")
	return host, "/" + path, nil
}

func (c *BlockingConn) clientHandshake(host string, opts *ClientOptions) error {
	key := newKey()
	if _, err := c.nc.Write(upgradeRequest(host, opts.Path, key, opts)); err != nil {
		return err
	}
	limit := min(opts.MaxHeader, len(c.buf))
	for {
		n, sub, herr := parseResponse(c.buf[:c.w], limit, key, opts.Subprotocols)
		if herr != nil {
			c.st.rejected.Add(1)
			return herr
		}
		if n > 0 {
			c.r, c.subprotocol = n, sub
			return nil
		}
		if err := c.readHead("the server closed the connection before answering"); err != nil {
			return err
		}
	}
}

func (c *BlockingConn) serverHandshake(opts *ServerOptions) error {
	for {
		req, n, herr := parseRequest(c.buf[:c.w], opts.MaxHeader)
		if herr == nil && n == 0 {
			if err := c.readHead("the client closed the connection before its request was whole"); err != nil {
				return err
			}
			continue
		}
		var v verdict
		if herr == nil {
			req.RemoteAddr = c.nc.RemoteAddr()
			v = decide(opts, req)
		} else {
			v = refuse(herr)
		}
		c.st.count(v)
		if _, err := c.nc.Write(v.resp); err != nil {
			return err
		}
		switch {
		case v.err != nil:
			return v.err
		case !v.upgrade:
			return ErrPlainHTTP
		}
		c.r, c.subprotocol, c.req = n, v.subprotocol, req
		return nil
	}
}

// readHead reads more of a handshake's head; the peer's EOF is an error
// saying gone what.
func (c *BlockingConn) readHead(gone string) error {
	k, err := c.nc.Read(c.buf[c.w:])
	c.w += k
	if k == 0 && err != nil {
		if err == io.EOF {
			return hsErr(0, "%s", gone)
		}
		return err
	}
	return nil
}

// Subprotocol is the subprotocol the handshake agreed on, "" for none.
func (c *BlockingConn) Subprotocol() string { return c.subprotocol }

// Request is the upgrade request on the server side (Accept), nil on the
// client side.
func (c *BlockingConn) Request() *Request { return c.req }

// NetConn is the connection the frames go over.
func (c *BlockingConn) NetConn() net.Conn { return c.nc }

// ReadMessage blocks until a whole message arrives and returns it (data is
// the caller's). It answers pings with pongs on its way. Once the peer has
// sent a close frame it returns a *CloseError with the peer's code (the
// close frame is answered), and after a protocol violation a
// *ProtocolError (the connection is failed with a close frame); every
// later call returns the same error. A read deadline's timeout is returned
// as it is, and reading can go on after it; after Close, ReadMessage
// returns net.ErrClosed.
func (c *BlockingConn) ReadMessage() (Opcode, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closing.Load() {
		return 0, nil, net.ErrClosed
	}
	op, data, err := c.next()
	if err != nil {
		return 0, nil, c.cut(err)
	}
	return op, bytes.Clone(data), nil
}

// cut is a reader's error once Close has begun: net.ErrClosed for the
// deadline Close set to wake it.
func (c *BlockingConn) cut(err error) error {
	if c.closing.Load() && isTimeout(err) {
		return net.ErrClosed
	}
	return err
}

// next returns the next message, whose data is valid until the next call,
// answering pings on its way; see ReadMessage for its errors. A timeout
// does not end the reading side. Call it with rmu held.
func (c *BlockingConn) next() (Opcode, []byte, error) {
	for c.rerr == nil {
		n, op, data, perr := c.rd.next(c.buf[c.r:c.w])
		c.r += n
		if perr != nil {
			c.st.failed(perr.Code)
			c.writeFrame(OpClose, closePayload(perr.Code, perr.Msg))
			c.rerr = perr
			break
		}
		switch op {
		case 0:
			if err := c.fill(); err != nil {
				return 0, nil, err
			}
		case OpText, OpBinary:
			c.st.messagesIn.Add(1)
			c.st.bytesIn.Add(uint64(len(data)))
			return op, data, nil
		case OpPing:
			c.st.pings.Add(1)
			c.owePong(data)
		case OpClose:
			code, reason, _ := parseClose(data) // checked by the reader
			c.st.closes.Add(1)
			c.gotClose, c.rerr = true, &CloseError{Code: code, Reason: reason}
			if !c.hold {
				c.writeFrame(OpClose, closePayload(code, ""))
			}
		}
	}
	return 0, nil, c.rerr
}

// fill reads more input, keeping what is unconsumed (at most a partial
// frame header: the reader consumes payload as it comes). A timeout is
// returned without ending the reading side; the end of input and other
// errors end it.
func (c *BlockingConn) fill() error {
	c.w = copy(c.buf, c.buf[c.r:c.w])
	c.r = 0
	k, err := c.nc.Read(c.buf[c.w:])
	c.w += k
	switch {
	case k > 0 || err == nil:
		return nil
	case isTimeout(err):
		return err
	case err == io.EOF:
		c.rerr = ErrNoCloseFrame
	default:
		c.rerr = err
	}
	return c.rerr
}

// owePong answers a ping. A writer may hold wmu, blocked on a peer that
// waits for us to read: then the pong waits for that writer, which sends
// it when its frame is out, so that the reader never blocks on a writer.
func (c *BlockingConn) owePong(data []byte) {
	c.pmu.Lock()
	c.pong, c.owed = append(c.pong[:0], data...), true
	c.pmu.Unlock()
	c.payPong()
}

// payPong sends an owed pong unless a writer holds wmu; that writer calls
// payPong again after it lets go, so no pong is left behind.
func (c *BlockingConn) payPong() {
	for c.pongOwed() && c.wmu.TryLock() {
		c.payPongLocked()
		c.wmu.Unlock()
	}
}

func (c *BlockingConn) pongOwed() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.owed
}

// payPongLocked sends the owed pong; call it with wmu held.
func (c *BlockingConn) payPongLocked() {
	c.pmu.Lock()
	owed := c.owed
	if owed {
		c.wbuf = appendFrame(c.wbuf[:0], true, OpPong, c.pong, c.client, maskKey(c.client))
		c.owed = false
	}
	c.pmu.Unlock()
	if owed && !c.sentClose {
		c.nc.Write(c.wbuf)
	}
}

// WriteMessage sends one message (OpText, OpBinary) or control frame
// (OpPing, OpPong) in a single frame; it blocks until the frame is
// written. It fails with ErrCloseSent after CloseWrite or Close, and with
// a timeout error when the write deadline has passed (nothing is sent) or
// cut this write short (the frame is sent whole with the next write).
func (c *BlockingConn) WriteMessage(op Opcode, data []byte) error {
	if err := checkWrite(op, data); err != nil {
		return err
	}
	_, err := c.send(op, data)
	return err
}

// send writes a frame for the user of the connection, keeping to the
// write deadline; taken reports whether the frame was accepted (written,
// or whole in the tail a timeout left).
func (c *BlockingConn) send(op Opcode, data []byte) (taken bool, err error) {
	if c.closing.Load() {
		return false, net.ErrClosed
	}
	if err := c.rw.Begin(); err != nil {
		return false, err
	}
	if !op.IsControl() {
		// Counted before the write: the peer may read the message (and
		// look at the counters) before the write returns.
		c.st.messagesOut.Add(1)
		c.st.bytesOut.Add(uint64(len(data)))
	}
	if err := c.writeFrame(op, data); err != nil {
		if !op.IsControl() {
			c.st.messagesOut.Add(^uint64(0))
			c.st.bytesOut.Add(-uint64(len(data)))
		}
		return false, err
	}
	return true, c.rw.Check()
}

// writeFrame writes one frame, unless a close frame went first, and any
// pong owed.
func (c *BlockingConn) writeFrame(op Opcode, payload []byte) error {
	c.wmu.Lock()
	err := c.writeFrameLocked(op, payload)
	c.wmu.Unlock()
	c.payPong()
	return err
}

// writeFrameLocked is writeFrame with wmu held.
func (c *BlockingConn) writeFrameLocked(op Opcode, payload []byte) error {
	if c.sentClose {
		return ErrCloseSent
	}
	c.payPongLocked()
	if op == OpClose {
		c.sentClose = true
	}
	c.wbuf = appendFrame(c.wbuf[:0], true, op, payload, c.client, maskKey(c.client))
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > retainMax {
		c.wbuf = nil
	}
	return err
}

// CloseWrite sends a close frame with code and reason: no more messages
// will be sent, and the peer will answer with its own close frame, which
// ReadMessage returns as a *CloseError. code 0 sends no code.
func (c *BlockingConn) CloseWrite(code CloseCode, reason string) error {
	if code != 0 && !code.sendable() {
		return ErrBadCloseCode
	}
	_, err := c.send(OpClose, closePayload(code, reason))
	return err
}

// Close runs the closing handshake and closes the connection: it cuts
// short a read or write in progress (they return net.ErrClosed), sends a
// close frame (unless CloseWrite did), reads and drops messages until the
// peer's close frame, on the client side waits for the server to close
// TCP first (RFC 6455, 7.1.1), elsewhere half-closes and drops input until
// the peer closes too, and closes. The options' CloseTimeout bounds the
// waiting. The error is nil after a clean handshake, and
// ErrCloseTimeout when the peer did not answer in time; the connection is
// closed either way. Later calls return net.ErrClosed.
func (c *BlockingConn) Close(code CloseCode, reason string) error {
	if code != 0 && !code.sendable() {
		return ErrBadCloseCode
	}
	if c.closing.Swap(true) {
		return net.ErrClosed
	}
	end := time.Now().Add(c.closeTimeout)
	c.nc.SetDeadline(time.Unix(1, 0)) // wakes a reader and a writer in progress
	c.wmu.Lock()                      // the writer has let go: the new deadline is ours
	c.nc.SetWriteDeadline(end)
	werr := c.writeFrameLocked(OpClose, closePayload(code, reason))
	c.wmu.Unlock()
	c.payPong()
	if errors.Is(werr, ErrCloseSent) {
		werr = nil
	}
	c.rmu.Lock() // the reader has let go
	c.nc.SetReadDeadline(end)
	var rerr error
	for werr == nil && !c.gotClose && c.rerr == nil {
		if _, _, err := c.next(); err != nil && isTimeout(err) {
			rerr = ErrCloseTimeout
			break
		}
	}
	switch {
	case c.gotClose && c.client:
		// The server closes first: wait for its FIN, dropping anything.
		c.drain()
	case werr == nil && rerr == nil && !c.gotClose && !errors.As(c.rerr, new(*ProtocolError)):
		rerr = c.rerr
		fallthrough
	default:
		c.linger()
	}
	c.rmu.Unlock()
	return errors.Join(werr, rerr, c.nc.Close())
}

// linger ends our output (FIN; close_notify under TLS) and drops input
// until the peer's end of it or the close deadline, so that closing finds
// no unread input: close(2) on a TCP socket with unread input sends RST
// (RFC 2525, 2.17), which may discard our close frame before the peer
// reads it. A connection that cannot half-close is closed at once. Call it
// with rmu held.
func (c *BlockingConn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.drain()
	}
}

// drain reads and drops input until its end, an error, or the read
// deadline. Call it with rmu held.
func (c *BlockingConn) drain() {
	for {
		if _, err := c.nc.Read(c.buf); err != nil {
			return
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
