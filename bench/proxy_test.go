package bench_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// TestProxy runs the load through an HTTP CONNECT proxy, whose handshake
// runs in the engine's loops: every connection opens, every byte is
// echoed and verified, and the half-close at the end passes through.
func TestProxy(t *testing.T) {
	t.Parallel()
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Proxy = "http://u:p@" + testkit.HTTPProxy(t, "u", "p")
	res := run(t, o)
	if c := res.Check; res.ConnsUp != int64(o.Conns) || res.Messages == 0 || len(res.Errors) != 0 || res.TotalRecvBytes != res.TotalSentBytes || c.MismatchedMsgs+c.MissingBytes+c.ExtraBytes != 0 {
		t.Errorf("through the proxy: %d of %d connections up, %d messages, errors %v, sent %d received %d",
			res.ConnsUp, o.Conns, res.Messages, res.Errors, res.TotalSentBytes, res.TotalRecvBytes)
	}
}

// TestProxyRefuses: connections a proxy does not make (microsocks, wrong
// password; or a target that refuses) are counted as failed connects of
// the proxy's kind, and a proxy for datagrams is an option error.
func TestProxyRefuses(t *testing.T) {
	t.Parallel()
	ep, _ := server(t, "tcp", service.Echo{})
	tests := []struct {
		name   string
		proxy  func(t *testing.T) string
		target endpoint.Endpoint
		is     error
		says   string // in the error, if not empty
	}{
		{name: "wrong password", proxy: func(t *testing.T) string { return "socks5://u:wrong@" + testkit.SOCKS5Proxy(t, "u", "right") },
			target: ep, is: client.ErrProxyAuth},
		{name: "target refused", proxy: func(t *testing.T) string { return "socks5://" + testkit.SOCKS5Proxy(t, "", "") },
			target: endpoint.MustParse("tcp://" + testkit.Refused(t))},
		{name: "reset in the handshake", proxy: func(t *testing.T) string { return "socks5://" + testkit.Serve(t, testkit.ResetAfter(3)).String() },
			target: ep, is: syscall.ECONNRESET, says: "reset the connection in the middle of the handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := quick(tt.target)
			o.Conns = 2
			o.Proxy = tt.proxy(t)
			res := run(t, o)
			err := res.ConnectError()
			if res.ConnsUp != 0 || err == nil {
				t.Fatalf("%d connections up, first error %v; want none up", res.ConnsUp, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if tt.is == nil && sockit.KindOf(err) != sockit.KindRefused {
				t.Errorf("error %v of kind %v, want refused", err, sockit.KindOf(err))
			}
			testkit.MustContain(t, "error", err.Error(), tt.says)
		})
	}
	o := quick(endpoint.MustParse("udp://127.0.0.1:9"))
	o.Proxy = "socks5://127.0.0.1:1"
	var oe *sockit.OptionError
	if _, err := bench.Run(t.Context(), o); !errors.As(err, &oe) || oe.Fields[0] != "Proxy" {
		t.Errorf("a proxy for udp: %v, want an OptionError on Proxy", err)
	}
}
