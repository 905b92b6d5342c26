package ws

import (
	"bytes"
	"slices"
	"time"

	"github.com/sockit/sockit/engine"
)

// ServerOptions configure the server side: NewServer, NewStreamServer and
// Accept. The zero value serves WebSocket on every path, with the defaults
// noted on each field.
type ServerOptions struct {
	// Path is the request path WebSocket is served on; "" = any path.
	// An upgrade request for another path gets 404.
	Path string
	// Subprotocols the server speaks, in order of preference; the first
	// one the client also offers is chosen. None = no subprotocol.
	Subprotocols []string
	// CheckOrigin vets each upgrade request (its Origin header, say);
	// false answers 403 Forbidden, counted in Stats.OriginRefused. nil =
	// SameOrigin: a page from another origin is refused, a client that
	// sends no Origin (not a browser) is not. AllowOrigins admits more;
	// func(*Request) bool { return true } admits every page on the web.
	CheckOrigin func(r *Request) bool
	// HTTP, if set, answers plain HTTP GET and HEAD requests (no
	// Upgrade: websocket), on any path: a page for browsers on the same
	// address (to a HEAD only the head of its answer is sent). It runs on
	// the event loop, so it must not block. A status of 0 means "not
	// mine": the request gets the default answer, 426 on Path (or 404
	// elsewhere). The connection is closed after the response.
	HTTP func(r *Request) (status int, contentType string, body []byte)
	// MaxMessage bounds a received message (and frame); larger ones fail
	// the connection with CloseMessageTooBig. 0 = DefaultMaxMessage.
	MaxMessage int
	// MaxHeader bounds the request head; longer ones get 431.
	// 0 = DefaultMaxHeader.
	MaxHeader int
	// HandshakeTimeout bounds the wait for a whole request head;
	// 0 = DefaultHandshakeTimeout, < 0 = none.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for the client's answer to a close
	// frame the server sent (Conn.Close); 0 = DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Counters, if set, counts this server's handshakes and messages
	// (shared with others, for a total); nil = counters of its own.
	Counters *Counters
}

func (o ServerOptions) withDefaults() ServerOptions {
	limitDefaults(&o.MaxMessage, &o.MaxHeader, &o.HandshakeTimeout, &o.CloseTimeout, &o.Counters)
	return o
}

// limitDefaults gives the limits both sides share their defaults, where
// the options leave them zero.
func limitDefaults(maxMessage, maxHeader *int, handshake, closing *time.Duration, counters **Counters) {
	if *maxMessage <= 0 {
		*maxMessage = DefaultMaxMessage
	}
	if *maxHeader <= 0 {
		*maxHeader = DefaultMaxHeader
	}
	if *handshake == 0 {
		*handshake = DefaultHandshakeTimeout
	}
	if *closing <= 0 {
		*closing = DefaultCloseTimeout
	}
	if *counters == nil {
		*counters = new(Counters)
	}
}

// Server is the engine.Handler of a WebSocket server: it answers the
// opening handshake (RFC 6455, 4.2) and runs the framing on the engine's
// event loops, then calls a MessageHandler. One Server serves any number
// of listeners and connections; it keeps no state but its counters.
type Server struct {
	h    MessageHandler
	opts ServerOptions
	st   *Counters
}

var (
	_ engine.Handler         = (*Server)(nil)
	_ engine.TimerHandler    = (*Server)(nil)
	_ engine.ShutdownHandler = (*Server)(nil)
	_ engine.Handler         = (*Client)(nil)
	_ engine.TimerHandler    = (*Client)(nil)
)

// NewServer returns an engine.Handler that serves h over WebSocket:
//
//	srv.Listen(ep, ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/ws"}))
func NewServer(h MessageHandler, opts ServerOptions) *Server {
	opts = opts.withDefaults()
	return &Server{h: h, opts: opts, st: opts.Counters}
}

// Stats returns a snapshot of the server's counters (of all that share
// them, when ServerOptions.Counters is shared). Safe from any goroutine.
func (s *Server) Stats() Stats { return s.st.Stats() }

// OnOpen implements engine.Handler.
func (s *Server) OnOpen(ec engine.Conn) {
	c := &Conn{ec: ec, h: s.h, st: s.st, closeTimeout: s.opts.CloseTimeout}
	c.rd = frameReader{max: s.opts.MaxMessage, masked: true}
	ec.SetContext(c)
	if s.opts.HandshakeTimeout > 0 {
		c.deadline = time.Now().Add(s.opts.HandshakeTimeout)
		ec.SetTimer(c.deadline)
	}
}

// OnData implements engine.Handler.
func (s *Server) OnData(ec engine.Conn, in []byte) int {
	c := ec.Context().(*Conn)
	if c.state != stateHandshake {
		return c.frames(in)
	}
	n := s.handshake(c, in)
	if c.state != stateOpen {
		return n
	}
	return n + c.frames(in[n:])
}

// OnPeerClose implements engine.Handler.
func (s *Server) OnPeerClose(ec engine.Conn) { ec.Context().(*Conn).peerClosed() }

// OnClose implements engine.Handler.
func (s *Server) OnClose(ec engine.Conn, err error) {
	if c, ok := ec.Context().(*Conn); ok {
		c.closed(err)
	}
}

// OnTimer implements engine.TimerHandler.
func (s *Server) OnTimer(ec engine.Conn) { ec.Context().(*Conn).timer() }

// OnShutdown implements engine.ShutdownHandler: an open connection gets a
// close frame (1001, going away) at once, and its close handshake runs
// while the server's shutdown waits for its connections.
func (s *Server) OnShutdown(ec engine.Conn) { ec.Context().(*Conn).goingAway() }

