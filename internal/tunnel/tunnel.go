// Package tunnel is the client side of the two ways to ask a proxy for a
// TCP connection: SOCKS5 (RFC 1928, with RFC 1929's user and password)
// and HTTP CONNECT (RFC 9110 §9.3.6), as a state machine fed the proxy's
// bytes, so that a blocking client (package client) and an event loop
// (package layer, for bench) run the same code. It takes no byte beyond
// the handshake: what follows is the tunnel's. What the proxy answers
// instead of connecting is a *ProxyError of a kind package sockit knows.
//
// Both are written here rather than taken from golang.org/x/net/proxy,
// whose errors are strings ("unknown error connection refused") that a
// caller could tell apart only by their text.
package tunnel

import (
	"bytes"
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

	"github.com/sockit/sockit"
)

// ErrProxyAuth is a proxy's refusal of our credentials, or of going on
// without any: a ProxyError wraps it.
var ErrProxyAuth = errors.New("the proxy refused our credentials")

// errProxyFailed is a proxy's failure that names no cause.
var errProxyFailed = errors.New("the proxy could not connect")

// ProxyError is what a proxy answered instead of connecting us to the
// target. Err is ErrProxyAuth, a syscall.Errno saying what the proxy met
// at the target (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EACCES for a
// connection its rules forbid, ETIMEDOUT), or an error that names no
// cause; errors.Is and sockit.KindOf see through it.
type ProxyError struct {
	Proxy  string // the proxy, without credentials: "socks5://127.0.0.1:1080"
	Reason string // what it said, in its words: "connection refused", "HTTP 502 Bad Gateway"
	Err    error
}

func (e *ProxyError) Error() string { return "the proxy " + e.Proxy + " says: " + e.Reason }
func (e *ProxyError) Unwrap() error { return e.Err }

