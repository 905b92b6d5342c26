// Package layer stacks protocols on sockets for the endpoints that ask for
// them: tls:// is TLS over TCP, ws:// WebSocket over TCP, and wss://
// WebSocket over TLS over TCP; http:// is HTTP on the TCP socket itself
// and https:// HTTP over TLS, where the handler given is the HTTP service
// (package httpsvc) or, dialing, the client that speaks HTTP. It is the one place that knows which layers
// a scheme stacks and in which order, for serving and for dialing, on the
// engine and on blocking sockets. The packages under it (engine, client)
// open sockets only, and refuse a layered endpoint with
// endpoint.ErrLayered rather than speak plain bytes where a protocol is
// due; so does this package, with ErrNoCertificate, for a TLS endpoint it
// has no certificate for.
//
// Serving: a Server, made from a ServerConfig, gives the engine handler
// of an endpoint (Handler), listens on one (Listen: it opens the
// endpoint's Transport, the TCP socket under the layers), and upgrades a
// socket a blocking server accepted (Upgrade). Its Stats add up the TLS
// handshakes, WebSocket traffic and PROXY protocol headers of every layer
// it made. A PROXY protocol header (ServerConfig.Proxy) is the lowest
// layer: first on the socket, before the TLS handshake or the WebSocket
// upgrade, where a load balancer puts it.
//
//	srv := layer.NewServer(layer.ServerConfig{TLS: cfg})
//	addr, err := srv.Listen(eng, endpoint.MustParse("wss://127.0.0.1:8443/echo"), service.Echo{})
//
// Dialing: Dial connects a blocking client.Conn and stacks the layers on
// it, so that client.Send and client.Pipe speak through them; a
// ClientConfig's Handler and Dial do the same for engine connections.
//
// A WebSocket connection carries a byte stream for a stream handler or a
// client.Conn: one message per write, message payloads read in order, its
// close frame as the half-close (ws.Stream, ws.NewStreamServer). A Server
// may serve whole messages instead (ServerConfig.Messages).
package layer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// DefaultHandshakeTimeout bounds the handshakes of a connection when the
// configuration leaves it to the default.
const DefaultHandshakeTimeout = tlslayer.DefaultHandshakeTimeout

// ErrNoCertificate refuses a tls:// or wss:// endpoint to a Server whose
// ServerConfig.TLS has no certificate.
var ErrNoCertificate = errors.New("a TLS endpoint needs a certificate (ServerConfig.TLS)")

// TimeoutError is a handshake its bound cut short: a TLS handshake or a
// WebSocket upgrade that did not finish within Limit. It is a timeout (a
// net.Error whose Timeout is true) and unwraps to context.DeadlineExceeded.
type TimeoutError struct {
	What  string        // what did not happen: "no TLS handshake", ...
	Limit time.Duration // the bound
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("%s within %s", e.What, e.Limit) }

// Timeout is true: the error is a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary exists so that *TimeoutError satisfies net.Error.
//
// Deprecated: as in package net, temporary errors are not well defined.
func (e *TimeoutError) Temporary() bool { return false }

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// handshakeErr is the error of a handshake (op "tls" or "websocket") that
// failed within hctx, a bound of limit on ctx: a *sockit.Error holding a
// *TimeoutError when the bound, not ctx, ran out.
func handshakeErr(op, what, network, addr string, limit time.Duration, ctx, hctx context.Context, err error) error {
	switch {
	case ctx.Err() == nil && hctx.Err() != nil:
		err = &TimeoutError{What: what, Limit: limit}
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = errors.Join(ctx.Err(), err)
	}
	return sockit.Wrap(op, network, addr, err)
}

// bound is ctx with limit on it, if limit > 0.
func bound(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	if limit > 0 {
		return context.WithTimeout(ctx, limit)
	}
	return context.WithCancel(ctx)
}

// Stats are the counters of the layers a Server made.
type Stats struct {
	TLS       tlslayer.Stats // handshakes, completed and failed by reason
	WebSocket ws.Stats       // upgrades, pages, messages, protocol errors
	Proxy     proxy.Stats    // PROXY protocol headers read, rejected, timed out
}

func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
