package layer

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/resume"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// ServerConfig configures the layers a Server stacks. The zero value
// serves ws:// with the defaults, and refuses tls:// and wss://.
type ServerConfig struct {
	// TLS serves tls:// and wss://. It must hold a certificate
	// (Certificates, GetCertificate or GetConfigForClient): without one,
	// those endpoints are refused with ErrNoCertificate. It must not
	// change once in use.
	TLS *tls.Config
	// HandshakeTimeout bounds each connection's TLS handshake on the
	// engine, and in Upgrade its TLS handshake and WebSocket upgrade
	// together. 0 = DefaultHandshakeTimeout; < 0 = no bound on the engine
	// (Upgrade then uses the default: a blocking server must not wait
	// forever on half a handshake).
	HandshakeTimeout time.Duration
	// WebSocket, if set, gives the WebSocket options of a ws:// or wss://
	// endpoint (a page for browsers, MaxMessage, Subprotocols); nil = the
	// defaults. A Path of "" is the endpoint's path; a CheckOrigin of nil
	// is AllowOrigins'. Counters are the Server's, whatever is set.
	WebSocket func(ep endpoint.Endpoint) ws.ServerOptions
	// AllowOrigins lists the origins, beyond the endpoint's own, whose
	// web pages may open WebSocket connections to ws:// and wss://
	// endpoints (ws.AllowOrigins patterns: "https://*.example.com",
	// "http://localhost:*", or "*" for any page on the web). Empty = the
	// same origin only, and clients that send no Origin (ws.SameOrigin):
	// a page of another site gets 403, so that it cannot reach the
	// server, or what it forwards to, through a visitor's browser. A
	// malformed pattern is refused by Check.
	AllowOrigins []string
	// Messages, if set, serves the WebSocket connections of ws:// and
	// wss:// endpoints on the engine with whole messages (ws.Echo keeps
	// each message whole, as a browser expects), instead of serving them
	// to the stream handler given to Handler and Listen.
	Messages ws.MessageHandler
	// Stream configures the stream view of WebSocket connections: on the
	// engine (ws.NewStreamServer) and in Upgrade (ws.Stream). Its MaxInput
	// of 0 is MaxInput's.
	Stream ws.StreamOptions
	// MaxInput bounds the bytes a stream handler leaves unconsumed under
	// TLS and WebSocket; set it to the engine's Config.MaxInput. 0 =
	// engine.DefaultMaxInput.
	MaxInput int
	// Proxy, if set, expects a PROXY protocol header (proxy.Accept) at the
	// start of every stream connection Handler and Listen serve, under
	// the other layers: first on the socket, before the TLS handshake and
	// the WebSocket upgrade, as a load balancer sends it (HAProxy's
	// send-proxy and send-proxy-v2). The layers and the handler above see
	// the client it names. Its Counters are the Server's, whatever is set.
	// Upgrade does not read PROXY headers, and refuses a Server with one.
	// nil = no PROXY protocol.
	Proxy *proxy.Options
}

// Server stacks the layers of ServerConfig on the endpoints it serves, and
// counts what they do. Its methods are safe for concurrent use.
type Server struct {
	cfg       ServerConfig
	origin    func(*ws.Request) bool // from AllowOrigins
	originErr error
	tlsc      tlslayer.Counters
	wsc       ws.Counters
	pc        proxy.Counters
}

// NewServer returns a Server with cfg, which it keeps: do not change it
// afterwards.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{cfg: cfg}
	s.origin, s.originErr = ws.AllowOrigins(cfg.AllowOrigins...)
	if s.originErr != nil {
		s.originErr = &sockit.OptionError{Owner: "layer.ServerConfig", Fields: []string{"AllowOrigins"}, Reason: "holds a bad pattern: " + s.originErr.Error(), Err: s.originErr}
	}
	return s
}

// Check reports whether s can serve ep: a *sockit.Error holding
// ErrNoCertificate for tls:// and wss:// without a certificate, a
// *sockit.OptionError for a ws:// or wss:// endpoint when
// ServerConfig.AllowOrigins has a malformed pattern, else nil.
func (s *Server) Check(ep endpoint.Endpoint) error {
	if ep.IsTLS() && !hasCertificate(s.cfg.TLS) {
		return &sockit.Error{Op: "listen", Net: ep.Scheme, Addr: ep.Addr, Err: ErrNoCertificate}
	}
	if ep.IsWebSocket() && s.originErr != nil {
		return s.originErr
	}
	return nil
}

func hasCertificate(c *tls.Config) bool {
	return c != nil && (len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil)
}

