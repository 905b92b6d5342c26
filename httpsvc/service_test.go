package httpsvc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

// Pipelined requests, sent in one write and then a byte at a time, get
// their responses in order on one keep-alive connection.
func TestPipelining(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{})
		c := dial(t, addr)
		c.send(get("/anything/1") + post("/anything/2", "hello") + "HEAD /plaintext HTTP/1.1\r\nHost: test\r\n\r\n" + get("/anything/4?a=1&a=2&b"))
		if d := describe(t, c.read("GET")); d.Path != "/anything/1" || d.Request != 1 {
			t.Errorf("first: %+v", d)
		}
		if d := describe(t, c.read("POST")); d.Path != "/anything/2" || d.Request != 2 || d.BodyBytes != 5 || d.Method != "POST" {
			t.Errorf("second: %+v", d)
		}
		if r := c.read("HEAD"); r.status != 200 || r.fields["content-length"] != "13" || len(r.body) != 0 {
			t.Errorf("HEAD /plaintext: %d, %v, %q", r.status, r.fields, r.body)
		}
		d := describe(t, c.read("GET"))
		if d.Request != 4 || d.Query != "a=1&a=2&b" || len(d.Args["a"]) != 2 || d.Args["b"][0] != "" {
			t.Errorf("fourth: %+v", d)
		}
		req := get("/plaintext") + get("/anything/x")
		for i := 0; i < len(req); i++ {
			c.send(req[i : i+1])
		}
		if r := c.read("GET"); r.status != 200 || string(r.body) != "Hello, World!" || !r.keep {
			t.Errorf("/plaintext byte by byte: %d %q keep-alive %v", r.status, r.body, r.keep)
		}
		if d := describe(t, c.read("GET")); d.Request != 6 || d.Headers[0] != [2]string{"Host", "test"} {
			t.Errorf("sixth: %+v", d)
		}
	})
}

// Bodies framed by Content-Length and chunked are read and counted,
// whatever their split; Expect: 100-continue gets its 100 first.
func TestBodies(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		svc, addr := serve(t, b, httpsvc.Options{})
		c := dial(t, addr)
		c.send("PUT /anything HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		c.send("1;ext=1\r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n")
		d := describe(t, c.read("PUT"))
		if d.BodyBytes != 6 || !d.BodyChunked {
			t.Errorf("chunked: %+v", d)
		}
		c.send("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
		if r := c.read("POST"); r.status != 100 {
			t.Fatalf("Expect: 100-continue: got %d first", r.status)
		}
		c.send("abc")
		if d := describe(t, c.read("POST")); d.BodyBytes != 3 {
			t.Errorf("after 100 Continue: %+v", d)
		}
		if st := svc.Stats(); st.BodyBytes != 9 || st.Requests != 2 {
			t.Errorf("Stats = %+v, want 9 body bytes in 2 requests", st)
		}
	})
}

// Each limit answers with its status, then closes the connection with a
// FIN after the response.
func TestLimits(t *testing.T) {
	big := "GET / HTTP/1.1\r\nHost: t\r\nX: " + strings.Repeat("x", 300) + "\r\n\r\n"
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{name: "head too large", req: big, status: 431},
		{name: "body too large", req: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n", status: 413},
		{name: "chunked body too large", req: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n" + strings.Repeat("x", 1025) + "\r\n0\r\n\r\n", status: 413},
		{name: "smuggling: CL and TE", req: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "smuggling: two lengths", req: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", status: 400},
		{name: "obs-fold", req: "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", status: 400},
		{name: "bare LF", req: "GET / HTTP/1.1\nHost: t\n\n", status: 400},
		{name: "bad chunk size", req: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400},
		{name: "method not allowed", req: "POST /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", status: 405},
		{name: "HTTP/2.0", req: "GET / HTTP/2.0\r\nHost: t\r\n\r\n", status: 505},
		{name: "unknown coding", req: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br, chunked\r\n\r\n", status: 501},
		{name: "not found, then close", req: "GET /nothing HTTP/1.0\r\n\r\n", status: 404},
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{MaxHead: 256, MaxBody: 1024})
		for _, tt := range tests {
			c := dial(t, addr)
			c.c.SetDeadline(time.Now().Add(5 * time.Second))
			c.send(tt.req)
			r := c.read("GET")
			if r.status != tt.status || r.fields["connection"] != "close" {
				t.Errorf("%s: %d (Connection %q): %s; want %d and Connection: close", tt.name, r.status, r.fields["connection"], r.body, tt.status)
			}
			c.expectEOF()
		}
	})
}

// A head that does not finish within HeaderTimeout gets 408; a connection
// that sends nothing for IdleTimeout, or a body that stalls for as long,
// is closed without a word.
func TestTimeouts(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		svc, addr := serve(t, b, httpsvc.Options{HeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
		slow := dial(t, addr)
		slow.send("GET / HTTP/1.1\r\nHost:")
		if r := slow.read("GET"); r.status != 408 {
			t.Errorf("a slow head: %d, want 408", r.status)
		}
		slow.expectEOF()
		idle := dial(t, addr)
		idle.send(get("/plaintext"))
		idle.read("GET")
		idle.expectEOF()
		stalled := dial(t, addr)
		stalled.send("POST /anything HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
		stalled.expectEOF()
		if st := svc.Stats(); st.Timeouts != 2 {
			t.Errorf("Stats = %+v, want 2 timeouts (a head, a body)", st)
		}
	})
}

// Connection: close and HTTP/1.0 get their response, then the FIN; an
// HTTP/1.0 client that asks for keep-alive keeps its connection.
func TestConnectionClose(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{})
		c := dial(t, addr)
		c.send(get("/plaintext") + "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + get("/never-answered"))
		if r := c.read("GET"); !r.keep {
			t.Errorf("first response not keep-alive: %v", r.fields)
		}
		if r := c.read("GET"); r.keep || r.fields["connection"] != "close" || string(r.body) != "Hello, World!" {
			t.Errorf("Connection: close: %v %q", r.fields, r.body)
		}
		c.expectEOF()

		old := dial(t, addr)
		old.send("GET /anything HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /anything HTTP/1.0\r\n\r\n")
		if r := old.read("GET"); r.fields["connection"] != "keep-alive" {
			t.Errorf("HTTP/1.0 keep-alive: %v", r.fields)
		}
		if d := describe(t, old.read("GET")); d.Request != 2 || d.Proto != "HTTP/1.0" || d.KeepAlive {
			t.Errorf("HTTP/1.0 without keep-alive: %+v", d)
		}
		old.expectEOF()
	})
}

// A client that half-closes after its requests gets every response, then
// the server's FIN.
func TestHalfClosedClient(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{})
		c := dial(t, addr)
		c.send(get("/plaintext") + get("/anything"))
		c.c.(interface{ CloseWrite() error }).CloseWrite()
		c.read("GET")
		describe(t, c.read("GET"))
		c.expectEOF()
	})
}
