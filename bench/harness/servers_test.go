//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestServers checks the servers' command lines and what they need built.
func TestServers(t *testing.T) {
	progs := programs{}
	for name := range builders {
		progs[name] = strings.ToUpper(name)
	}
	m := servers(progs)
	if got, want := strings.Join(serverNames(m, false), ","), "c,c-uring,epoll,epoll-reuseport2,epoll-shared2,gnet,netpoll,std,uring"; got != want {
		t.Errorf("servers %s, want %s", got, want)
	}
	if got, want := strings.Join(serverNames(m, true), ","), "gnet-http,http,nethttp"; got != want {
		t.Errorf("HTTP servers %s, want %s", got, want)
	}
	if argv := strings.Join(m["http"].argv, " "); m["http"].engine != "epoll" || argv != "SOCKIT serve --engine epoll --grace 1s http://127.0.0.1:0" {
		t.Errorf("http: engine %q, argv %q", m["http"].engine, argv)
	}
	for _, name := range []string{"nethttp", "gnet-http"} {
		if argv := strings.Join(m[name].argv[1:], " "); argv != "-addr 127.0.0.1:0" || m[name].engine != "" {
			t.Errorf("%s: arguments %q, engine %q", name, argv, m[name].engine)
		}
	}
	for name, d := range m {
		if d.name != name || builders[d.needs] == nil || d.argv[0] != progs[d.needs] || d.about == "" {
			t.Errorf("%s: name %q, needs %q, argv %q, about %q", name, d.name, d.needs, d.argv, d.about)
		}
	}
	for _, accept := range []string{"shared", "reuseport"} {
		d := m["epoll-"+accept+"2"]
		argv := strings.Join(d.argv, " ")
		if d.procs != 2 || !strings.Contains(argv, "--engine epoll --loops 2 --accept "+accept+" ") {
			t.Errorf("%s: GOMAXPROCS %d, argv %q", d.name, d.procs, argv)
		}
	}
	for _, name := range []string{"epoll", "uring", "std"} {
		d := m[name]
		if argv := strings.Join(d.argv, " "); d.procs > 1 || d.engine != name || argv != "SOCKIT serve --engine "+name+" --grace 1s tcp://127.0.0.1:0" {
			t.Errorf("%s: GOMAXPROCS %d, engine %q, argv %q", name, d.procs, d.engine, argv)
		}
	}
	for _, name := range []string{"epoll-shared2", "epoll-reuseport2"} {
		if e := m[name].engine; e != "epoll" {
			t.Errorf("%s: engine %q, want epoll", name, e)
		}
	}
	for _, name := range []string{"c", "c-uring", "gnet", "netpoll"} {
		if e := m[name].engine; e != "" {
			t.Errorf("%s: engine %q, want none (not sockit)", name, e)
		}
	}
	for _, name := range []string{"c", "c-uring"} {
		if argv := strings.Join(m[name].argv[1:], " "); argv != "127.0.0.1 0" {
			t.Errorf("%s: arguments %q, want cecho's", name, argv)
		}
	}
	for _, name := range []string{"gnet", "netpoll"} {
		if argv := strings.Join(m[name].argv[1:], " "); argv != "tcp://127.0.0.1:0" {
			t.Errorf("%s: arguments %q", name, argv)
		}
	}
}

// TestParseServers reads -servers: the defaults name known servers, and
// unknown or repeated names are refused.
func TestParseServers(t *testing.T) {
	known := servers(nil)
	tests := []struct {
		list, want, err string
		http            bool
	}{
		{list: defaultHTTPServers, http: true, want: "http,nethttp,gnet-http"},
		{list: "http,epoll", http: true, err: `unknown server "epoll" (want gnet-http, http, nethttp)`},
		{list: "epoll,http", err: `unknown server "http"`},
		{list: defaultServers, want: "epoll,uring,std,c,c-uring,gnet,netpoll"},
		{list: " c-uring, gnet,,netpoll ", want: "c-uring,gnet,netpoll"},
		{list: "epoll,io_uring", err: `unknown server "io_uring" (want c, c-uring, epoll,`},
		{list: "gnet,epoll,gnet", err: `server "gnet" named twice`},
		{list: ",", err: "-servers names no server"},
	}
	for _, tt := range tests {
		got, err := parseServers(tt.list, known, tt.http)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: got %q, %v; want error %q", tt.list, got, err, tt.err)
		case tt.err == "" && (err != nil || strings.Join(got, ",") != tt.want):
			t.Errorf("%q: got %q, %v; want %s", tt.list, got, err, tt.want)
		}
	}
}

