package bench_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
)

// An HTTP run against sockit's HTTP service over http:// and https://,
// pipelined and open loop: every response checked, the body too, and
// every request the server saw answered.
func TestHTTP(t *testing.T) {
	for _, tt := range []struct {
		scheme string
		depth  int
		rate   float64
	}{
		{scheme: "http", depth: 1},
		{scheme: "http", depth: 8},
		{scheme: "http", depth: 2, rate: 2000},
		{scheme: "https", depth: 4},
	} {
		t.Run(tt.scheme, func(t *testing.T) {
			srv := testkit.NewServer(t, &engine.Config{Loops: 1})
			svc := httpsvc.New(httpsvc.Options{})
			ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
			addr, err := ls.Listen(srv, endpoint.MustParse(tt.scheme+"://127.0.0.1:0/plaintext"), svc)
			if err != nil {
				t.Fatal(err)
			}
			o := quick(endpoint.MustParse(tt.scheme + "://" + addr.String() + "/plaintext"))
			o.Depth, o.Rate, o.Insecure, o.HTTPBody = tt.depth, tt.rate, true, []byte("Hello, World!")
			res := run(t, o)
			if !res.OK() || len(res.Errors) != 0 || res.Mode != bench.ModeHTTP {
				t.Fatalf("run not clean (mode %s): errors %v, verification %+v", res.Mode, res.Errors, res.Check)
			}
			st := svc.Stats()
			if res.Messages == 0 || res.TotalDoneMsgs != st.Requests || st.Responses[2] != st.Requests {
				t.Errorf("%d responses checked, the server answered %d requests (%+v)", res.TotalDoneMsgs, st.Requests, st)
			}
		})
	}
}

// Against Go's net/http server: keep-alive, pipelined requests, its own
// framing (a chunked body when the handler flushes).
func TestHTTPNetHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte("Hello, "))
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", "13")
			w.Write([]byte("Hello, "))
		}
		w.Write([]byte("World!"))
	}), ReadHeaderTimeout: testkit.Timeout}
	go hs.Serve(ln)
	defer hs.Close()
	for _, path := range []string{"/fixed", "/chunked"} {
		o := quick(endpoint.MustParse("http://" + ln.Addr().String() + path))
		o.Depth, o.HTTPBody = 4, []byte("Hello, World!")
		res := run(t, o)
		if !res.OK() || len(res.Errors) != 0 || res.Messages == 0 {
			t.Fatalf("%s: run not clean: errors %v, verification %+v", path, res.Errors, res.Check)
		}
	}
}

// Wrong statuses, bodies and framing are counted, each kind with an
// example, and fail the run.
func TestHTTPBadResponses(t *testing.T) {
	for _, tt := range []struct {
		name, resp, kind string
	}{
		{name: "status", resp: "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, World!", kind: "http: status 404"},
		{name: "body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, Wörld", kind: "http: body differs"},
		{name: "length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello", kind: "http: body length"},
		{name: "framing", resp: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Length: 14\r\n\r\nHello, World!", kind: "http: malformed response"},
		{name: "no length", resp: "HTTP/1.1 200 OK\r\n\r\nHello, World!", kind: "http: response without a length"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ep, _ := server(t, "tcp", testkit.Funcs{Data: func(c engine.Conn, in []byte) int {
				n := strings.Count(string(in), "\r\n\r\n")
				for i := 0; i < n; i++ {
					c.Write([]byte(tt.resp))
				}
				return len(in)
			}})
			o := quick(endpoint.MustParse("http://" + ep.Addr + "/"))
			o.HTTPBody, o.Duration = []byte("Hello, World!"), 100*time.Millisecond
			res := run(t, o)
			if res.OK() || res.Check.MismatchedMsgs == 0 || len(res.Errors) == 0 || res.Errors[0].Kind != tt.kind {
				t.Fatalf("bad responses passed: errors %v, verification %+v", res.Errors, res.Check)
			}
		})
	}
}
