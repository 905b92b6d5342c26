package layer

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/tunnel"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// ClientConfig configures the layers a client stacks. The zero value
// verifies a TLS server's certificate against the system's roots and
// sends every write over WebSocket as a binary message.
type ClientConfig struct {
	// TLS configures tls:// and wss://; nil = the defaults. A ServerName
	// of "" (without InsecureSkipVerify) is the endpoint's host.
	TLS *tls.Config
	// WebSocket configures ws:// and wss://: a Host of "" is the
	// endpoint's address, a Path of "" its path.
	WebSocket ws.ClientOptions
	// Stream configures the stream view of WebSocket connections: the
	// ws.Stream of Dial (its opcode policy), and the engine's
	// (ws.NewStreamClient). Its MaxInput of 0 is MaxInput's.
	Stream ws.StreamOptions
	// HandshakeTimeout bounds the TLS handshake and the WebSocket upgrade:
	// in Dial together, on the engine each. 0 = the connect timeout
	// (client.Options.ConnectTimeout, engine.DialOptions.Timeout), or if
	// that is 0 too DefaultHandshakeTimeout; < 0 = no bound.
	HandshakeTimeout time.Duration
	// MaxInput bounds the bytes an engine handler leaves unconsumed under
	// TLS and WebSocket; set it to the engine's Config.MaxInput. 0 =
	// engine.DefaultMaxInput.
	MaxInput int
	// Preamble, if set, gives the bytes Dial writes on the socket as soon
	// as it connects, before any layer's handshake: a PROXY protocol
	// header (package proxy) naming local and remote, say. Dial only.
	Preamble func(local, remote net.Addr) ([]byte, error)
	// Proxy, if set, reaches a TCP endpoint (tcp, tls, ws, wss) through a
	// proxy, "socks5://[user:pass@]host:port" or
	// "http://[user:pass@]host:port" (client.Options.Proxy): in Dial and
	// on the engine (ClientConfig.Dial, whose handshake with the proxy
	// runs in the loop, bounded as the other handshakes are).
	Proxy string
}

// limit is the handshakes' bound for a connect timeout of connect.
func (c ClientConfig) limit(connect time.Duration) time.Duration {
	switch {
	case c.HandshakeTimeout != 0:
		return c.HandshakeTimeout
	case connect > 0:
		return connect
	}
	return DefaultHandshakeTimeout
}

