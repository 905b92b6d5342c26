package layer

import (
	"errors"
	"net/url"
	"os"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/tunnel"
)

// tunnelHandler asks a proxy, on the connection the engine made to it,
// for a connection to the target (internal/tunnel's handshake, in the
// loop), then serves inner on the tunnel: inner's OnOpen comes once the
// proxy has connected, with the bytes after the handshake as its first
// OnData. A handshake that fails, is cut short by the proxy or outlasts
// limit reaches inner's OnClose without OnOpen, with a *sockit.Error
// whose Op is "connect", as a connect that fails does. One per dial: it
// holds that connection's handshake.
type tunnelHandler struct {
	inner  engine.Handler
	h      *tunnel.Handshake
	first  []byte
	ep     endpoint.Endpoint // the target
	proxy  string            // the proxy without credentials, for messages
	limit  time.Duration
	open   bool
	failed error
}

func newTunnel(inner engine.Handler, u *url.URL, ep endpoint.Endpoint, limit time.Duration) (*tunnelHandler, error) {
	h, first, err := tunnel.New(u, ep.Addr)
	if err != nil {
		return nil, sockit.BadOption("layer.ClientConfig", "Proxy", err.Error())
	}
	return &tunnelHandler{inner: inner, h: h, first: first, ep: ep, proxy: tunnel.Name(u), limit: limit}, nil
}

func (t *tunnelHandler) OnOpen(c engine.Conn) {
	if t.limit > 0 {
		c.SetTimer(time.Now().Add(t.limit))
	}
	c.Write(t.first)
}

func (t *tunnelHandler) OnData(c engine.Conn, in []byte) int {
	if t.open {
		return t.inner.OnData(c, in)
	}
	if t.failed != nil {
		return len(in)
	}
	n, send, done, err := t.h.Feed(in)
	if err != nil {
		t.fail(c, err)
		return len(in)
	}
	if len(send) > 0 {
		c.Write(send)
	}
	if !done {
		return n
	}
	t.open = true
	c.SetTimer(time.Time{})
	t.inner.OnOpen(c)
	if d, ok := t.inner.(engine.Drainer); ok {
		d.OnDrain(c)
	}
	if n < len(in) {
		return n + t.inner.OnData(c, in[n:])
	}
	return n
}

func (t *tunnelHandler) fail(c engine.Conn, err error) {
	t.failed = &sockit.Error{Op: "connect", Net: t.ep.Network(), Addr: t.ep.Addr, Err: err}
	c.Abort()
}

func (t *tunnelHandler) OnPeerClose(c engine.Conn) {
	if t.open {
		t.inner.OnPeerClose(c)
		return
	}
	if t.failed == nil {
		t.fail(c, t.h.Closed())
	}
}

func (t *tunnelHandler) OnClose(c engine.Conn, err error) {
	switch {
	case t.open:
	case t.failed != nil:
		err = t.failed
	case err == nil:
		err = &sockit.Error{Op: "connect", Net: t.ep.Network(), Addr: t.ep.Addr, Err: t.h.Closed()}
	default:
		var se *sockit.Error
		if broken, ok := t.h.Broken(err); ok {
			err = &sockit.Error{Op: "connect", Net: t.ep.Network(), Addr: t.ep.Addr, Err: broken}
		} else if !errors.As(err, &se) || se.Op != "connect" {
			err = &sockit.Error{Op: "connect", Net: t.ep.Network(), Addr: t.ep.Addr, Err: err}
		}
	}
	t.inner.OnClose(c, err)
}

// OnDrain passes on to inner once the tunnel is open, if inner is a
// Drainer.
func (t *tunnelHandler) OnDrain(c engine.Conn) {
	if d, ok := t.inner.(engine.Drainer); ok && t.open {
		d.OnDrain(c)
	}
}

// OnTimer is the handshake's deadline until the tunnel is open, then
// inner's, if it is a TimerHandler.
func (t *tunnelHandler) OnTimer(c engine.Conn) {
	if t.open {
		if th, ok := t.inner.(engine.TimerHandler); ok {
			th.OnTimer(c)
		}
		return
	}
	if t.failed == nil {
		t.fail(c, errors.Join(os.ErrDeadlineExceeded, &TimeoutError{What: "no answer from the proxy " + t.proxy, Limit: t.limit}))
	}
}
