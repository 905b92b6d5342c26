package ws

import (
	"slices"
	"time"

	"github.com/sockit/sockit/engine"
)

// ServerOptions configure NewServer. The zero value serves WebSocket on
// every path, with the defaults noted on each field.
type ServerOptions struct {
	// Path is the request path WebSocket is served on; "" = any path.
	// An upgrade request for another path gets 404.
	Path string
	// Subprotocols the server speaks, in order of preference; the first
	// one the client also offers is chosen. None = no subprotocol.
	Subprotocols []string
	// CheckOrigin, if set, vets each upgrade request (its Origin header,
	// say); false answers 403. nil accepts every origin.
	CheckOrigin func(r *Request) bool
	// HTTP, if set, answers plain HTTP GET requests (no Upgrade:
	// websocket), on any path: a page for browsers on the same address.
	// It runs on the event loop, so it must not block. A status of 0 means
	// "not mine": the request gets the default answer, 426 on Path (or 404
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
}

// Server is the engine.Handler of a WebSocket server: it answers the
// opening handshake (RFC 6455, 4.2) and runs the framing on the engine's
// event loops, then calls a MessageHandler. One Server serves any number
// of listeners and connections; it keeps no state but its counters.
type Server struct {
	h    MessageHandler
	opts ServerOptions
	st   counters
}

var (
	_ engine.Handler      = (*Server)(nil)
	_ engine.TimerHandler = (*Server)(nil)
	_ engine.Handler      = (*Client)(nil)
	_ engine.TimerHandler = (*Client)(nil)
)

// NewServer returns an engine.Handler that serves h over WebSocket:
//
//	srv.Listen(ep, ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/ws"}))
func NewServer(h MessageHandler, opts ServerOptions) *Server {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	if opts.MaxHeader <= 0 {
		opts.MaxHeader = DefaultMaxHeader
	}
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	return &Server{h: h, opts: opts}
}

// Stats returns a snapshot of the server's counters. Safe from any
// goroutine.
func (s *Server) Stats() Stats { return s.st.snapshot() }

// OnOpen implements engine.Handler.
func (s *Server) OnOpen(ec engine.Conn) {
	c := &Conn{ec: ec, h: s.h, st: &s.st, closeTimeout: s.opts.CloseTimeout}
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

// handshake reads the request head from in and answers it. It returns 0
// while the head is incomplete; after an answer other than 101 the
// connection is closing and all of in is consumed.
func (s *Server) handshake(c *Conn, in []byte) int {
	req, n, herr := parseRequest(in, s.opts.MaxHeader)
	if herr == nil && n == 0 {
		return 0
	}
	var resp []byte
	if herr == nil {
		req.RemoteAddr = c.ec.RemoteAddr()
		resp, herr = s.answer(c, req)
	}
	if herr != nil {
		s.st.rejected.Add(1)
		resp = errorResponse(herr)
	}
	c.ec.Write(resp)
	if herr != nil {
		c.abandon(herr)
		return len(in)
	}
	if c.state != stateOpen { // a plain HTTP answer
		c.abandon(nil)
		return len(in)
	}
	c.deadline = time.Time{}
	c.ec.SetTimer(time.Time{})
	c.opened = true
	s.st.upgrades.Add(1)
	s.h.OnOpen(c)
	return n
}

// answer decides the response to a whole request (RFC 6455, 4.2.1 and
// 4.2.2). On an upgrade it sets c open; a plain HTTP answer leaves it in
// the handshake state.
func (s *Server) answer(c *Conn, req *Request) ([]byte, *HandshakeError) {
	onPath := s.opts.Path == "" || req.Path == s.opts.Path
	h := req.Header
	switch {
	case req.Method != "GET":
		return nil, hsErr(405, "method %s; a WebSocket handshake is a GET", req.Method)
	case !hasToken(h["Upgrade"], "websocket"):
		return s.plain(req, onPath)
	case req.Proto != "HTTP/1.1":
		return nil, hsErr(400, "a WebSocket handshake needs HTTP/1.1")
	case req.Host == "":
		return nil, hsErr(400, "no Host header")
	case !hasToken(h["Connection"], "upgrade"):
		return nil, hsErr(400, "no Connection: Upgrade header")
	case !onPath:
		return nil, hsErr(404, "no WebSocket service at %s", req.Path)
	case h.Get("Sec-Websocket-Version") != "13":
		return nil, hsErr(426, "Sec-WebSocket-Version %q; this server speaks 13", h.Get("Sec-Websocket-Version"))
	case len(h["Sec-Websocket-Key"]) != 1 || !validKey(h.Get("Sec-Websocket-Key")):
		return nil, hsErr(400, "Sec-WebSocket-Key is not the base64 of 16 bytes")
	case s.opts.CheckOrigin != nil && !s.opts.CheckOrigin(req):
		return nil, hsErr(403, "origin %q not allowed", h.Get("Origin"))
	}
	fields := []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Accept", acceptKey(h.Get("Sec-Websocket-Key"))}
	offered := tokens(h["Sec-Websocket-Protocol"])
	for _, p := range s.opts.Subprotocols {
		if slices.Contains(offered, p) {
			c.subprotocol = p
			fields = append(fields, "Sec-WebSocket-Protocol", p)
			break
		}
	}
	c.req, c.path, c.state = req, req.Path, stateOpen
	return appendResponse(nil, 101, fields, "", nil), nil
}

// plain answers a GET without an upgrade.
func (s *Server) plain(req *Request, onPath bool) ([]byte, *HandshakeError) {
	if s.opts.HTTP != nil {
		if status, ctype, body := s.opts.HTTP(req); status > 0 {
			s.st.http.Add(1)
			return appendResponse(nil, status, nil, ctype, body), nil
		}
	}
	if !onPath {
		return nil, hsErr(404, "nothing at %s", req.Path)
	}
	return nil, hsErr(426, "this is a WebSocket endpoint; send Upgrade: websocket")
}