// tlsConfig is the TLS configuration for ep: the ServerName, unless set,
// is the endpoint's host, which the certificate must name.
func (c ClientConfig) tlsConfig(ep endpoint.Endpoint) *tls.Config {
	cfg := c.TLS
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(ep.Addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func (c ClientConfig) wsOptions(ep endpoint.Endpoint) ws.ClientOptions {
	o := c.WebSocket
	if o.Host == "" {
		o.Host = ep.Addr
	}
	if o.Path == "" {
		o.Path = ep.Path
	}
	return o
}

func (c ClientConfig) streamOptions() ws.StreamOptions {
	o := c.Stream
	if o.MaxInput == 0 {
		o.MaxInput = c.MaxInput
	}
	return o
}

// Handler returns the engine handler that serves h on a connection dialed
// to ep.Transport() with engine.Server.Dial: h itself for an endpoint
// without layers; under TLS for tls:// and wss://; over WebSocket for
// ws:// and wss://, as a stream (ws.NewStreamClient). A handshake that
// fails reaches h's OnClose without OnOpen, as a connect that fails does.
func (c ClientConfig) Handler(ep endpoint.Endpoint, h engine.Handler) (engine.Handler, error) {
	return c.handler(ep, h, 0)
}

func (c ClientConfig) handler(ep endpoint.Endpoint, h engine.Handler, connect time.Duration) (engine.Handler, error) {
	if !ep.IsLayered() {
		return h, nil
	}
	limit := c.limit(connect)
	if ep.IsWebSocket() {
		o := c.wsOptions(ep)
		if o.HandshakeTimeout == 0 {
			o.HandshakeTimeout = limit
		}
		h = ws.NewStreamClient(h, o, c.streamOptions())
	}
	if ep.IsTLS() {
		h = tlslayer.Client(h, c.tlsConfig(ep), tlslayer.Options{HandshakeTimeout: limit, MaxInput: c.MaxInput})
	}
	return h, nil
}

// Dial connects srv to ep.Transport() with the handler Handler returns for
// h (engine.Server.Dial's contract).
func (c ClientConfig) Dial(srv *engine.Server, ep endpoint.Endpoint, h engine.Handler, opts engine.DialOptions) error {
	dh, err := c.handler(ep, h, opts.Timeout)
	if err != nil {
		return err
	}
	if c.Proxy == "" {
		return srv.Dial(ep.Transport(), dh, opts)
	}
	if !strings.HasPrefix(ep.Transport().Scheme, "tcp") {
		return sockit.BadOption("layer.ClientConfig", "Proxy", "tunnels TCP; "+ep.String()+" is not TCP")
	}
	u, err := tunnel.Parse(c.Proxy, "layer.ClientConfig", "Proxy")
	if err != nil {
		return err
	}
	th, err := newTunnel(dh, u, ep.Transport(), c.limit(opts.Timeout))
	if err != nil {
		return err
	}
	return srv.Dial(endpoint.Endpoint{Scheme: "tcp", Addr: u.Host}, th, opts)
}

// Dial connects to ep with client.Dial on its Transport, writes cfg's
// Preamble, and stacks ep's layers: the TLS handshake for tls:// and
// wss://, then for ws:// and wss:// the WebSocket upgrade, with a
// ws.Stream on top. The client.Conn it returns speaks the layers (Send
// and Pipe work through them) and names ep as its Endpoint; o's Observer
// hears each step on the socket, the TLS handshake and the upgrade. The
// handshakes are bounded together by cfg's limit (see
// ClientConfig.HandshakeTimeout) and by ctx: a server that accepts and
// never answers is a *sockit.Error (Op "tls" or "websocket") holding a
// *TimeoutError, of kind sockit.KindTimeout.
func Dial(ctx context.Context, ep endpoint.Endpoint, cfg ClientConfig, o client.Options) (*client.Conn, error) {
	if cfg.Preamble != nil && ep.IsPacket() {
		return nil, sockit.BadOption("layer.ClientConfig", "Preamble", "is written on stream connections; "+ep.String()+" carries datagrams")
	}
	if cfg.Proxy != "" {
		o.Proxy = cfg.Proxy
	}
	c, err := client.Dial(ctx, ep.Transport(), o)
	if err != nil {
		return nil, err
	}
	if err := cfg.stack(ctx, c, ep, o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// stack writes the preamble and stacks ep's layers on c.
func (cfg ClientConfig) stack(ctx context.Context, c *client.Conn, ep endpoint.Endpoint, o client.Options) error {
	if cfg.Preamble != nil && !ep.IsPacket() {
		b, err := cfg.Preamble(c.LocalAddr(), c.RemoteAddr())
		if err == nil {
			_, err = c.Write(b)
		}
		if err != nil {
			return err
		}
	}
	if !ep.IsLayered() {
		return nil
	}
	limit := cfg.limit(o.ConnectTimeout)
	hctx, cancel := bound(ctx, limit)
	defer cancel()
	network := ep.Network()
	if ep.IsTLS() {
		if err := c.StartTLS(hctx, cfg.tlsConfig(ep)); err != nil {
			return handshakeErr("tls", "no TLS handshake", network, ep.Addr, limit, ctx, hctx, err)
		}
	}
	top := c.Conn
	if ep.IsWebSocket() {
		wo := cfg.wsOptions(ep)
		bc, err := ws.Dial(hctx, c.Conn, wo.Path, wo)
		if err != nil {
			return handshakeErr("websocket", "no answer to the WebSocket upgrade request", network, ep.Addr, limit, ctx, hctx, err)
		}
		if o.Observer != nil {
			o.Observer.Observe(sockit.Event{Step: sockit.StepHandshake, FD: -1, Net: network,
				Detail: "WebSocket upgrade: GET " + wo.Path + " → 101 Switching Protocols"})
		}
		top = ws.NewStream(bc, cfg.Stream)
	}
	c.Push(ep, top)
	return nil
}
