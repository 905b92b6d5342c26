// Package endpoint parses and formats the "scheme://address" text every sockit
// verb takes: tcp, tcp4, tcp6, udp, udp4, udp6 with host:port, and unix,
// unixgram, unixpacket with a file path (or "@name" for Linux's abstract
// namespace). A bare ":8080", "host:8080" or "8080" means TCP. tls://host:port
// is TLS over TCP; ws://host:port/path and wss://host:port/path are
// WebSocket over TCP and over TLS; http://host:port/path and
// https://host:port/path are HTTP over TCP and over TLS.
//
// Parse errors are *ParseError values that say which part is wrong and what
// is allowed, and match errors.Is(err, sockit.ErrBadEndpoint).
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sockit/sockit"
)

// Schemes lists every scheme Parse accepts, in the order help texts show them.
var Schemes = []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket", "tls", "ws", "wss", "http", "https"}

// maxUnixPath is the longest path a sockaddr_un holds with its terminating
// NUL on Linux (sun_path is 108 bytes, per unix(7)).
const maxUnixPath = 107

// Endpoint is a parsed "scheme://address". The zero value is not valid.
type Endpoint struct {
	Scheme string // one of Schemes; for all but tls, ws, wss, http and https also the network name for package net
	Addr   string // "host:port" for IP schemes; a path or "@name" for Unix schemes
	Path   string // ws, wss, http and https: the request path, "/" at least
}

// Network returns the network name package net uses for the endpoint: tls,
// ws, wss, http and https run over tcp.
func (e Endpoint) Network() string {
	switch e.Scheme {
	case "tls", "ws", "wss", "http", "https":
		return "tcp"
	}
	return e.Scheme
}

// String formats the endpoint so that Parse(e.String()) == e.
func (e Endpoint) String() string { return e.Scheme + "://" + e.Addr + e.Path }

// IsTLS reports whether the endpoint runs over TLS (tls, wss, https).
func (e Endpoint) IsTLS() bool { return e.Scheme == "tls" || e.Scheme == "wss" || e.Scheme == "https" }

// IsWebSocket reports whether the endpoint speaks WebSocket (ws, wss).
func (e Endpoint) IsWebSocket() bool { return e.Scheme == "ws" || e.Scheme == "wss" }

// IsHTTP reports whether the endpoint speaks HTTP (http, https).
func (e Endpoint) IsHTTP() bool { return e.Scheme == "http" || e.Scheme == "https" }

// IsLayered reports whether the endpoint runs a protocol over its socket
// (TLS, WebSocket, HTTP) rather than plain bytes or datagrams.
func (e Endpoint) IsLayered() bool { return e.IsTLS() || e.IsWebSocket() || e.IsHTTP() }

// Transport returns the endpoint of the socket under the layers: for tls,
// ws, wss, http and https, tcp:// with the same address (and no Path); any other
// endpoint unchanged. Listening on or dialing an endpoint means opening
// its Transport, then running its layers (package layer) over it.
func (e Endpoint) Transport() Endpoint {
	if e.IsLayered() {
		return Endpoint{Scheme: "tcp", Addr: e.Addr}
	}
	return e
}

// ErrLayered is the error of a package that serves or dials sockets only
// (engine, client) when it is given a layered endpoint (tls, ws, wss, http, https):
// rather than speak plain bytes where a protocol is due, it refuses.
var ErrLayered = errors.New("endpoint stacks a protocol on its socket; serve or dial it through package layer")

// IsUnix reports whether the endpoint is a Unix domain socket.
func (e Endpoint) IsUnix() bool { return strings.HasPrefix(e.Scheme, "unix") }

// IsPacket reports whether the endpoint carries datagrams without a
// connection (udp, udp4, udp6, unixgram). unixpacket is connection-oriented
// and so is not a packet endpoint here, though it keeps message boundaries.
func (e Endpoint) IsPacket() bool {
	return strings.HasPrefix(e.Scheme, "udp") || e.Scheme == "unixgram"
}

// KeepsBoundaries reports whether each write arrives as one message
// (datagram and seqpacket sockets).
func (e Endpoint) KeepsBoundaries() bool { return e.IsPacket() || e.Scheme == "unixpacket" }

