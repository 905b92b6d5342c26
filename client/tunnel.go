package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
)

// This file connects through a proxy (Options.Proxy): SOCKS5 (RFC 1928,
// with RFC 1929's user and password) or HTTP CONNECT (RFC 9110 §9.3.6).
// Both are written here, small and exact, so that what the proxy answers
// becomes a typed error (refused, unreachable, credentials refused) and
// no byte of the tunnel is read ahead of its caller.

// ErrProxyAuth is a proxy's refusal of our credentials, or of going on
// without any: a ProxyError wraps it.
var ErrProxyAuth = errors.New("the proxy refused our credentials")

// ProxyError is what a proxy answered instead of connecting us to the
// target. Err is ErrProxyAuth, a syscall.Errno saying what the proxy met
// at the target (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EACCES for a
// connection its rules forbid, ETIMEDOUT), or errProxyFailed; errors.Is
// and sockit.KindOf see through it.
type ProxyError struct {
	Proxy  string // the proxy, without credentials: "socks5://127.0.0.1:1080"
	Reason string // what it said, in its words: "connection refused", "HTTP 502 Bad Gateway"
	Err    error
}

func (e *ProxyError) Error() string { return "the proxy " + e.Proxy + " says: " + e.Reason }
func (e *ProxyError) Unwrap() error { return e.Err }

// errProxyFailed is a proxy's failure that names no cause.
var errProxyFailed = errors.New("the proxy could not connect")

// proxyURL parses Options.Proxy; its errors name the field.
func proxyURL(s string, ep endpoint.Endpoint) (*url.URL, error) {
	if !strings.HasPrefix(ep.Scheme, "tcp") {
		return nil, sockit.BadOption("client.Options", "Proxy", "tunnels TCP; "+ep.String()+" is not a TCP endpoint")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h" && u.Scheme != "http") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return nil, sockit.BadOption("client.Options", "Proxy", fmt.Sprintf("%q is not a proxy (want socks5://[user:pass@]host:port or http://[user:pass@]host:port)", redact(s)))
	}
	return u, nil
}

// redact hides a password in a proxy URL as it goes into a message.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// proxyName is the proxy without credentials, for messages.
func proxyName(u *url.URL) string { return u.Scheme + "://" + u.Host }

// tunnel asks the proxy on c to connect to target (host:port), within
// ctx, and reports the step to obs.
func tunnel(ctx context.Context, c net.Conn, u *url.URL, target string, timeout time.Duration) error {
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	var err error
	if u.Scheme == "http" {
		err = httpConnect(c, u, target)
	} else {
		err = socks5Connect(c, u, target)
	}
	if !stop() && err != nil {
		err = errors.Join(ctx.Err(), err)
	}
	c.SetDeadline(time.Time{})
	return err
}

// SOCKS5's numbers, per RFC 1928 and RFC 1929.
const (
	socksVersion   = 5
	socksNoAuth    = 0x00
	socksUserPass  = 0x02
	socksNoMethods = 0xff
	socksConnect   = 0x01
	socksIPv4      = 0x01
	socksDomain    = 0x03
	socksIPv6      = 0x04
)

// socksReplies are the REP codes of RFC 1928 §6: what the proxy says,
// and the errno that means the same here.
var socksReplies = map[byte]struct {
	text  string
	errno error
}{
	0x01: {"general SOCKS server failure", errProxyFailed},
	0x02: {"connection not allowed by ruleset", syscall.EACCES},
	0x03: {"network unreachable", syscall.ENETUNREACH},
	0x04: {"host unreachable", syscall.EHOSTUNREACH},
	0x05: {"connection refused", syscall.ECONNREFUSED},
	0x06: {"TTL expired", syscall.ETIMEDOUT},
	0x07: {"command not supported", errProxyFailed},
	0x08: {"address type not supported", errProxyFailed},
}

func socks5Connect(c net.Conn, u *url.URL, target string) error {
	fail := func(reason string, err error) error {
		return &ProxyError{Proxy: proxyName(u), Reason: reason, Err: err}
	}
	methods := []byte{socksNoAuth}
	if u.User != nil {
		methods = []byte{socksUserPass}
	}
	if _, err := c.Write(append([]byte{socksVersion, byte(len(methods))}, methods...)); err != nil {
		return err
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return notSOCKS(u, err)
	}
	switch {
	case b[0] != socksVersion:
		return fail(fmt.Sprintf("version %d, not SOCKS5", b[0]), errProxyFailed)
	case b[1] == socksNoMethods && u.User == nil:
		return fail("no acceptable authentication method (give a user and password: socks5://user:pass@host:port)", ErrProxyAuth)
	case b[1] == socksNoMethods:
		return fail("no acceptable authentication method (it does not take a user and password)", ErrProxyAuth)
	case b[1] == socksUserPass && u.User != nil:
		if err := socksAuth(c, u); err != nil {
			return err
		}
	case b[1] != methods[0]:
		return fail(fmt.Sprintf("authentication method %d, which we did not offer", b[1]), errProxyFailed)
	}
	req, err := socksRequest(target)
	if err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	return socksReply(c, u)
}

// socksAuth is RFC 1929's username and password exchange.
func socksAuth(c net.Conn, u *url.URL) error {
	user := u.User.Username()
	pass, _ := u.User.Password()
	if len(user) > 255 || len(pass) > 255 {
		return sockit.BadOption("client.Options", "Proxy", "a SOCKS5 user or password is 255 bytes at most")
	}
	msg := append([]byte{1, byte(len(user))}, user...)
	msg = append(append(msg, byte(len(pass))), pass...)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return notSOCKS(u, err)
	}
	if b[1] != 0 {
		return &ProxyError{Proxy: proxyName(u), Reason: fmt.Sprintf("user %q and its password refused", user), Err: ErrProxyAuth}
	}
	return nil
}

