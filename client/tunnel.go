package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/tunnel"
)

// This file connects through a proxy (Options.Proxy): SOCKS5 or HTTP
// CONNECT, the handshakes of internal/tunnel, read without taking a byte
// of the tunnel.

// ErrProxyAuth is a proxy's refusal of our credentials, or of going on
// without any: a ProxyError wraps it.
var ErrProxyAuth = tunnel.ErrProxyAuth

// ProxyError is what a proxy answered instead of connecting us to the
// target. Its Err is ErrProxyAuth, a syscall.Errno saying what the proxy
// met at the target (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EACCES for
// a connection its rules forbid, ETIMEDOUT), or an error that names no
// cause; errors.Is and sockit.KindOf see through it.
type ProxyError = tunnel.ProxyError

// proxyURL parses Options.Proxy for ep; its errors name the field.
func proxyURL(s string, ep endpoint.Endpoint) (*url.URL, error) {
	if !strings.HasPrefix(ep.Scheme, "tcp") {
		return nil, sockit.BadOption("client.Options", "Proxy", "tunnels TCP; "+ep.String()+" is not a TCP endpoint")
	}
	return tunnel.Parse(s, "client.Options", "Proxy")
}

// proxyName is the proxy without credentials, for messages.
func proxyName(u *url.URL) string { return tunnel.Name(u) }

// dialTunnel asks the proxy on c to connect to target (host:port), within
// ctx and timeout (0 = none).
func dialTunnel(ctx context.Context, c net.Conn, u *url.URL, target string, timeout time.Duration) error {
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	err := handshake(c, u, target)
	if !stop() && err != nil {
		err = errors.Join(ctx.Err(), err)
	}
	c.SetDeadline(time.Time{})
	return err
}

func handshake(c net.Conn, u *url.URL, target string) error {
	h, first, err := tunnel.New(u, target)
	if err != nil {
		return err
	}
	send := first
	buf := make([]byte, 512)
	for {
		if len(send) > 0 {
			if _, err := c.Write(send); err != nil {
				err, _ = h.Broken(err)
				return err
			}
		}
		n := min(h.Want(), len(buf))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			err, _ = h.Broken(err)
			return err
		}
		var done bool
		_, send, done, err = h.Feed(buf[:n])
		if err != nil || done {
			return err
		}
	}
}