// IsAbstract reports whether a Unix endpoint names Linux's abstract namespace.
func (e Endpoint) IsAbstract() bool { return e.IsUnix() && strings.HasPrefix(e.Addr, "@") }

// WithAddr returns a copy of e with a different address, e.g. the one a
// listener on port 0 was given.
func (e Endpoint) WithAddr(a net.Addr) Endpoint {
	e.Addr = a.String()
	return e
}

// ParseError says what is wrong with an endpoint text.
type ParseError struct {
	Input  string // the text given
	Part   string // "scheme", "host", "port", "path" or "address"
	Reason string // what is wrong with that part
	Want   string // what is allowed there, or ""
}

func (e *ParseError) Error() string {
	s := fmt.Sprintf("bad endpoint %q: %s", e.Input, e.Reason)
	if e.Want != "" {
		s += " (want " + e.Want + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, sockit.ErrBadEndpoint) true.
func (e *ParseError) Unwrap() error { return sockit.ErrBadEndpoint }

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Endpoint {
	e, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return e
}

// Parse parses "scheme://address". See the package doc for the forms.
func Parse(s string) (Endpoint, error) {
	bad := func(part, reason, want string) (Endpoint, error) {
		return Endpoint{}, &ParseError{Input: s, Part: part, Reason: reason, Want: want}
	}
	if strings.TrimSpace(s) == "" {
		return bad("address", "empty endpoint", "scheme://address, e.g. tcp://127.0.0.1:7007")
	}
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok {
		if isDigits(s) {
			s2 := ":" + s
			e, err := parseIP("tcp", s2, "")
			if err != nil {
				return bad(err.Part, err.Reason, err.Want)
			}
			return e, nil
		}
		if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") {
			return bad("scheme", "a path needs a scheme", "unix://"+s+", unixgram://"+s+" or unixpacket://"+s)
		}
		if name, rest, found := strings.Cut(s, ":"); found && knownScheme(strings.ToLower(name)) {
			// "unix:/tmp/x.sock", "tcp:8080": not a host named unix or tcp.
			if isDigits(rest) {
				rest = ":" + rest
			}
			return bad("scheme", "a scheme is followed by ://", name+"://"+strings.TrimPrefix(rest, "//"))
		}
		e, perr := parseIP("tcp", s, "")
		if perr != nil {
			perr.Input = s
			return Endpoint{}, perr
		}
		return e, nil
	}
	scheme = strings.ToLower(scheme)
	if !knownScheme(scheme) {
		return bad("scheme", fmt.Sprintf("unknown scheme %q", scheme), strings.Join(Schemes, ", "))
	}
	if scheme == "ws" || scheme == "wss" || scheme == "http" || scheme == "https" {
		return parseURL(s, scheme, addr)
	}
	if strings.HasPrefix(scheme, "unix") {
		if reason, want := checkUnixPath(addr); reason != "" {
			return bad("path", reason, want)
		}
		return Endpoint{Scheme: scheme, Addr: addr}, nil
	}
	e, perr := parseIP(scheme, addr, scheme+"://")
	if perr != nil {
		perr.Input = s
		return Endpoint{}, perr
	}
	return e, nil
}

// parseURL parses the host:port/path of a ws, wss, http or https
// endpoint; the port defaults to 80 (ws, http) or 443 (wss, https), the
// path to "/".
func parseURL(input, scheme, rest string) (Endpoint, error) {
	hostport, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, path = rest[:i], rest[i:]
	}
	if i := strings.IndexAny(path, "?# \t\r\n"); i >= 0 {
		return Endpoint{}, &ParseError{Input: input, Part: "path", Reason: fmt.Sprintf("unexpected %q in the path", path[i:i+1]), Want: "a path like /echo"}
	}
	if hostport != "" && (strings.HasSuffix(hostport, "]") || !strings.Contains(hostport, ":")) {
		port := "80"
		if scheme == "wss" || scheme == "https" {
			port = "443"
		}
		hostport += ":" + port
	}
	e, perr := parseIP(scheme, hostport, scheme+"://")
	if perr != nil {
		perr.Input = input
		return Endpoint{}, perr
	}
	e.Path = path
	return e, nil
}

func knownScheme(s string) bool {
	for _, k := range Schemes {
		if s == k {
			return true
		}
	}
	return false
}

