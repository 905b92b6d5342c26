package ws_test

import (
	"bufio"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// request is an upgrade request for host with the given Origin headers.
func request(host string, origins ...string) *ws.Request {
	h := textproto.MIMEHeader{}
	for _, o := range origins {
		h.Add("Origin", o)
	}
	return &ws.Request{Method: "GET", Path: "/", Host: host, Header: h}
}

// Same origin: no Origin (not a browser page), or the Host the request
// went to, scheme and default port aside.
func TestSameOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		host    string
		origins []string
		want    bool
	}{
		{name: "no Origin: not a browser", host: "127.0.0.1:8080", want: true},
		{name: "same host and port", host: "127.0.0.1:8080", origins: []string{"http://127.0.0.1:8080"}, want: true},
		{name: "https page, wss endpoint", host: "127.0.0.1:8443", origins: []string{"https://127.0.0.1:8443"}, want: true},
		{name: "case", host: "Example.COM:8080", origins: []string{"http://example.com:8080"}, want: true},
		{name: "default port left out of the origin", host: "example.com:80", origins: []string{"http://example.com"}, want: true},
		{name: "default port left out of Host", host: "example.com", origins: []string{"https://example.com"}, want: true},
		{name: "IPv6", host: "[::1]:8080", origins: []string{"http://[::1]:8080"}, want: true},
		{name: "another port", host: "127.0.0.1:8080", origins: []string{"http://127.0.0.1:8081"}, want: false},
		{name: "another loopback address", host: "127.0.0.1:8080", origins: []string{"http://127.0.0.2:8080"}, want: false},
		{name: "another site", host: "127.0.0.1:6379", origins: []string{"https://evil.example"}, want: false},
		{name: "https default port against 80", host: "example.com:80", origins: []string{"https://example.com"}, want: false},
		{name: "null origin (sandboxed page, file://)", host: "127.0.0.1:8080", origins: []string{"null"}, want: false},
		{name: "two Origin headers", host: "127.0.0.1:8080", origins: []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080"}, want: false},
	}
	for _, tt := range tests {
		if got := ws.SameOrigin(request(tt.host, tt.origins...)); got != tt.want {
			t.Errorf("%s: SameOrigin(Host %s, Origin %q) = %v, want %v", tt.name, tt.host, tt.origins, got, tt.want)
		}
	}
}

// Patterns widen the same-origin rule.
func TestAllowOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		patterns []string
		origin   string
		want     bool
	}{
		{name: "none: same origin", origin: "http://127.0.0.1:9000", want: true},
		{name: "none: another origin", origin: "https://evil.example", want: false},
		{name: "star", patterns: []string{"*"}, origin: "https://evil.example", want: true},
		{name: "exact", patterns: []string{"https://app.example.com"}, origin: "https://app.example.com", want: true},
		{name: "exact, other scheme", patterns: []string{"https://app.example.com"}, origin: "http://app.example.com", want: false},
		{name: "exact, a port", patterns: []string{"https://app.example.com"}, origin: "https://app.example.com:8443", want: false},
		{name: "exact with default port", patterns: []string{"https://app.example.com:443"}, origin: "https://app.example.com", want: true},
		{name: "subdomain", patterns: []string{"https://*.example.com"}, origin: "https://a.b.example.com", want: true},
		{name: "subdomain, not the domain", patterns: []string{"https://*.example.com"}, origin: "https://example.com", want: false},
		{name: "subdomain, not a lookalike", patterns: []string{"https://*.example.com"}, origin: "https://evilexample.com", want: false},
		{name: "port", patterns: []string{"http://127.0.0.1:8080"}, origin: "http://127.0.0.1:8080", want: true},
		{name: "other port", patterns: []string{"http://127.0.0.1:8080"}, origin: "http://127.0.0.1:8081", want: false},
		{name: "any port", patterns: []string{"http://localhost:*"}, origin: "http://LOCALHOST:3000", want: true},
		{name: "second pattern", patterns: []string{"https://a.example", "https://b.example"}, origin: "https://b.example", want: true},
		{name: "IPv6", patterns: []string{"http://[::1]:3000"}, origin: "http://[::1]:3000", want: true},
	}
	for _, tt := range tests {
		check, err := ws.AllowOrigins(tt.patterns...)
		if err != nil {
			t.Fatalf("%s: AllowOrigins(%q) = %v", tt.name, tt.patterns, err)
		}
		if got := check(request("127.0.0.1:9000", tt.origin)); got != tt.want {
			t.Errorf("%s: patterns %q, Origin %q: %v, want %v", tt.name, tt.patterns, tt.origin, got, tt.want)
		}
	}
	for _, bad := range []string{"example.com", "https://", "https://example.com/path", "https://ex*ample.com", "https://*", "https://example.com:", "://x"} {
		if _, err := ws.AllowOrigins(bad); err == nil {
			t.Errorf("AllowOrigins(%q) accepted it", bad)
		}
	}
}

// By default a server refuses an upgrade from another origin's page with
// 403, and counts it; a same-origin page and a client without Origin get
// their upgrade.
func TestServerRefusesOtherOrigins(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		for _, tt := range []struct {
			origin string
			want   int
		}{
			{origin: "", want: 101},
			{origin: "http://" + addr, want: 101},
			{origin: "http://evil.example", want: 403},
		} {
			c := dialTCP(t, addr)
			req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n"
			if tt.origin != "" {
				req += "Origin: " + tt.origin + "\r\n"
			}
			c.Write([]byte(req + "\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("Origin %q: %v", tt.origin, err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("Origin %q: %s, want %d", tt.origin, resp.Status, tt.want)
			}
			c.Close()
		}
		if st := wsrv.Stats(); st.OriginRefused != 1 || st.Rejected != 1 {
			t.Errorf("Stats: %d refused, %d for their Origin; want 1 and 1", st.Rejected, st.OriginRefused)
		}
	})
}
