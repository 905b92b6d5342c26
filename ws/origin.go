package ws

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// A browser lets any page open a WebSocket connection to any address, and
// sends the page's origin in the Origin header; it is up to the server to
// refuse the pages it does not know (RFC 6455, 10.2). Without that, any
// site a user visits can talk, through the user's browser, to a WebSocket
// server on their machine or network: Cross-Site WebSocket Hijacking.
// The rule here is the one place that decides, used by ServerOptions
// whose CheckOrigin is nil and by AllowOrigins.

// SameOrigin is the default CheckOrigin (ServerOptions.CheckOrigin nil):
// it admits a request without an Origin header — not from a browser page,
// which always sends one — and a request whose Origin names the host and
// port the request was sent to (its Host header), scheme aside: the page
// was served by this server. Any other origin, "null" included, is
// refused.
func SameOrigin(r *Request) bool {
	origins := r.Header["Origin"]
	switch len(origins) {
	case 0:
		return true
	case 1:
	default:
		return false // ambiguous: more than one Origin header
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(r.Host, u.Scheme))
}

// withoutDefaultPort drops the port of hostport if it is scheme's default
// (80 for http, 443 for https), which a browser leaves out of an origin.
func withoutDefaultPort(hostport, scheme string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if (port == "80" && strings.EqualFold(scheme, "http")) || (port == "443" && strings.EqualFold(scheme, "https")) {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return hostport
}

// AllowOrigins returns a CheckOrigin that admits what SameOrigin admits,
// and pages from the origins that match one of patterns:
//
//	"*"                         any origin at all
//	"https://app.example.com"   that origin (default port)
//	"https://*.example.com"     any subdomain of example.com, over https
//	"http://127.0.0.1:8080"     that host and port
//	"http://localhost:*"        any port of localhost
//
// A pattern is a scheme, "://", and a host with an optional port; the host
// may start with "*." for any name that ends with the rest, and the port
// may be "*". Matching ignores case. With no patterns, it is SameOrigin.
// A pattern of another shape is an error.
func AllowOrigins(patterns ...string) (func(*Request) bool, error) {
	var ps []originPattern
	for _, s := range patterns {
		if s == "*" {
			return func(*Request) bool { return true }, nil
		}
		p, err := parseOriginPattern(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return SameOrigin, nil
	}
	return func(r *Request) bool {
		if SameOrigin(r) {
			return true
		}
		origins := r.Header["Origin"]
		if len(origins) != 1 {
			return false
		}
		for _, p := range ps {
			if p.match(origins[0]) {
				return true
			}
		}
		return false
	}, nil
}

// originPattern is a parsed pattern of AllowOrigins.
type originPattern struct {
	scheme string // lower case
	host   string // lower case, without the "*." of a wildcard
	sub    bool   // host started with "*.": match names ending in "."+host
	port   string // "" = the scheme's default, "*" = any
}

func parseOriginPattern(s string) (originPattern, error) {
	bad := func(why string) error {
		return fmt.Errorf("origin pattern %q %s (want *, or scheme://host[:port] such as https://*.example.com or http://localhost:*)", s, why)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case !ok || scheme == "":
		return originPattern{}, bad("has no scheme")
	case rest == "":
		return originPattern{}, bad("has no host")
	case strings.ContainsAny(rest, "/?#@"):
		return originPattern{}, bad("has more than a host and port")
	}
	p := originPattern{scheme: strings.ToLower(scheme), host: strings.ToLower(rest)}
	if h, port, err := net.SplitHostPort(rest); err == nil {
		p.host, p.port = strings.ToLower(h), port
		if port == "" {
			return originPattern{}, bad("has an empty port")
		}
	} else if strings.HasPrefix(rest, "[") {
		p.host = strings.ToLower(strings.Trim(rest, "[]"))
	}
	if (p.port == "80" && p.scheme == "http") || (p.port == "443" && p.scheme == "https") {
		p.port = "" // as a browser writes it: the default port left out
	}
	if rest, ok := strings.CutPrefix(p.host, "*."); ok {
		p.host, p.sub = rest, true
	}
	if p.host == "" || strings.Contains(p.host, "*") {
		return originPattern{}, bad("has a wildcard other than a leading *. or a port *")
	}
	return p, nil
}

// match reports whether origin, as a browser sends it
// (scheme://host[:port]), matches p.
func (p originPattern) match(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || !strings.EqualFold(u.Scheme, p.scheme) {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case p.port == "*":
	case p.port == "" && port != "":
		if withoutDefaultPort(u.Host, u.Scheme) == u.Host {
			return false // a port, and not the scheme's default
		}
	case p.port != "" && port != p.port:
		return false
	}
	if p.sub {
		return strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}