// Parse parses a proxy URL for the option owner.field (a
// *sockit.OptionError names it): socks5:// or http://, with a host and a
// port, user and password optional.
func Parse(s, owner, field string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h" && u.Scheme != "http") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return nil, sockit.BadOption(owner, field, fmt.Sprintf("%q is not a proxy (want socks5://[user:pass@]host:port or http://[user:pass@]host:port)", redact(s)))
	}
	if u.User != nil && u.Scheme != "http" {
		pass, _ := u.User.Password()
		if len(u.User.Username()) > 255 || len(pass) > 255 {
			return nil, sockit.BadOption(owner, field, "a SOCKS5 user or password is 255 bytes at most")
		}
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

// Name is the proxy without credentials, for messages.
func Name(u *url.URL) string { return u.Scheme + "://" + u.Host }

// Handshake asks one proxy for one connection. Start gives the first
// bytes to send; then Feed takes what the proxy sends, until it reports
// the tunnel open or an error.
type Handshake struct {
	u      *url.URL
	target string
	stage  stage
	buf    []byte // the current stage's bytes so far
}

type stage int

const (
	socksMethod stage = iota // the server's choice of method: 2 bytes
	socksAuth                // RFC 1929's answer: 2 bytes
	socksReply               // the CONNECT reply, to its end
	httpHead                 // the response head, to its blank line
	open
)

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

// maxHead bounds the response head an HTTP proxy may send.
const maxHead = 16 << 10

// New starts a handshake with the proxy u for target, "host:port".
func New(u *url.URL, target string) (*Handshake, []byte, error) {
	h := &Handshake{u: u, target: target}
	if u.Scheme == "http" {
		h.stage = httpHead
		var req strings.Builder
		fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
		if u.User != nil {
			pass, _ := u.User.Password()
			fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
		}
		req.WriteString("\r\n")
		return h, []byte(req.String()), nil
	}
	if _, err := h.request(); err != nil {
		return nil, nil, err
	}
	method := byte(socksNoAuth)
	if u.User != nil {
		method = socksUserPass
	}
	return h, []byte{socksVersion, 1, method}, nil
}

// Want is how many more bytes the handshake needs at least before Feed
// can move on: a reader that must not take a byte of the tunnel reads
// this many.
func (h *Handshake) Want() int {
	switch h.stage {
	case socksMethod, socksAuth:
		return 2 - len(h.buf)
	case socksReply:
		return h.replyLen() - len(h.buf)
	case httpHead:
		return 1
	}
	return 0
}

// replyLen is the length of the CONNECT reply, as far as its bytes so far
// tell: the head and address type, then the address.
func (h *Handshake) replyLen() int {
	if len(h.buf) < 5 {
		return 5 // version, reply, reserved, address type, and an address's first byte
	}
	switch h.buf[3] {
	case socksIPv4:
		return 4 + 4 + 2
	case socksIPv6:
		return 4 + 16 + 2
	case socksDomain:
		return 4 + 1 + int(h.buf[4]) + 2
	}
	return 5
}

// Feed takes bytes the proxy sent. It returns how many of them belong to
// the handshake (the rest are the tunnel's), bytes to send the proxy, and
// whether the tunnel is now open; or an error (a *ProxyError for what the
// proxy said).
func (h *Handshake) Feed(in []byte) (consumed int, send []byte, done bool, err error) {
	for consumed < len(in) && h.stage != open {
		if h.stage == httpHead {
			h.buf = append(h.buf, in[consumed])
			consumed++
			switch {
			case bytes.HasSuffix(h.buf, []byte("\r\n\r\n")):
				if err := h.httpResponse(); err != nil {
					return consumed, nil, false, err
				}
			case len(h.buf) >= maxHead:
				return consumed, nil, false, h.fail(fmt.Sprintf("a response head longer than %d bytes", maxHead), errProxyFailed)
			}
			continue
		}
		take := min(h.Want(), len(in)-consumed)
		h.buf = append(h.buf, in[consumed:consumed+take]...)
		consumed += take
		if h.Want() > 0 {
			continue
		}
		out, err := h.step()
		if err != nil {
			return consumed, nil, false, err
		}
		send = append(send, out...)
	}
	return consumed, send, h.stage == open, nil
}

// step acts on a whole SOCKS message in h.buf and moves to the next stage.
func (h *Handshake) step() ([]byte, error) {
	b := h.buf
	h.buf = nil
	switch h.stage {
	case socksMethod:
		switch {
		case b[0] != socksVersion:
			return nil, h.fail(fmt.Sprintf("version %d, not SOCKS5", b[0]), errProxyFailed)
		case b[1] == socksNoMethods && h.u.User == nil:
			return nil, h.fail("no acceptable authentication method (give a user and password: socks5://user:pass@host:port)", ErrProxyAuth)
		case b[1] == socksNoMethods:
			return nil, h.fail("no acceptable authentication method (it does not take a user and password)", ErrProxyAuth)
		case b[1] == socksUserPass && h.u.User != nil:
			h.stage = socksAuth
			user := h.u.User.Username()
			pass, _ := h.u.User.Password()
			msg := append([]byte{1, byte(len(user))}, user...)
			return append(append(msg, byte(len(pass))), pass...), nil
		case b[1] != socksNoAuth || h.u.User != nil:
			return nil, h.fail(fmt.Sprintf("authentication method %d, which we did not offer", b[1]), errProxyFailed)
		}
		h.stage = socksReply
		return h.request()
	case socksAuth:
		if b[1] != 0 {
			return nil, h.fail(fmt.Sprintf("user %q and its password refused", h.u.User.Username()), ErrProxyAuth)
		}
		h.stage = socksReply
		return h.request()
	case socksReply:
		if b[0] != socksVersion {
			return nil, h.fail(fmt.Sprintf("version %d in its reply, not SOCKS5", b[0]), errProxyFailed)
		}
		if b[1] != 0 {
			r, ok := socksReplies[b[1]]
			if !ok {
				r.text, r.errno = fmt.Sprintf("reply code %d", b[1]), errProxyFailed
			}
			return nil, h.fail(r.text, r.errno)
		}
		if t := b[3]; t != socksIPv4 && t != socksIPv6 && t != socksDomain {
			return nil, h.fail(fmt.Sprintf("address type %d in its reply", t), errProxyFailed)
		}
		h.stage = open
	}
	return nil, nil
}

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

// request is the CONNECT request for the target: an IP address as such,
// a name for the proxy to resolve.
func (h *Handshake) request() ([]byte, error) {
	host, portText, err := net.SplitHostPort(h.target)
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

// httpResponse reads the response head in h.buf.
func (h *Handshake) httpResponse() error {
	status, _, _ := strings.Cut(string(h.buf), "\r\n")
	proto, rest, _ := strings.Cut(status, " ")
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return h.fail(fmt.Sprintf("%q, not an HTTP response", status), errProxyFailed)
	}
	reason := "HTTP " + rest
	switch {
	case code >= 200 && code < 300:
		h.stage = open
		return nil
	case code == 407:
		return h.fail(reason, ErrProxyAuth)
	case code == 403:
		return h.fail(reason, syscall.EACCES)
	case code == 504:
		return h.fail(reason, syscall.ETIMEDOUT)
	}
	return h.fail(reason, errProxyFailed)
}

func (h *Handshake) fail(reason string, err error) error {
	return &ProxyError{Proxy: Name(h.u), Reason: reason, Err: err}
}

// Closed is the error of a proxy that ended the connection in the middle
// of the handshake.
func (h *Handshake) Closed() error {
	return h.fail("closed the connection in the middle of the handshake (is it a "+h.u.Scheme+" proxy?)", errProxyFailed)
}

// Broken says what err, met reading or writing before the handshake is
// over, means when it is the proxy closing (EOF) or resetting (ECONNRESET,
// EPIPE) the connection in the middle of the handshake: an error in those
// words, with the errno (and only it: the read or write that met it is
// ours, not the proxy's) still visible to errors.Is. For any other error
// ok is false.
func (h *Handshake) Broken(err error) (_ error, ok bool) {
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return h.Closed(), true
	case errors.As(err, &errno) && (errno == syscall.ECONNRESET || errno == syscall.EPIPE):
		return h.fail("reset the connection in the middle of the handshake (is it a "+h.u.Scheme+" proxy?)", errno), true
	}
	return err, false
}
