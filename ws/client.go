package ws

import (
	"net/textproto"
	"time"

	"github.com/sockit/sockit/engine"
)

// ClientOptions configure the client side: NewClient, NewStreamClient
// and Dial. The zero
// value asks for "/" with the defaults noted on each field.
type ClientOptions struct {
	// Host is the Host header; "" = the address connected to.
	Host string
	// Path is the request-target, with any query; "" = "/".
	Path string
	// Origin, if set, is sent as the Origin header, as a browser does.
	Origin string
	// Subprotocols are offered in Sec-WebSocket-Protocol, in order of
	// preference; the server's choice is Conn.Subprotocol.
	Subprotocols []string
	// Header holds extra header fields for the upgrade request.
	Header textproto.MIMEHeader
	// MaxMessage bounds a received message; 0 = DefaultMaxMessage.
	MaxMessage int
	// MaxHeader bounds the response head; 0 = DefaultMaxHeader.
	MaxHeader int
	// HandshakeTimeout bounds the wait for the server's response (NewClient
	// and NewStreamClient; Dial uses its context); 0 =
	// DefaultHandshakeTimeout, < 0 = none.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for the server's answer to a close
	// frame; 0 = DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Counters, if set, counts this client's handshakes and messages
	// (shared with others, for a total); nil = counters of its own.
	Counters *Counters
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Path == "" {
		o.Path = "/"
	}
	limitDefaults(&o.MaxMessage, &o.MaxHeader, &o.HandshakeTimeout, &o.CloseTimeout, &o.Counters)
	return o
}

// Client is the engine.Handler of WebSocket client connections, made with
// engine.Server.Dial: it sends the upgrade request when the connection
// opens, checks the response (RFC 6455, 4.2.2), masks every frame it sends
// with a fresh random key, and calls a MessageHandler. One Client may serve
// any number of dials; it keeps no state but its counters.
type Client struct {
	h    MessageHandler
	opts ClientOptions
	st   *Counters
}

// NewClient returns an engine.Handler for dialed connections that speaks
// WebSocket to the server and serves h:
//
//	srv.Dial(ep, ws.NewClient(h, ws.ClientOptions{Path: "/ws"}), engine.DialOptions{})
func NewClient(h MessageHandler, opts ClientOptions) *Client {
	opts = opts.withDefaults()
	return &Client{h: h, opts: opts, st: opts.Counters}
}

// Stats returns a snapshot of the client's counters (of all that share
// them, when ClientOptions.Counters is shared). Safe from any goroutine.
func (cl *Client) Stats() Stats { return cl.st.Stats() }

// OnOpen implements engine.Handler: it sends the upgrade request.
func (cl *Client) OnOpen(ec engine.Conn) {
	c := &Conn{ec: ec, h: cl.h, st: cl.st, client: true, closeTimeout: cl.opts.CloseTimeout,
		key: newKey(), path: cl.opts.Path}
	c.rd = frameReader{max: cl.opts.MaxMessage, masked: false}
	ec.SetContext(c)
	host := cl.opts.Host
	if host == "" && ec.RemoteAddr() != nil {
		host = ec.RemoteAddr().String()
	}
	if _, err := ec.Write(upgradeRequest(host, cl.opts.Path, c.key, &cl.opts)); err != nil {
		c.abandon(err)
		return
	}
	if cl.opts.HandshakeTimeout > 0 {
		c.deadline = time.Now().Add(cl.opts.HandshakeTimeout)
		ec.SetTimer(c.deadline)
	}
}

// OnData implements engine.Handler.
func (cl *Client) OnData(ec engine.Conn, in []byte) int {
	c := ec.Context().(*Conn)
	if c.state != stateHandshake {
		return c.frames(in)
	}
	n, sub, herr := parseResponse(in, cl.opts.MaxHeader, c.key, cl.opts.Subprotocols)
	switch {
	case herr != nil:
		cl.st.rejected.Add(1)
		c.abandon(herr)
		return len(in)
	case n == 0:
		return 0
	}
	c.subprotocol, c.state, c.opened = sub, stateOpen, true
	c.deadline = time.Time{}
	ec.SetTimer(time.Time{})
	cl.st.upgrades.Add(1)
	cl.h.OnOpen(c)
	return n + c.frames(in[n:])
}

// OnPeerClose implements engine.Handler.
func (cl *Client) OnPeerClose(ec engine.Conn) { ec.Context().(*Conn).peerClosed() }

// OnClose implements engine.Handler. A dial that never connected reaches
// the MessageHandler's OnClose too, with the connect error.
func (cl *Client) OnClose(ec engine.Conn, err error) {
	c, ok := ec.Context().(*Conn)
	if !ok {
		c = &Conn{ec: ec, h: cl.h, st: cl.st, client: true, path: cl.opts.Path}
	}
	c.closed(err)
}

// OnTimer implements engine.TimerHandler.
func (cl *Client) OnTimer(ec engine.Conn) { ec.Context().(*Conn).timer() }

// OnShutdown implements engine.ShutdownHandler: as on the server, an open
// connection is closed with 1001 (going away).
func (cl *Client) OnShutdown(ec engine.Conn) { ec.Context().(*Conn).goingAway() }
