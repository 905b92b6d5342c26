//go:build unix

package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// TestProxyFlag runs send, connect and relay's target side through real
// proxies: an HTTP CONNECT proxy on net/http (which passes a half-close
// on, as send needs), and from Debian's packages microsocks (SOCKS5) and
// lighttpd (HTTP CONNECT), which end both directions at the first FIN, so
// connect there ends its input only after the echo.
func TestProxyFlag(t *testing.T) {
	t.Parallel()
	s := serveKind(t, "tcp")
	t.Run("send --proxy http://", func(t *testing.T) {
		t.Parallel()
		opts, out, errOut := sendOpts(s.endpoint(0), "hello", "through", "a", "proxy")
		opts.Proxy = "http://u:p@" + testkit.HTTPProxy(t, "u", "p")
		if err := runSend(context.Background(), opts); err != nil {
			t.Fatalf("runSend = %v\nstderr:\n%s", err, errOut)
		}
		if got := out.String(); got != "hello through a proxy\n" {
			t.Errorf("printed %q", got)
		}
	})
	t.Run("connect --proxy socks5://", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		opts, out, errOut := connectOpts(s.endpoint(0), pr)
		opts.Proxy = "socks5://" + testkit.SOCKS5Proxy(t, "", "")
		opts.Verbose = true
		done := make(chan error, 1)
		go func() { done <- runConnect(context.Background(), opts) }()
		pw.Write([]byte("via microsocks\n"))
		out.WaitFor(t, "via microsocks\n")
		pw.Close()
		if err := testkit.Receive(t, done, "runConnect's return"); err != nil {
			t.Fatalf("runConnect = %v\nstderr:\n%s", err, errOut)
		}
		testkit.MustContain(t, "-v narration", errOut.String(), "through the proxy socks5://127.0.0.1:")
	})
	t.Run("connect --proxy http:// (lighttpd)", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		opts, out, errOut := connectOpts(s.endpoint(0), pr)
		opts.Proxy = "http://" + testkit.LighttpdProxy(t, s.addrs[0].String())
		done := make(chan error, 1)
		go func() { done <- runConnect(context.Background(), opts) }()
		pw.Write([]byte("via lighttpd\n"))
		out.WaitFor(t, "via lighttpd\n")
		pw.Close()
		if err := testkit.Receive(t, done, "runConnect's return"); err != nil {
			t.Fatalf("runConnect = %v\nstderr:\n%s", err, errOut)
		}
	})
	t.Run("relay --proxy http://", func(t *testing.T) {
		t.Parallel()
		r := startRelay(t, &RelayOptions{From: "tcp://127.0.0.1:0", To: s.endpoint(0), Proxy: "http://" + testkit.HTTPProxy(t, "", ""), ConnectTimeout: testkit.Timeout})
		if got := send(t, "tcp://"+r.addr.String(), "relayed"); got != "relayed\n" {
			t.Errorf("through the relay and the proxy: %q", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, proxy string
			code        int
			want        string
		}{
			{name: "wrong password", proxy: "socks5://alice:wrong@" + testkit.SOCKS5Proxy(t, "alice", "right"), code: ExitConnect, want: `says: user "alice" and its password refused`},
			{name: "target refused", proxy: "socks5://" + testkit.SOCKS5Proxy(t, "", ""), code: ExitConnect, want: "says: connection refused"},
			{name: "no proxy there", proxy: "http://" + testkit.Refused(t), code: ExitConnect, want: "connect tcp http://127.0.0.1:"},
			{name: "not a proxy URL", proxy: "socks4://127.0.0.1:1", code: ExitUsage, want: "--proxy "},
		}
		for _, tt := range tests {
			target := s.endpoint(0)
			if tt.name == "target refused" {
				target = refused(t)
			}
			opts, _, _ := sendOpts(target, "x")
			opts.Proxy = tt.proxy
			msg := errorOf(t, runSend(context.Background(), opts), tt.code)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("%s: %q, want it to say %q", tt.name, msg, tt.want)
			}
		}
	})
}