// fakeServer, run as this test binary with the arguments "fake-server
// MODE", stands in for a server under test: "listen" listens on
// 127.0.0.1:0, says so as the servers do, and exits on SIGTERM; "epoll"
// and "fallback" do the same after sockit's banner, the second the one
// of a sockit asked for uring that runs on epoll; "refuse" fails the way
// `sockit serve --engine uring` does without that backend.
func fakeServer(mode string) int {
	switch mode {
	case "listen", "epoll", "fallback":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ln.Close()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		if mode != "listen" {
			fmt.Println("sockit serve: echo service, epoll engine")
		}
		if mode == "fallback" {
			fmt.Println("  (asked for uring: io_uring is not available: operation not permitted)")
		}
		fmt.Printf("  listening on tcp://%s\n", ln.Addr())
		<-sig
		return 0
	case "refuse":
		fmt.Fprintln(os.Stderr, `sockit: --engine "uring" is not std or epoll`)
		fmt.Fprintln(os.Stderr, "a second line of explanation")
		return 2
	}
	return 3
}

// TestStartable: a server that exits before it listens, or a sockit that
// runs on another backend than the one asked for, is skipped with a
// one-line reason; one that listens is kept, and stopped again.
func TestStartable(t *testing.T) {
	fake := func(name, mode, engine string) serverDef {
		return serverDef{name: name, engine: engine, argv: []string{os.Args[0], "fake-server", mode}}
	}
	e := &env{servers: map[string]serverDef{
		"uring":    fake("uring", "refuse", "uring"),
		"uring-fb": fake("uring-fb", "fallback", "uring"),
		"epoll":    fake("epoll", "epoll", "epoll"),
		"gnet":     fake("gnet", "listen", ""),
	}}
	ok, skips := e.startable([]string{"epoll", "uring", "uring-fb", "gnet"})
	if got := strings.Join(ok, ","); got != "epoll,gnet" {
		t.Errorf("started %s, want epoll,gnet", got)
	}
	if len(skips) != 2 || skips[0].Server != "uring" || skips[1].Server != "uring-fb" {
		t.Fatalf("skipped %+v, want uring and uring-fb", skips)
	}
	tests := []struct {
		why, prefix, has string
	}{
		{why: skips[0].Why, prefix: "did not start: uring exited before listening: ", has: `--engine "uring" is not std or epoll …`},
		{why: skips[1].Why, prefix: `did not start: uring-fb runs on the "epoll" engine, not "uring": `, has: "(asked for uring: io_uring is not available: operation not permitted)"},
	}
	for _, tt := range tests {
		if !strings.HasPrefix(tt.why, tt.prefix) || !strings.Contains(tt.why, tt.has) || strings.Contains(tt.why, "\n") {
			t.Errorf("reason %q: want one line that says why", tt.why)
		}
	}
}

