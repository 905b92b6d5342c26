//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

// The load generator's HTTP runs, against sockit's HTTP service and Go's
// net/http, open and closed loop: every response parsed and checked, none
// lost. No timing assertions.
func TestLoadHTTP(t *testing.T) {
	_, ep := testkit.ServeEngine(t, &engine.Config{}, "tcp4", httpsvc.New(httpsvc.Options{}))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
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
	for _, tt := range []struct {
		name, addr, path string
		rate             float64
		bad              bool
	}{
		{name: "sockit open loop", addr: ep.Addr, path: "/plaintext", rate: 2000},
		{name: "sockit closed loop", addr: ep.Addr, path: "/plaintext"},
		{name: "net/http", addr: ln.Addr().String(), path: "/plaintext"},
		{name: "net/http chunked", addr: ln.Addr().String(), path: "/plaintext?chunked"},
		{name: "a wrong body", addr: ep.Addr, path: "/anything", bad: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := LoadSpec{Addr: tt.addr, Conns: 10, Window: 1, Rate: tt.rate, HTTP: tt.path, HTTPBody: "Hello, World!",
				Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Drain: 5 * time.Second, ServerPID: os.Getpid()}
			res, err := runLoad(spec, hooks{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.bad {
				if res.Mismatched == 0 || res.Echoed != 0 {
					t.Fatalf("wrong bodies passed: %+v", res)
				}
				return
			}
			if p := problems(res, 0); p != "" || res.Echoed == 0 || res.Echoed != res.Sent || res.Latency.Count == 0 {
				t.Fatalf("%d of %d responses checked; problems: %s", res.Echoed, res.Sent, p)
			}
		})
	}
}

// The HTTP servers build (the peers each in its own module), start as
// the harness starts them, and serve the plaintext body.
func TestHTTPServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules: not with -short")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"http", "nethttp", "gnet-http"} {
		t.Run(name, func(t *testing.T) {
			e := &env{root: root, tmp: t.TempDir()}
			if dir := map[string]string{"nethttp": "nethttp", "gnet-http": "gnethttp"}[name]; dir != "" {
				dl := exec.Command("go", "mod", "download")
				dl.Dir = filepath.Join(root, "bench", "peers", dir)
				dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
				if out, err := dl.CombinedOutput(); err != nil {
					t.Skipf("cannot download %s's modules: %v: %s", dir, err, oneLine(string(out)))
				}
			}
			skips, err := e.build([]string{name})
			if err != nil || len(skips) != 0 {
				t.Fatalf("build: %+v, %v", skips, err)
			}
			srv, err := e.startServer(e.servers[name])
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			resp, err := http.Get("http://" + srv.addr + "/plaintext")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "Hello, World!" {
				t.Errorf("%s: %d %q", name, resp.StatusCode, body)
			}
		})
	}
}
