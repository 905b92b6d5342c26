package ws_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// The server answers each upgrade request with the right status, and
// closes after any answer but 101.
func TestHandshake(t *testing.T) {
	const key = "Sec-WebSocket-Key: " + sampleKey + "\r\n"
	const good = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name   string
		req    string
		status int
		header map[string]string // response fields to check
		body   string            // substring of the body
		plain  bool              // a plain HTTP request, counted as a page or in HTTPRefused
	}{
		{name: "ok", req: "GET /ws HTTP/1.1\r\n" + good + "\r\n", status: 101,
			header: map[string]string{"Sec-WebSocket-Accept": sampleAccept, "Upgrade": "websocket", "Connection": "Upgrade"}},
		{name: "token-lists-any-case", status: 101, req: "GET /ws?room=1 HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\n" +
			"connection: keep-alive, UPGRADE\r\n" + key + "sec-websocket-version: 13\r\n\r\n"},
		{name: "subprotocol", status: 101, req: "GET /ws HTTP/1.1\r\n" + good + "Sec-WebSocket-Protocol: x, chat\r\n\r\n",
			header: map[string]string{"Sec-WebSocket-Protocol": "chat"}},
		{name: "post", req: "POST /ws HTTP/1.1\r\n" + good + "\r\n", status: 405, header: map[string]string{"Allow": "GET, HEAD"}},
		{name: "plain-post", req: "POST / HTTP/1.1\r\nHost: x\r\n\r\n", status: 405, header: map[string]string{"Allow": "GET, HEAD"}, plain: true},
		{name: "no-host", req: "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\r\n\r\n", status: 400, body: "Host"},
		{name: "no-connection-upgrade", req: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" + key + "Sec-WebSocket-Version: 13\r\n\r\n", status: 400},
		{name: "version-8", req: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 8\r\n\r\n",
			status: 426, header: map[string]string{"Sec-WebSocket-Version": "13"}},
		{name: "short-key", req: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n", status: 400},
		{name: "two-keys", req: "GET /ws HTTP/1.1\r\n" + good + key + "\r\n", status: 400},
		{name: "wrong-path", req: "GET /other HTTP/1.1\r\n" + good + "\r\n", status: 404},
		{name: "http-1.0", req: "GET /ws HTTP/1.0\r\n" + good + "\r\n", status: 400},
		{name: "http-2", req: "GET /ws HTTP/2.0\r\n" + good + "\r\n", status: 505},
		{name: "plain-get-on-ws-path", req: "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", status: 426, header: map[string]string{"Upgrade": "websocket"}, plain: true},
		{name: "plain-get-elsewhere", req: "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, plain: true},
		{name: "plain-get-page", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, body: "hello page",
			header: map[string]string{"Content-Type": "text/plain"}, plain: true},
		{name: "head-page", req: "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", status: 200,
			header: map[string]string{"Content-Type": "text/plain", "Content-Length": "10"}, plain: true},
		{name: "head-elsewhere", req: "HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, plain: true},
		{name: "forbidden-origin", req: "GET /ws HTTP/1.1\r\n" + good + "Origin: http://evil.example\r\n\r\n", status: 403},
		{name: "garbage", req: "hello there\r\n\r\n", status: 400},
		{name: "folded-header", req: "GET /ws HTTP/1.1\r\n" + good + "X-A: 1\r\n  folded\r\n\r\n", status: 400},
		{name: "space-before-colon", req: "GET /ws HTTP/1.1\r\n" + good + "X-A : 1\r\n\r\n", status: 400},
		{name: "absolute-target", req: "GET http://x/ws HTTP/1.1\r\n" + good + "\r\n", status: 400},
		{name: "head-too-large", req: "GET /ws HTTP/1.1\r\n" + good + "X-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", status: 431},
		{name: "head-too-large-unfinished", req: "GET /ws HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 9000), status: 431},
	}
	opts := ws.ServerOptions{
		Path:         "/ws",
		Subprotocols: []string{"chat"},
		CheckOrigin:  func(r *ws.Request) bool { return r.Header.Get("Origin") != "http://evil.example" },
		HTTP: func(r *ws.Request) (int, string, []byte) {
			if r.Path != "/" {
				return 0, "", nil
			}
			return 200, "text/plain", []byte("hello page")
		},
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, opts)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dialTCP(t, addr)
				if _, err := io.WriteString(c, tt.req); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				var req *http.Request
				if strings.HasPrefix(tt.req, "HEAD ") {
					req = &http.Request{Method: "HEAD"} // no body to read: any byte after the head is extra
				}
				resp, err := http.ReadResponse(br, req)
				if err != nil {
					t.Fatalf("read response: %v", err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("read body: %v", err)
				}
				if resp.StatusCode != tt.status {
					t.Fatalf("status %s (%q), want %d", resp.Status, body, tt.status)
				}
				for k, v := range tt.header {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				if !strings.Contains(string(body), tt.body) {
					t.Errorf("body %q does not contain %q", body, tt.body)
				}
				if tt.status == 101 {
					return
				}
				if n, err := io.Copy(io.Discard, br); n != 0 || err != nil {
					t.Errorf("after a %d: %d more bytes, %v; want EOF", tt.status, n, err)
				}
			})
		}
		var plain, pages uint64
		for _, tt := range tests {
			if tt.plain {
				plain++
				if tt.status == 200 {
					pages++
				}
			}
		}
		st := wsrv.Stats()
		want := ws.Stats{Upgrades: 3, HTTP: pages, HTTPRefused: plain - pages, Rejected: uint64(len(tests)) - 3 - plain}
		if st.Upgrades != want.Upgrades || st.HTTP != want.HTTP || st.HTTPRefused != want.HTTPRefused || st.Rejected != want.Rejected {
			t.Errorf("Stats upgrades/pages/plain refused/rejected = %d/%d/%d/%d, want %d/%d/%d/%d",
				st.Upgrades, st.HTTP, st.HTTPRefused, st.Rejected, want.Upgrades, want.HTTP, want.HTTPRefused, want.Rejected)
		}
	})
}

// A request arriving one byte at a time is upgraded, and frames sent in
// the same write as the request's end are read.
func TestHandshakeSplit(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := &rawClient{t: t, c: dialTCP(t, addr)}
		rc.br = bufio.NewReader(rc.c)
		req := []byte(upgradeRequest("/x"))
		for _, c := range req[:len(req)-1] {
			rc.write([]byte{c})
		}
		rc.write(append(req[len(req)-1:], frame(fin|opText, true, []byte("right after"))...))
		resp, err := http.ReadResponse(rc.br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("response %v, %v; want 101", resp, err)
		}
		rc.expect(fin|opText, []byte("right after"))
	})
}
