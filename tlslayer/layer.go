package tlslayer

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/sockit/sockit/engine"
)

// DefaultHandshakeTimeout bounds a handshake when Options.HandshakeTimeout
// is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// DefaultMaxAsync is the bound on bytes queued by AsyncWrite when
// Options.MaxAsync is 0: the engine's default MaxPending.
const DefaultMaxAsync = 4 * engine.DefaultHighWatermark

// Options configure a layer. The zero value gives the defaults noted on
// each field.
type Options struct {
	// HandshakeTimeout bounds the handshake, from the connection's OnOpen;
	// 0 = DefaultHandshakeTimeout, < 0 = no bound.
	HandshakeTimeout time.Duration
	// Counters, if not nil, counts handshakes completed and failed.
	Counters *Counters
	// MaxInput bounds the plaintext the inner handler leaves unconsumed;
	// above it the connection fails with engine.ErrInputTooLarge. 0 =
	// engine.DefaultMaxInput (set it to the engine's Config.MaxInput).
	MaxInput int
	// MaxAsync bounds the plaintext that AsyncWrite queues for the loop to
	// encrypt; above it AsyncWrite fails with engine.ErrOutputFull. 0 =
	// DefaultMaxAsync.
	MaxAsync int
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Counters == nil {
		o.Counters = new(Counters)
	}
	if o.MaxInput <= 0 {
		o.MaxInput = engine.DefaultMaxInput
	}
	if o.MaxAsync <= 0 {
		o.MaxAsync = DefaultMaxAsync
	}
	return o
}

// Server returns an engine.Handler that runs the server side of TLS on each
// connection with cfg and serves the plaintext with inner. cfg must not be
// nil and must not change once in use; it needs a certificate
// (Certificates, GetCertificate or GetConfigForClient), as for tls.Server.
//
// The handler also implements engine.TimerHandler (the layer uses the
// connection's timer and Wake), and engine.Drainer exactly when inner does.
func Server(inner engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	return newLayer(inner, cfg, opts, false)
}

// Client is Server for connections this side opens with engine.Server.Dial:
// it runs the client side of TLS. If cfg has no ServerName and does not
// skip verification, each connection verifies the certificate against the
// host of the address it dialed (an IP address then needs an IP SAN).
// A handshake that fails ends in inner's OnClose, without OnOpen, with a
// *HandshakeError; a dial that fails, with the engine's connect error.
func Client(inner engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	return newLayer(inner, cfg, opts, true)
}

func newLayer(inner engine.Handler, cfg *tls.Config, opts Options, client bool) engine.Handler {
	if inner == nil || cfg == nil {
		panic("tlslayer: nil inner handler or nil *tls.Config")
	}
	l := &layer{inner: inner, cfg: cfg, opts: opts.withDefaults(), client: client}
	l.timer, _ = inner.(engine.TimerHandler)
	if d, ok := inner.(engine.Drainer); ok {
		l.drainer = d
		return drainLayer{l}
	}
	return l
}

// layer is the outer handler: the engine calls it, it runs TLS and calls
// the inner handler with a *conn.
type layer struct {
	inner   engine.Handler
	drainer engine.Drainer      // inner, if it is one
	timer   engine.TimerHandler // inner, if it is one
	cfg     *tls.Config
	opts    Options
	client  bool
}

// drainLayer is the layer for an inner Drainer; a separate type so that the
// engine sees a Drainer exactly when the inner handler is one.
type drainLayer struct{ *layer }

func (d drainLayer) OnDrain(c engine.Conn) {
	if t, ok := c.Context().(*conn); ok {
		t.drain()
	}
}

func (l *layer) OnOpen(c engine.Conn) {
	t := &conn{l: l, outer: c, mc: newMemconn(c), done: make(chan struct{})}
	c.SetContext(t)
	cfg := l.cfg
	if l.client {
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg = cfg.Clone()
			cfg.ServerName = hostOf(c.RemoteAddr())
		}
		t.tc = tls.Client(t.mc, cfg)
	} else {
		t.tc = tls.Server(t.mc, cfg)
	}
	if d := l.opts.HandshakeTimeout; d > 0 {
		t.deadline = time.Now().Add(d)
		c.SetTimer(t.deadline)
	}
	go t.handshake()
}

func (l *layer) OnData(c engine.Conn, in []byte) int {
	if t, ok := c.Context().(*conn); ok {
		t.onData(in)
	}
	return len(in)
}

func (l *layer) OnPeerClose(c engine.Conn) {
	if t, ok := c.Context().(*conn); ok {
		t.onPeerClose()
	}
}

func (l *layer) OnTimer(c engine.Conn) {
	if t, ok := c.Context().(*conn); ok {
		t.onTimer()
	}
}

// OnShutdown passes the engine's shutdown on to an inner handler that
// says goodbye (engine.ShutdownHandler), once the handshake is done.
func (l *layer) OnShutdown(c engine.Conn) {
	g, ok := l.inner.(engine.ShutdownHandler)
	if t, open := c.Context().(*conn); ok && open && t.state == stateOpen {
		g.OnShutdown(t)
		t.settle()
	}
}

func (l *layer) OnClose(c engine.Conn, err error) {
	t, ok := c.Context().(*conn)
	if !ok { // a dial that never connected
		if l.client {
			l.inner.OnClose(&conn{l: l, outer: c, state: stateClosed}, err)
		}
		return
	}
	t.onClose(err)
}

// hostOf is the host part of a dialed address, for ServerName.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}