// socksRequest is the CONNECT request for target: an IP address as
// such, a name for the proxy to resolve.
func socksRequest(target string) ([]byte, error) {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portText, err)
	}
	req := []byte{socksVersion, socksConnect, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() || ip.Is4In6() {
			a := ip.Unmap().As4()
			req = append(append(req, socksIPv4), a[:]...)
		} else {
			a := ip.As16()
			req = append(append(req, socksIPv6), a[:]...)
		}
	} else {
		if len(host) > 255 {
			return nil, fmt.Errorf("host name of %d bytes: SOCKS5 carries 255 at most", len(host))
		}
		req = append(append(req, socksDomain, byte(len(host))), host...)
	}
	return append(req, byte(port>>8), byte(port)), nil
}

// socksReply reads the proxy's reply to CONNECT, its bound address
// included, and no byte more.
func socksReply(c net.Conn, u *url.URL) error {
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return notSOCKS(u, err)
	}
	if head[0] != socksVersion {
		return &ProxyError{Proxy: proxyName(u), Reason: fmt.Sprintf("version %d in its reply, not SOCKS5", head[0]), Err: errProxyFailed}
	}
	if head[1] != 0 {
		r, ok := socksReplies[head[1]]
		if !ok {
			r.text, r.errno = fmt.Sprintf("reply code %d", head[1]), errProxyFailed
		}
		return &ProxyError{Proxy: proxyName(u), Reason: r.text, Err: r.errno}
	}
	var rest int
	switch head[3] {
	case socksIPv4:
		rest = 4 + 2
	case socksIPv6:
		rest = 16 + 2
	case socksDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return notSOCKS(u, err)
		}
		rest = int(n[0]) + 2
	default:
		return &ProxyError{Proxy: proxyName(u), Reason: fmt.Sprintf("address type %d in its reply", head[3]), Err: errProxyFailed}
	}
	if _, err := io.ReadFull(c, make([]byte, rest)); err != nil {
		return notSOCKS(u, err)
	}
	return nil
}

// notSOCKS is an end of data or an error in the middle of a handshake.
func notSOCKS(u *url.URL, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ProxyError{Proxy: proxyName(u), Reason: "closed the connection in the middle of the handshake (is it a " + u.Scheme + " proxy?)", Err: errProxyFailed}
	}
	return err
}

// maxProxyHead bounds the response head an HTTP proxy may send.
const maxProxyHead = 16 << 10

func httpConnect(c net.Conn, u *url.URL, target string) error {
	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u.User != nil {
		pass, _ := u.User.Password()
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		return err
	}
	// Read the head a byte at a time: what follows it is the tunnel's,
	// and a server that speaks first may have sent it already.
	var head []byte
	var b [1]byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) >= maxProxyHead {
			return &ProxyError{Proxy: proxyName(u), Reason: fmt.Sprintf("a response head longer than %d bytes", maxProxyHead), Err: errProxyFailed}
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return notSOCKS(u, err)
		}
		head = append(head, b[0])
	}
	status, _, _ := strings.Cut(string(head), "\r\n")
	proto, rest, _ := strings.Cut(status, " ")
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return &ProxyError{Proxy: proxyName(u), Reason: fmt.Sprintf("%q, not an HTTP response", status), Err: errProxyFailed}
	}
	reason := "HTTP " + rest
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == 407:
		return &ProxyError{Proxy: proxyName(u), Reason: reason, Err: ErrProxyAuth}
	case code == 403:
		return &ProxyError{Proxy: proxyName(u), Reason: reason, Err: syscall.EACCES}
	case code == 504:
		return &ProxyError{Proxy: proxyName(u), Reason: reason, Err: syscall.ETIMEDOUT}
	}
	return &ProxyError{Proxy: proxyName(u), Reason: reason, Err: errProxyFailed}
}
