package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ClientConn is a WebSocket client over a net.Conn with blocking calls, for
// simple programs and the CLI. One goroutine may read (ReadMessage) while
// others write (WriteMessage, CloseWrite); Close may be called from any.
type ClientConn struct {
	nc          net.Conn
	opts        ClientOptions
	subprotocol string

	rmu      sync.Mutex // held by the reader
	rd       frameReader
	buf      []byte
	r, w     int
	gotClose bool
	rerr     error // sticky: the reading side is over

	wmu       sync.Mutex // orders whole frames; nothing after the close frame
	sentClose bool
	wbuf      []byte
}

// readBuf is the read buffer of a ClientConn; it also bounds a response
// head, together with ClientOptions.MaxHeader.
const readBuf = 16 << 10

// Dial performs the opening handshake on nc, a connection the caller made
// (a TCP or Unix socket, or a TLS connection for wss). target names what
// to ask for: a URL ("ws://host:8080/chat?x=1"; the scheme is not used, the
// caller chose the transport), "host:8080/chat", or just "/chat" (the Host
// header is then nc's remote address). ClientOptions.Host, if set,
// overrides the Host header; ClientOptions.Path is not used. ctx bounds the
// handshake; it is not kept. Dial leaves nc without deadlines. On failure
// nc is left open for the caller to close.
func Dial(ctx context.Context, nc net.Conn, target string, opts ClientOptions) (*ClientConn, error) {
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
	c := &ClientConn{nc: nc, opts: opts, rd: frameReader{max: opts.MaxMessage}, buf: make([]byte, max(readBuf, opts.MaxHeader+1))}

	// When ctx ends, a deadline in the past unblocks the handshake's I/O;
	// ctx.Err() is set by then, so it is what Dial returns.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err = c.handshake(host)
	if !stop() || ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	nc.SetDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	return c, nil
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

func (c *ClientConn) handshake(host string) error {
	key := newKey()
	if _, err := c.nc.Write(upgradeRequest(host, c.opts.Path, key, &c.opts)); err != nil {
		return err
	}
	max := min(c.opts.MaxHeader, len(c.buf))
	for {
		n, sub, herr := parseResponse(c.buf[:c.w], max, key, c.opts.Subprotocols)
		if herr != nil {
			return herr
		}
		if n > 0 {
			c.r, c.subprotocol = n, sub
			return nil
		}
		k, err := c.nc.Read(c.buf[c.w:])
		c.w += k
		if k == 0 && err != nil {
			if err == io.EOF {
				return hsErr(0, "the server closed the connection before answering")
			}
			return err
		}
	}
}

// Subprotocol is the subprotocol the server chose, "" for none.
func (c *ClientConn) Subprotocol() string { return c.subprotocol }

// NetConn is the connection underneath.
func (c *ClientConn) NetConn() net.Conn { return c.nc }

// ReadMessage blocks until a whole message arrives and returns it (data is
// the caller's). It answers pings with pongs on its way. Once the server
// has sent a close frame it returns a *CloseError with the server's code
// (the close frame is answered), and after a protocol violation a
// *ProtocolError (the connection is failed with a close frame); every
// later call returns the same error.
func (c *ClientConn) ReadMessage() (Opcode, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.read()
}

// read is ReadMessage with rmu held.
func (c *ClientConn) read() (Opcode, []byte, error) {
	for c.rerr == nil {
		n, op, data, perr := c.rd.next(c.buf[c.r:c.w])
		c.r += n
		if perr != nil {
			c.writeFrame(OpClose, closePayload(perr.Code, perr.Msg))
			c.rerr = perr
			break
		}
		switch op {
		case 0:
			c.fill()
		case OpText, OpBinary:
			return op, bytes.Clone(data), nil
		case OpPing:
			c.writeFrame(OpPong, data)
		case OpClose:
			code, reason, _ := parseClose(data)
			c.writeFrame(OpClose, closePayload(code, ""))
			c.gotClose, c.rerr = true, &CloseError{Code: code, Reason: reason}
		}
	}
	return 0, nil, c.rerr
}

// fill reads more input, keeping what is unconsumed (at most a partial
// frame header: the reader consumes payload as it comes).
func (c *ClientConn) fill() {
	c.w = copy(c.buf, c.buf[c.r:c.w])
	c.r = 0
	k, err := c.nc.Read(c.buf[c.w:])
	c.w += k
	switch {
	case k > 0 || err == nil:
	case err == io.EOF:
		c.rerr = ErrNoCloseFrame
	default:
		c.rerr = err
	}
}

// WriteMessage sends one message (OpText, OpBinary) or control frame
// (OpPing, OpPong) in a single masked frame; it blocks until the kernel
// has taken it. It fails with ErrCloseSent after CloseWrite or Close.
func (c *ClientConn) WriteMessage(op Opcode, data []byte) error {
	if err := checkWrite(op, data); err != nil {
		return err
	}
	return c.writeFrame(op, data)
}

// writeFrame writes one frame, unless a close frame went first.
func (c *ClientConn) writeFrame(op Opcode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentClose {
		return ErrCloseSent
	}
	if op == OpClose {
		c.sentClose = true
	}
	c.wbuf = appendFrame(c.wbuf[:0], true, op, payload, true, maskKey(true))
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > retainMax {
		c.wbuf = nil
	}
	return err
}

// CloseWrite sends a close frame with code and reason: no more messages
// will be sent, and the server will answer with its own close frame, which
// ReadMessage returns as a *CloseError. code 0 sends no code.
func (c *ClientConn) CloseWrite(code CloseCode, reason string) error {
	if code != 0 && !code.sendable() {
		return ErrBadCloseCode
	}
	return c.writeFrame(OpClose, closePayload(code, reason))
}

// Close runs the closing handshake and closes the connection: it sends a
// close frame (unless CloseWrite did), reads and drops messages until the
// server's close frame, waits for the server to close TCP first (RFC 6455,
// 7.1.1), and closes. ClientOptions.CloseTimeout bounds the waiting; a
// concurrent ReadMessage returns within it. The error is nil after a clean
// handshake.
func (c *ClientConn) Close(code CloseCode, reason string) error {
	werr := c.CloseWrite(code, reason)
	if errors.Is(werr, ErrCloseSent) {
		werr = nil
	}
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	c.rmu.Lock()
	var rerr error
	if werr == nil {
		for c.rerr == nil {
			c.read()
		}
		if c.gotClose {
			// The server closes first: wait for its FIN, dropping anything.
			for {
				if _, err := c.nc.Read(c.buf); err != nil {
					break
				}
			}
		} else if !errors.As(c.rerr, new(*ProtocolError)) {
			rerr = c.rerr
		}
	}
	c.rmu.Unlock()
	return errors.Join(werr, rerr, c.nc.Close())
}
