package layer_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/service"
)

// upgradeStatus sends an upgrade request with origin (none if "") to the
// ws:// endpoint at addr and returns the status of the answer.
func upgradeStatus(t *testing.T, addr, path, origin string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testkit.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	c.Write([]byte(req + "\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// ws:// endpoints admit their own origin and clients without one; other
// origins only through AllowOrigins, on the engine and in Upgrade alike.
func TestAllowOrigins(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, tt := range []struct {
			name  string
			allow []string
			want  map[string]int // origin → status
		}{
			{name: "default", want: map[string]int{"": 101, "self": 101, "http://evil.example": 403, "http://127.0.0.1:1": 403}},
			{name: "a pattern", allow: []string{"http://*.example"}, want: map[string]int{"": 101, "self": 101, "http://evil.example": 101, "http://127.0.0.1:1": 403}},
			{name: "any", allow: []string{"*"}, want: map[string]int{"http://evil.example": 101, "http://127.0.0.1:1": 101}},
		} {
			ls := layer.NewServer(layer.ServerConfig{AllowOrigins: tt.allow})
			ep := endpointFor("ws")
			addr, err := ls.Listen(newEngine(t, b), ep, service.Echo{})
			if err != nil {
				t.Fatal(err)
			}
			blocking := blockingServer(t, ls, endpointFor("ws"), testkit.Echo)
			refused := uint64(0)
			for origin, want := range tt.want {
				for _, at := range []string{addr.String(), blocking.Addr} {
					o := origin
					if o == "self" {
						o = "http://" + at
					}
					if got := upgradeStatus(t, at, ep.Path, o); got != want {
						t.Errorf("%s: Origin %q at %s: %d, want %d", tt.name, o, at, got, want)
					}
					if want == 403 {
						refused++
					}
				}
			}
			if st := ls.Stats().WebSocket; st.OriginRefused != refused {
				t.Errorf("%s: %d refused for their Origin, want %d", tt.name, st.OriginRefused, refused)
			}
		}
	})
}

// A malformed pattern is an OptionError naming the field, for WebSocket
// endpoints.
func TestAllowOriginsBadPattern(t *testing.T) {
	t.Parallel()
	ls := layer.NewServer(layer.ServerConfig{AllowOrigins: []string{"example.com"}})
	err := ls.Check(endpoint.MustParse("ws://127.0.0.1:0/"))
	var oe *sockit.OptionError
	if !errors.As(err, &oe) || oe.Owner != "layer.ServerConfig" || oe.Fields[0] != "AllowOrigins" {
		t.Errorf("Check = %v, want an OptionError for layer.ServerConfig.AllowOrigins", err)
	}
	if err := ls.Check(endpoint.MustParse("tcp://127.0.0.1:0")); err != nil {
		t.Errorf("Check(tcp) = %v, want nil: no WebSocket there", err)
	}
}