// TestEngineOf reads the backend from sockit's banner, and nothing from
// other lines.
func TestEngineOf(t *testing.T) {
	tests := []struct{ line, want string }{
		{line: "sockit serve: echo service, uring engine", want: "uring"},
		{line: "sockit serve: discard service, epoll engine", want: "epoll"},
		{line: "  listening on tcp://127.0.0.1:1", want: ""},
		{line: "sockit serve: engine", want: ""},
		{line: "sockit serve:  engine", want: ""},
		{line: "gnet engine", want: ""},
	}
	for _, tt := range tests {
		if got := engineOf(tt.line); got != tt.want {
			t.Errorf("engineOf(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestBuildSkips: a program that does not build skips the servers that
// need it, with the reason in one line; sockit not building is an error.
func TestBuildSkips(t *testing.T) {
	if hasHeader("sockit_no_such_header.h") {
		t.Error("a missing header was found")
	}
	if _, err := exec.LookPath("gcc"); err == nil && !hasHeader("stdio.h") {
		t.Error("stdio.h was not found")
	}
	e := &env{root: t.TempDir(), tmp: t.TempDir()} // no cmd/sockit, no bench/peers
	if _, err := e.build([]string{"epoll"}); err == nil || !strings.HasPrefix(err.Error(), "build sockit: ") {
		t.Errorf("sockit not building: got %v", err)
	}
	skips, err := e.build([]string{"gnet", "netpoll"})
	if err != nil || len(skips) != 2 {
		t.Fatalf("got %+v, %v; want both peers skipped", skips, err)
	}
	for _, k := range skips {
		if !strings.HasPrefix(k.Why, "not built: go build: ") || strings.Contains(k.Why, "\n") {
			t.Errorf("%s: reason %q", k.Server, k.Why)
		}
	}
}

// TestOneLine keeps a message to its first line, marked when cut.
func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "  boom \n", want: "boom"},
		{in: "\nfirst\nsecond\n", want: "first …"},
		{in: strings.Repeat("é", 301), want: strings.Repeat("é", 300) + " …"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCServers builds each C yardstick as the harness does (and once
// more with every warning an error), checks a half-close (the echo
// drains, then the server closes) and runs a short load against it. The
// io_uring one is skipped where liburing's header is missing or the
// kernel refuses io_uring (it then exits saying why).
func TestCServers(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: cannot build the C yardsticks")
	}
	tests := []struct {
		name, src string
		libs      []string
		header    string
	}{
		{name: "cecho", src: "cecho.c"},
		{name: "cecho_uring", src: "cecho_uring.c", libs: []string{"-luring"}, header: "liburing.h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.header != "" && !hasHeader(tt.header) {
				t.Skipf("%s not found (Debian: liburing-dev): cannot build %s", tt.header, tt.src)
			}
			dir := t.TempDir()
			strict := append(append(slices.Clone(cflags), "-Wextra", "-Werror", "-o", filepath.Join(dir, "strict"), tt.src), tt.libs...)
			if out, err := exec.Command("gcc", strict...).CombinedOutput(); err != nil {
				t.Fatalf("gcc %s: %v\n%s", strings.Join(strict, " "), err, out)
			}
			bin := filepath.Join(dir, tt.name)
			if err := builders[tt.name](&env{tmp: dir}, bin); err != nil {
				t.Fatalf("the harness's build: %v", err)
			}
			p := testkit.Start(t, exec.Command(bin, "127.0.0.1", "0"))
			said, ok := p.Stdout.WaitUntil(t, "\n", p.Exited())
			if !ok && tt.header != "" {
				t.Skipf("%s did not start (no io_uring here?): %s", tt.name, oneLine(p.Stderr.String()))
			}
			_, addr, ok := strings.Cut(strings.TrimSpace(said), "listening on tcp://")
			if !ok {
				t.Fatalf("%s said %q; stderr: %s", tt.name, said, p.Stderr)
			}
			halfClose(t, addr, 3<<20)
			shortLoad(t, addr, p.Cmd.Process.Pid)
		})
	}
}

// TestGoPeers builds each Go peer from its own module in bench/peers as
// the harness does, starts it as the harness does, checks a half-close
// where the peer drains one, and runs a short load against it. It is
// skipped where the peer's modules cannot be downloaded (no network and
// not in the module cache).
func TestGoPeers(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// halfClose: the peer sends what it owes after the client's FIN.
		// netpoll closes at the FIN and drops it; no case of the
		// harness half-closes, so that does not change its figures.
		halfClose bool
	}{
		{name: "gnet", halfClose: true},
		{name: "netpoll", halfClose: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dl := exec.Command("go", "mod", "download")
			dl.Dir = filepath.Join(root, "bench", "peers", tt.name)
			dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
			if out, err := dl.CombinedOutput(); err != nil {
				t.Skipf("cannot download %s's modules: %v: %s", tt.name, err, oneLine(string(out)))
			}
			e := &env{root: root, tmp: t.TempDir()}
			skips, err := e.build([]string{tt.name})
			if err != nil || len(skips) != 0 {
				t.Fatalf("build: %+v, %v", skips, err)
			}
			srv, err := e.startServer(e.servers[tt.name])
			if err != nil {
				t.Fatal(err)
			}
			defer srv.stop()
			if tt.halfClose {
				halfClose(t, srv.addr, 3<<20)
			}
			shortLoad(t, srv.addr, srv.pid)
		})
	}
}

// shortLoad runs a short closed-loop load of 100 KiB messages against the
// echo server at addr (process pid) and checks every echo.
func shortLoad(t *testing.T, addr string, pid int) {
	t.Helper()
	spec := LoadSpec{Addr: addr, Conns: 4, Size: 100 << 10, Window: 2, Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond,
		Drain: 5 * time.Second, ServerPID: pid}
	res, err := runLoad(spec, hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Echoed == 0 || res.Echoed != res.Sent || problems(res, 0) != "" {
		t.Errorf("sent %d, echoed %d: %s", res.Sent, res.Echoed, problems(res, 0))
	}
}

// halfClose sends n bytes to the echo server at addr while reading,
// shuts its sending side, and checks that every byte comes back and then
// the server's EOF.
func halfClose(t *testing.T, addr string, n int) {
	t.Helper()
	c := testkit.Dial(t, "tcp", addr)
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	msg := testkit.Pattern(n, 19)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sent <- err
	}()
	got, err := io.ReadAll(c)
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %d of %d bytes back (equal: %v), then %v; want all, then EOF", len(got), n, bytes.Equal(got, msg), err)
	}
}
