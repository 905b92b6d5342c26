package client_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// sendThrough sends msg to ep through proxy and returns the reply: to the
// server's FIN after ours where the proxy passes a half-close on, else
// (endsAtFIN) the echo of len(msg) bytes: microsocks and lighttpd end
// both directions at the first FIN they see, so nothing comes back after
// ours.
func sendThrough(t *testing.T, ep endpoint.Endpoint, proxy string, msg []byte, endsAtFIN bool) ([]byte, error) {
	t.Helper()
	c, err := client.Dial(testkit.Context(t), ep, client.Options{Proxy: proxy, ConnectTimeout: testkit.Timeout})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if endsAtFIN {
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		go c.Write(msg)
		got := make([]byte, len(msg))
		n, err := io.ReadFull(c, got)
		return got[:n], err
	}
	var out bytes.Buffer
	err = client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Count: 1, Timeout: testkit.Timeout})
	return out.Bytes(), err
}

// TestProxyTunnels sends through microsocks (SOCKS5, with and without a
// user), through lighttpd (HTTP CONNECT, from Debian's packages too) and
// through an HTTP CONNECT proxy on net/http to an echo server: the reply
// comes back whole (then the server's FIN, where the proxy passes ours
// on).
func TestProxyTunnels(t *testing.T) {
	t.Parallel()
	_, echo := serveEcho(t, tcp4)
	msg := bytes.Repeat([]byte("through the proxy "), 10_000)
	tests := []struct {
		name  string
		proxy func(t *testing.T) string
	}{
		{name: "socks5", proxy: func(t *testing.T) string { return "socks5://" + testkit.SOCKS5Proxy(t, "", "") }},
		{name: "socks5 with a user", proxy: func(t *testing.T) string {
			return "socks5://alice:s3cret@" + testkit.SOCKS5Proxy(t, "alice", "s3cret")
		}},
		{name: "socks5 to a name", proxy: func(t *testing.T) string { return "socks5://" + testkit.SOCKS5Proxy(t, "", "") }},
		{name: "http", proxy: func(t *testing.T) string { return "http://" + testkit.HTTPProxy(t, "", "") }},
		{name: "http with a user", proxy: func(t *testing.T) string { return "http://bob:pw@" + testkit.HTTPProxy(t, "bob", "pw") }},
		{name: "http: lighttpd", proxy: func(t *testing.T) string { return "http://" + testkit.LighttpdProxy(t, echo.Addr) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep := echo
			if tt.name == "socks5 to a name" {
				_, port, _ := net.SplitHostPort(echo.Addr)
				ep = endpoint.MustParse("tcp://localhost:" + port) // the proxy resolves it
			}
			endsAtFIN := strings.HasPrefix(tt.name, "socks5") || tt.name == "http: lighttpd"
			got, err := sendThrough(t, ep, tt.proxy(t), msg, endsAtFIN)
			if err != nil {
				t.Fatalf("send through the proxy: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("echo of %d bytes came back as %d", len(msg), len(got))
			}
		})
	}
}

// TestProxyErrors: what a proxy answers instead of connecting is a
// *client.ProxyError of the right kind, and a proxy that is not there is
// refused, named as the proxy.
func TestProxyErrors(t *testing.T) {
	t.Parallel()
	_, echo := serveEcho(t, tcp4)
	refused := endpoint.MustParse("tcp://" + testkit.Refused(t))
	tests := []struct {
		name     string
		proxy    func(t *testing.T) string
		target   endpoint.Endpoint
		is       error
		kind     sockit.Kind
		contains string
	}{
		{name: "socks5: target refused", proxy: func(t *testing.T) string { return "socks5://" + testkit.SOCKS5Proxy(t, "", "") },
			target: refused, is: syscall.ECONNREFUSED, kind: sockit.KindRefused, contains: "says: connection refused"},
		{name: "socks5: wrong password", proxy: func(t *testing.T) string { return "socks5://alice:wrong@" + testkit.SOCKS5Proxy(t, "alice", "right") },
			target: echo, is: client.ErrProxyAuth, contains: `user "alice" and its password refused`},
		{name: "socks5: no credentials", proxy: func(t *testing.T) string { return "socks5://" + testkit.SOCKS5Proxy(t, "alice", "right") },
			target: echo, is: client.ErrProxyAuth, contains: "give a user and password"},
		{name: "http: wrong password", proxy: func(t *testing.T) string { return "http://bob:no@" + testkit.HTTPProxy(t, "bob", "pw") },
			target: echo, is: client.ErrProxyAuth, contains: "HTTP 407 Proxy Authentication Required"},
		{name: "http: target refused", proxy: func(t *testing.T) string { return "http://" + testkit.HTTPProxy(t, "", "") },
			target: refused, contains: "HTTP 502 Bad Gateway"},
		{name: "http: lighttpd, target refused", proxy: func(t *testing.T) string { return "http://" + testkit.LighttpdProxy(t, refused.Addr) },
			target: refused, contains: "HTTP 503 Service Unavailable"},
		{name: "no proxy there", proxy: func(t *testing.T) string { return "socks5://" + testkit.Refused(t) },
			target: echo, is: syscall.ECONNREFUSED, kind: sockit.KindRefused, contains: "connect tcp4 socks5://127.0.0.1:"},
		{name: "socks5: host unreachable", proxy: func(t *testing.T) string { return "socks5://" + scriptedSOCKS(t, 0x04) },
			target: echo, is: syscall.EHOSTUNREACH, kind: sockit.KindUnreachable, contains: "says: host unreachable"},
		{name: "not a proxy", proxy: func(t *testing.T) string {
			// It takes the greeting (one write of 3 bytes) before closing:
			// a close with it unread would be a reset, and the client
			// would see ECONNRESET or EOF depending on the race.
			return "socks5://" + testkit.Serve(t, func(c net.Conn) {
				c.SetReadDeadline(time.Now().Add(testkit.Timeout))
				io.ReadAtLeast(c, make([]byte, 3), 3)
				c.Close()
			}).String()
		},
			target: echo, contains: "closed the connection in the middle of the handshake"},
		{name: "reset in the handshake", proxy: func(t *testing.T) string {
			return "socks5://" + testkit.Serve(t, testkit.ResetAfter(3)).String()
		},
			target: echo, is: syscall.ECONNRESET, kind: sockit.KindReset, contains: "reset the connection in the middle of the handshake (is it a socks5 proxy?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sendThrough(t, tt.target, tt.proxy(t), []byte("x"), false)
			if err == nil {
				t.Fatal("connected, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if tt.kind != 0 && sockit.KindOf(err) != tt.kind {
				t.Errorf("KindOf(%v) = %v, want %v", err, sockit.KindOf(err), tt.kind)
			}
			testkit.MustContain(t, "error", err.Error(), tt.contains)
		})
	}
}

// scriptedSOCKS is a SOCKS5 server on 127.0.0.1:0 that accepts no
// authentication and answers every CONNECT with reply code rep.
func scriptedSOCKS(t *testing.T, rep byte) string {
	return testkit.Serve(t, func(c net.Conn) {
		defer c.Close()
		var hello [3]byte
		if _, err := io.ReadFull(c, hello[:]); err != nil {
			return
		}
		c.Write([]byte{5, 0})
		var req [10]byte // version, CONNECT, 0, IPv4, address, port
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return
		}
		c.Write([]byte{5, rep, 0, 1, 0, 0, 0, 0, 0, 0})
	}).String()
}