// handshake reads the request head from in and answers it. It returns 0
// while the head is incomplete; after an answer other than 101 the
// connection is closing and all of in is consumed.
func (s *Server) handshake(c *Conn, in []byte) int {
	req, n, herr := parseRequest(in, s.opts.MaxHeader)
	if herr == nil && n == 0 {
		return 0
	}
	var v verdict
	if herr == nil {
		req.RemoteAddr = c.ec.RemoteAddr()
		v = decide(&s.opts, req)
	} else {
		v = refuse(herr)
	}
	s.st.count(v)
	c.ec.Write(v.resp)
	if !v.upgrade { // refused, or a plain HTTP answer
		c.abandon(v.err.orNil())
		return len(in)
	}
	c.req, c.path, c.subprotocol, c.state = req, req.Path, v.subprotocol, stateOpen
	c.deadline = time.Time{}
	c.ec.SetTimer(time.Time{})
	c.opened = true
	s.st.upgrades.Add(1)
	s.h.OnOpen(c)
	return n
}

// verdict is a server's answer to a whole request head.
type verdict struct {
	resp        []byte          // what to send
	upgrade     bool            // resp is the 101 of an upgrade
	page        bool            // resp is a page of ServerOptions.HTTP
	subprotocol string          // the upgrade's subprotocol, "" for none
	err         *HandshakeError // refused: resp says why
	origin      bool            // refused for its Origin
	plain       bool            // the request asked for no upgrade: a plain HTTP request
}

// refuse is the verdict on a request that failed.
func refuse(herr *HandshakeError) verdict { return verdict{resp: errorResponse(herr), err: herr} }

// count notes a verdict that is not an upgrade; an upgrade is counted
// once the connection opens.
func (s *Counters) count(v verdict) {
	switch {
	case v.err != nil && v.plain:
		s.httpRefused.Add(1)
	case v.err != nil:
		s.rejected.Add(1)
		if v.origin {
			s.origins.Add(1)
		}
	case v.page:
		s.http.Add(1)
	}
}

// orNil is the error of a verdict: nil for no refusal (a page), and not a
// nil *HandshakeError in a non-nil error.
func (e *HandshakeError) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

// crlf2 ends a message head.
var crlf2 = []byte("\r\n\r\n")

// decide answers a whole request (RFC 6455, 4.2.1 and 4.2.2): the upgrade,
// a page of o.HTTP for a plain GET, or a refusal.
func decide(o *ServerOptions, req *Request) verdict {
	v := decideUpgrade(o, req)
	v.plain = !hasToken(req.Header["Upgrade"], "websocket")
	if req.Method == "HEAD" {
		// The head of the answer a GET gets, without its body (RFC 9110,
		// section 9.3.2).
		if i := bytes.Index(v.resp, crlf2); i >= 0 {
			v.resp = v.resp[:i+len(crlf2)]
		}
	}
	return v
}

func decideUpgrade(o *ServerOptions, req *Request) verdict {
	onPath := o.Path == "" || req.Path == o.Path
	h := req.Header
	upgrade := hasToken(h["Upgrade"], "websocket")
	switch {
	case !upgrade && (req.Method == "GET" || req.Method == "HEAD"):
		return plain(o, req, onPath)
	case req.Method != "GET":
		return refuse(hsErr(405, "method %s; a WebSocket handshake is a GET", req.Method))
	case req.Proto != "HTTP/1.1":
		return refuse(hsErr(400, "a WebSocket handshake needs HTTP/1.1"))
	case req.Host == "":
		return refuse(hsErr(400, "no Host header"))
	case !hasToken(h["Connection"], "upgrade"):
		return refuse(hsErr(400, "no Connection: Upgrade header"))
	case !onPath:
		return refuse(hsErr(404, "no WebSocket service at %s", req.Path))
	case h.Get("Sec-Websocket-Version") != "13":
		return refuse(hsErr(426, "Sec-WebSocket-Version %q; this server speaks 13", h.Get("Sec-Websocket-Version")))
	case len(h["Sec-Websocket-Key"]) != 1 || !validKey(h.Get("Sec-Websocket-Key")):
		return refuse(hsErr(400, "Sec-WebSocket-Key is not the base64 of 16 bytes"))
	case !o.originOK(req):
		v := refuse(hsErr(403, "origin %q not allowed", h.Get("Origin")))
		v.origin = true
		return v
	}
	v := verdict{upgrade: true}
	fields := []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Accept", acceptKey(h.Get("Sec-Websocket-Key"))}
	offered := tokens(h["Sec-Websocket-Protocol"])
	for _, p := range o.Subprotocols {
		if slices.Contains(offered, p) {
			v.subprotocol = p
			fields = append(fields, "Sec-WebSocket-Protocol", p)
			break
		}
	}
	v.resp = appendResponse(nil, 101, fields, "", nil)
	return v
}

// originOK applies CheckOrigin, SameOrigin when it is nil.
func (o *ServerOptions) originOK(req *Request) bool {
	if o.CheckOrigin == nil {
		return SameOrigin(req)
	}
	return o.CheckOrigin(req)
}

// plain answers a GET without an upgrade.
func plain(o *ServerOptions, req *Request, onPath bool) verdict {
	if o.HTTP != nil {
		if status, ctype, body := o.HTTP(req); status > 0 {
			return verdict{resp: appendResponse(nil, status, nil, ctype, body), page: true}
		}
	}
	if !onPath {
		return refuse(hsErr(404, "nothing at %s", req.Path))
	}
	return refuse(hsErr(426, "this is a WebSocket endpoint; send Upgrade: websocket"))
}
