package httpsvc_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// Go's net/http client: keep-alive (every request on one connection),
// bodies of both framings, HEAD.
func TestGoClient(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		svc, addr := serve(t, b, httpsvc.Options{})
		tr := &http.Transport{MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: testkit.Timeout}
		for i := 1; i <= 5; i++ {
			var body io.Reader
			method := "GET"
			if i%2 == 0 {
				method, body = "POST", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")) // no length: chunked
			}
			req, _ := http.NewRequest(method, "http://"+addr+"/anything/go?i=1", body)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			var d description
			err = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			if err != nil || d.Request != i || method == "POST" && (d.BodyBytes != 7 || !d.BodyChunked) {
				t.Fatalf("request %d: %+v, %v", i, d, err)
			}
		}
		resp, err := cl.Head("http://" + addr + "/plaintext")
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != 13 {
			t.Fatalf("HEAD: %v, %v", resp, err)
		}
		resp.Body.Close()
		if st := svc.Stats(); st.Conns != 1 {
			t.Errorf("%d connections for 6 requests, want 1 (keep-alive)", st.Conns)
		}
	})
}

// curl: keep-alive across two URLs, HTTP/1.0, a POST with a body.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl here (Debian: apt-get install curl); CI installs it")
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		svc, addr := serve(t, b, httpsvc.Options{})
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "20"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		out := run("http://"+addr+"/plaintext", "http://"+addr+"/anything/second")
		if !strings.HasPrefix(out, "Hello, World!{") || !strings.Contains(out, `"request_on_connection": 2`) {
			t.Errorf("two URLs on one connection: %s", out)
		}
		if out := run("--http1.0", "http://"+addr+"/anything"); !strings.Contains(out, `"proto": "HTTP/1.0"`) {
			t.Errorf("--http1.0: %s", out)
		}
		if out := run("--data-binary", "twelve bytes", "http://"+addr+"/anything"); !strings.Contains(out, `"body_bytes": 12`) {
			t.Errorf("POST: %s", out)
		}
		if st := svc.Stats(); st.Conns != 3 || st.Requests != 4 {
			t.Errorf("Stats %+v, want 4 requests on 3 connections", st)
		}
	})
}

// /ws on the same port: an upgrade goes to the WebSocket echo, a plain
// GET gets the page.
func TestWebSocketOnSamePort(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv := ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/ws"})
		svc, addr := serve(t, b, httpsvc.Options{WebSocket: wsrv})
		c := dial(t, addr)
		c.send(get("/plaintext") + get("/ws"))
		c.read("GET")
		if r := c.read("GET"); r.status != 200 || !strings.Contains(string(r.body), "WebSocket") {
			t.Errorf("GET /ws: %d %s", r.status, trim(r.body))
		}
		nc := testkit.Dial(t, "tcp", addr)
		bc, err := ws.Dial(testkit.Context(t), nc, "/ws", ws.ClientOptions{})
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		if err := bc.WriteMessage(ws.OpText, []byte("over the same port")); err != nil {
			t.Fatal(err)
		}
		op, msg, err := bc.ReadMessage()
		if err != nil || op != ws.OpText || string(msg) != "over the same port" {
			t.Fatalf("echo: %v %q %v", op, msg, err)
		}
		bc.Close(ws.CloseNormal, "")
		if st := svc.Stats(); st.Upgrades != 1 {
			t.Errorf("Stats %+v, want 1 upgrade", st)
		}
	})
}

// -v: every step of a request is told.
func TestNarration(t *testing.T) {
	rec := &testkit.Recorder{}
	_, addr := serve(t, engine.DefaultBackend, httpsvc.Options{Observer: rec})
	c := dial(t, addr)
	c.send("POST /anything HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	c.read("POST")
	c.expectEOF()
	var text []string
	for _, e := range rec.Events() {
		if e.Step == sockit.StepHTTP {
			text = append(text, e.String())
		}
	}
	all := strings.Join(text, "\n")
	testkit.MustContain(t, "the narration", all,
		"request line: POST /anything HTTP/1.1", "field Transfer-Encoding: chunked", "a chunked body follows",
		"the connection closes after the response (Connection: close)", "body: chunk data, 3 bytes",
		"body: last chunk; 3 bytes in all", "response: 200 OK", "then close: FIN after the response")
}

// The service answers IPv6 peers and names them.
func TestIPv6Peer(t *testing.T) {
	testkit.NeedIPv6(t)
	svc := httpsvc.New(httpsvc.Options{})
	srv := testkit.NewServer(t, nil)
	ep := testkit.Listen(t, srv, mustParse(t, "tcp6://[::1]:0"), svc)
	c := dial(t, ep.Addr)
	c.send(get("/"))
	if d := describe(t, c.read("GET")); net.ParseIP(strings.Trim(strings.Split(d.Peer, "]")[0], "[")) == nil {
		t.Errorf("peer %q", d.Peer)
	}
}

// A TLS client on an http:// endpoint gets a plain 400 and a close, and
// the narration says what it sent.
func TestTLSClientOnPlainHTTP(t *testing.T) {
	rec := &testkit.Recorder{}
	svc, addr := serve(t, engine.DefaultBackend, httpsvc.Options{Observer: rec})
	cfg := testkit.ClientTLS()
	cfg.ServerName = "localhost"
	tc := tls.Client(testkit.Dial(t, "tcp", addr), cfg)
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS handshake with a plain HTTP server succeeded")
	}
	testkit.Eventually(t, "the refusal", func() bool { return svc.Stats().Malformed == 1 })
	var text []string
	for _, e := range rec.Events() {
		text = append(text, e.String())
	}
	testkit.MustContain(t, "the narration", strings.Join(text, "\n"), "refused: 400 Bad Request: a TLS ClientHello: this endpoint speaks plain HTTP (http://), not HTTPS")
}