// TestProxyOptions: a proxy for what is not TCP, or that is no proxy URL,
// is an option error naming client.Options.Proxy, before any socket.
func TestProxyOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ep, proxy, contains string
	}{
		{name: "udp", ep: "udp://127.0.0.1:9", proxy: "socks5://127.0.0.1:1080", contains: "tunnels TCP"},
		{name: "unix", ep: "unix:///tmp/x.sock", proxy: "socks5://127.0.0.1:1080", contains: "tunnels TCP"},
		{name: "scheme", ep: "tcp://127.0.0.1:9", proxy: "socks4://127.0.0.1:1080", contains: "is not a proxy"},
		{name: "no port", ep: "tcp://127.0.0.1:9", proxy: "http://127.0.0.1", contains: "is not a proxy"},
		{name: "password hidden", ep: "tcp://127.0.0.1:9", proxy: "ftp://u:hunter2@127.0.0.1:21", contains: "u:xxxxx@"},
	}
	for _, tt := range tests {
		_, err := client.Dial(testkit.Context(t), endpoint.MustParse(tt.ep), client.Options{Proxy: tt.proxy})
		var oe *sockit.OptionError
		if !errors.As(err, &oe) || oe.Owner != "client.Options" || oe.Fields[0] != "Proxy" {
			t.Errorf("%s: Dial = %v, want an OptionError on client.Options.Proxy", tt.name, err)
			continue
		}
		testkit.MustContain(t, tt.name, err.Error(), tt.contains)
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tt.name, err)
		}
	}
}
