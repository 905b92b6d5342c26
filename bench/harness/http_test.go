//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// The peers build, each in its own module, and serve the plaintext body.
func TestPeersBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules: not with -short")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for name := range peers {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), name)
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = filepath.Join(root, "bench", "peers", name)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("cannot build bench/peers/%s here (its modules are not in the cache and the proxy is not reachable?): %v\n%s", name, err, out)
			}
			p := testkit.Start(t, exec.Command(bin, "-addr", "127.0.0.1:0"))
			text := p.Stdout.WaitFor(t, "/\n")
			_, url, _ := strings.Cut(text, "listening on ")
			resp, err := http.Get(strings.TrimSpace(url) + "plaintext")
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