// Handler returns the engine handler that serves h on ep's layers: h
// itself for an endpoint without layers and for http:// (h is then the
// HTTP service); under TLS for tls://, wss:// and https://;
// over WebSocket for ws:// and wss:// (as a stream, or ServerConfig.Messages
// instead of h); and all of it behind a PROXY protocol header when
// ServerConfig.Proxy is set. Listen on ep.Transport() with it.
func (s *Server) Handler(ep endpoint.Endpoint, h engine.Handler) (engine.Handler, error) {
	if err := s.Check(ep); err != nil {
		return nil, err
	}
	if ep.IsWebSocket() {
		if s.cfg.Messages != nil {
			h = ws.NewServer(s.cfg.Messages, s.wsOptions(ep))
		} else {
			h = ws.NewStreamServer(h, s.wsOptions(ep), s.streamOptions())
		}
	}
	if ep.IsTLS() {
		h = tlslayer.Server(h, s.cfg.TLS, tlslayer.Options{HandshakeTimeout: s.cfg.HandshakeTimeout, Counters: &s.tlsc, MaxInput: s.cfg.MaxInput})
	}
	if s.cfg.Proxy != nil && !ep.IsPacket() {
		o := *s.cfg.Proxy
		o.Counters = &s.pc
		h = proxy.Accept(h, o)
	}
	return h, nil
}

// Listen serves h on ep with srv: it listens on ep.Transport() with the
// handler Handler returns, and returns the bound address.
func (s *Server) Listen(srv *engine.Server, ep endpoint.Endpoint, h engine.Handler) (net.Addr, error) {
	lh, err := s.Handler(ep, h)
	if err != nil {
		return nil, err
	}
	return srv.Listen(ep.Transport(), lh)
}

// Upgrade stacks ep's layers on nc, a socket a blocking server accepted on
// ep.Transport(): the server side of the TLS handshake (tls://, wss://),
// then of the WebSocket upgrade (ws://, wss://), and returns the top of
// the stack: nc itself for an endpoint without layers, TLS over it, or a
// ws.Stream. The handshakes are bounded together by ServerConfig's
// HandshakeTimeout and by ctx. A write deadline on the conn returned
// leaves the layers' streams whole (see ws.Stream). Errors are
// *sockit.Error with Op "tls" or "websocket" and the peer's address; a
// handshake cut short by the bound holds a *TimeoutError. On failure the
// caller closes nc.
func (s *Server) Upgrade(ctx context.Context, nc net.Conn, ep endpoint.Endpoint) (net.Conn, error) {
	if s.cfg.Proxy != nil {
		return nil, sockit.BadOption("layer.ServerConfig", "Proxy", "is read on the engine (Handler, Listen); Upgrade does not read PROXY protocol headers")
	}
	if !ep.IsLayered() {
		return nc, nil
	}
	if err := s.Check(ep); err != nil {
		return nil, err
	}
	limit := s.cfg.HandshakeTimeout
	if limit <= 0 {
		limit = DefaultHandshakeTimeout
	}
	hctx, cancel := bound(ctx, limit)
	defer cancel()
	network, peer := ep.Network(), addrText(nc.RemoteAddr())
	top := nc
	if ep.IsTLS() {
		rw := resume.New(nc)
		tc := tls.Server(rw, s.cfg.TLS)
		err := tc.HandshakeContext(hctx)
		s.tlsc.Record(err)
		if err != nil {
			return nil, handshakeErr("tls", "no TLS handshake", network, peer, limit, ctx, hctx, err)
		}
		top = resume.Over(tc, rw)
	}
	if ep.IsWebSocket() {
		bc, err := ws.Accept(hctx, top, s.wsOptions(ep))
		if err != nil {
			return nil, handshakeErr("websocket", "no WebSocket upgrade request", network, peer, limit, ctx, hctx, err)
		}
		top = ws.NewStream(bc, s.streamOptions())
	}
	return top, nil
}

// Stats returns a snapshot of the counters of every layer s made: on the
// engine and in Upgrade.
func (s *Server) Stats() Stats {
	return Stats{TLS: s.tlsc.Stats(), WebSocket: s.wsc.Stats(), Proxy: s.pc.Stats()}
}

func (s *Server) wsOptions(ep endpoint.Endpoint) ws.ServerOptions {
	var o ws.ServerOptions
	if s.cfg.WebSocket != nil {
		o = s.cfg.WebSocket(ep)
	}
	if o.Path == "" {
		o.Path = ep.Path
	}
	if o.CheckOrigin == nil {
		o.CheckOrigin = s.origin
	}
	o.Counters = &s.wsc
	return o
}

func (s *Server) streamOptions() ws.StreamOptions {
	o := s.cfg.Stream
	if o.MaxInput == 0 {
		o.MaxInput = s.cfg.MaxInput
	}
	return o
}

// Accept stacks ep's layers (as Upgrade does) on c, a connection a
// client.Listener accepted on ep.Transport(), so that Pipe and Send speak
// through them; c then names ep as its Endpoint. On failure the caller
// closes c.
func (s *Server) Accept(ctx context.Context, c *client.Conn, ep endpoint.Endpoint) error {
	top, err := s.Upgrade(ctx, c.Conn, ep)
	if err != nil {
		return err
	}
	if ep.IsLayered() {
		c.Push(ep, top)
	}
	return nil
}