func checkUnixPath(p string) (reason, want string) {
	limit := maxUnixPath
	if strings.HasPrefix(p, "@") {
		limit++ // an abstract name needs no terminating NUL, per unix(7)
	}
	switch {
	case p == "":
		return "missing socket path", "unix:///path/to/file.sock or unix://@abstract-name"
	case strings.IndexByte(p, 0) >= 0:
		return "path contains a NUL byte", "a file path"
	case p == "@":
		return "abstract name is empty", "unix://@name"
	case len(p) > limit:
		return fmt.Sprintf("path is %d bytes, longer than the %d a Unix socket address holds", len(p), limit), "a shorter path"
	}
	return "", ""
}

// parseIP parses the host:port of an IP endpoint of scheme, which its
// text spells as prefix (scheme:// or "", bare) followed by addr.
func parseIP(scheme, addr, prefix string) (Endpoint, *ParseError) {
	bad := func(part, reason, want string) (Endpoint, *ParseError) {
		return Endpoint{}, &ParseError{Input: scheme + "://" + addr, Part: part, Reason: reason, Want: want}
	}
	example := scheme + "://127.0.0.1:7007"
	if strings.HasSuffix(scheme, "6") {
		example = scheme + "://[::1]:7007"
	}
	if addr == "" {
		return bad("address", "missing host:port", example)
	}
	if i := strings.IndexAny(addr, "/?#"); i >= 0 {
		return bad("address", fmt.Sprintf("unexpected %q after the address", addr[i:]), "host:port only")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		switch {
		case strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "["):
			return bad("host", "an IPv6 address needs brackets", bracketed(prefix, addr))
		case !strings.Contains(addr, ":"):
			return bad("port", "missing port", example)
		default:
			return bad("address", strings.TrimPrefix(err.Error(), "address "+addr+": "), example)
		}
	}
	if !isDigits(port) {
		return bad("port", fmt.Sprintf("port %q is not a number", port), "a port from 0 to 65535")
	}
	if n, err := strconv.Atoi(port); err != nil || n > 65535 {
		return bad("port", fmt.Sprintf("port %s is out of range", port), "a port from 0 to 65535")
	}
	if host != "" {
		ip := net.ParseIP(strings.SplitN(host, "%", 2)[0])
		switch {
		case ip == nil && !validHostname(host):
			return bad("host", fmt.Sprintf("host %q is neither an IP address nor a valid host name", host), "an IPv4 address, [IPv6] or a name like localhost")
		case ip != nil && strings.HasSuffix(scheme, "4") && ip.To4() == nil:
			return bad("host", fmt.Sprintf("%s needs an IPv4 address, not %s", scheme, host), "e.g. "+scheme+"://127.0.0.1:"+port)
		case ip != nil && strings.HasSuffix(scheme, "6") && ip.To4() != nil:
			return bad("host", fmt.Sprintf("%s needs an IPv6 address, not %s", scheme, host), "e.g. "+scheme+"://[::1]:"+port)
		}
	}
	return Endpoint{Scheme: scheme, Addr: net.JoinHostPort(host, port)}, nil
}

// bracketed spells addr, an IPv6 address without brackets and perhaps a
// port after it, in the ways Parse takes it: "::1:17090" is [::1]:17090,
// and "::1:7007" either [::1]:7007 or the address ::1:7007 with a port
// still to add.
func bracketed(prefix, addr string) string {
	whole := prefix + "[" + addr + "]:PORT"
	i := strings.LastIndexByte(addr, ':')
	host, port := addr[:i], addr[i+1:]
	if !isDigits(port) || len(port) > 5 || !isIPv6(host) {
		return whole
	}
	split := prefix + "[" + host + "]:" + port
	if isIPv6(addr) {
		return split + ", or " + whole + " for the address " + addr
	}
	return split
}

// isIPv6 reports whether s is an IPv6 address, with or without a zone.
func isIPv6(s string) bool {
	addr, zone, _ := strings.Cut(s, "%")
	return net.ParseIP(addr) != nil && strings.Contains(addr, ":") && !strings.Contains(zone, ":")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validHostname accepts RFC 1123 names: labels of letters, digits and
// hyphens, not starting or ending with a hyphen, 253 bytes at most.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
