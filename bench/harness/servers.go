//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// serverDef is a server under test.
type serverDef struct {
	name  string
	argv  []string
	procs int    // GOMAXPROCS; 0 = 1. Every server runs on CPU 0 alone whatever its GOMAXPROCS.
	note  string // how a multi-loop variant runs, for the report
	about string // what it is, for the report's list of servers
	needs string // the program it runs: a key of builders
	// engine is the backend a sockit server must report in its banner
	// ("sockit serve: echo service, uring engine"); "" for other servers.
	// A sockit that falls back to another backend (io_uring missing or
	// forbidden here) is not the server asked for.
	engine string
	http   bool // an HTTP server, for the HTTP cases (h1 … h4); the others echo
}

// defaultServers is -servers' default: sockit's backends, the C
// yardsticks and the Go peers, in the order they take turns. Those that
// cannot be built or do not start here are skipped with a note.
const defaultServers = "epoll,uring,std,c,c-uring,gnet,netpoll"

// defaultHTTPServers is -http-servers' default: sockit's HTTP service,
// Go's net/http and gnet, in the order they take turns in the HTTP cases.
const defaultHTTPServers = "http,nethttp,gnet-http"

// programs are the paths of the programs servers run, by serverDef.needs.
type programs map[string]string

// servers are the servers the harness knows, by name, given the paths of
// the programs they run.
func servers(p programs) map[string]serverDef {
	serve := func(args ...string) []string {
		return append(append([]string{p["sockit"], "serve"}, args...), "--grace", "1s", "tcp://127.0.0.1:0")
	}
	sockit := func(engine string) serverDef {
		return serverDef{name: engine, needs: "sockit", engine: engine, argv: serve("--engine", engine),
			about: fmt.Sprintf("`sockit serve --engine %s`", engine)}
	}
	two := func(accept string) serverDef {
		name := "epoll-" + accept + "2"
		note := fmt.Sprintf("`sockit serve --engine epoll --loops 2 --accept %s`, GOMAXPROCS=2, both loops on CPU 0", accept)
		return serverDef{name: name, procs: 2, needs: "sockit", engine: "epoll", note: note, about: note,
			argv: serve("--engine", "epoll", "--loops", "2", "--accept", accept)}
	}
	peer := func(name, about string) serverDef {
		return serverDef{name: name, needs: name, argv: []string{p[name], "tcp://127.0.0.1:0"}, about: about}
	}
	httpPeer := func(name, prog, about string) serverDef {
		return serverDef{name: name, needs: prog, argv: []string{p[prog], "-addr", "127.0.0.1:0"}, about: about, http: true}
	}
	return map[string]serverDef{
		"epoll":            sockit("epoll"),
		"uring":            sockit("uring"),
		"std":              sockit("std"),
		"c":                {name: "c", needs: "cecho", argv: []string{p["cecho"], "127.0.0.1", "0"}, about: "cecho.c: C on epoll (gcc -O2)"},
		"c-uring":          {name: "c-uring", needs: "cecho_uring", argv: []string{p["cecho_uring"], "127.0.0.1", "0"}, about: "cecho_uring.c: C on io_uring (liburing, gcc -O2)"},
		"gnet":             peer("gnet", "gnet echo (bench/peers/gnet)"),
		"netpoll":          peer("netpoll", "netpoll echo (bench/peers/netpoll)"),
		"epoll-shared2":    two("shared"),
		"epoll-reuseport2": two("reuseport"),
		"http": {name: "http", needs: "sockit", engine: "epoll", http: true,
			argv:  []string{p["sockit"], "serve", "--engine", "epoll", "--grace", "1s", "http://127.0.0.1:0"},
			about: "`sockit serve --engine epoll http://127.0.0.1:0`, route /plaintext"},
		"nethttp":   httpPeer("nethttp", "nethttp", "Go's net/http (bench/peers/nethttp): a goroutine per connection"),
		"gnet-http": httpPeer("gnet-http", "gnethttp", "gnet HTTP (bench/peers/gnethttp): event loops on epoll, a minimal request splitter"),
	}
}

// serverNames lists the known servers of a kind (HTTP or echo), sorted.
func serverNames(m map[string]serverDef, http bool) []string {
	var names []string
	for n, d := range m {
		if d.http == http {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// selectServers reads -servers and -http-servers: the echo servers if
// defs has an echo case, the HTTP servers if it has an HTTP case.
func selectServers(o *options, defs []caseDef) (order, httpOrder []string, err error) {
	known := servers(programs{})
	if slices.ContainsFunc(defs, func(c caseDef) bool { return !c.http }) {
		if order, err = parseServers(o.servers, known, false); err != nil {
			return nil, nil, err
		}
	}
	if slices.ContainsFunc(defs, func(c caseDef) bool { return c.http }) {
		if httpOrder, err = parseServers(o.httpServers, known, true); err != nil {
			return nil, nil, fmt.Errorf("-http-servers: %w", err)
		}
	}
	if len(order)+len(httpOrder) == 0 {
		return nil, nil, fmt.Errorf("-cases %q names no case", o.cases)
	}
	return order, httpOrder, nil
}

// parseServers reads -servers (or, http, -http-servers): names from
// known, comma-separated, each once, of the kind asked for.
func parseServers(list string, known map[string]serverDef, http bool) ([]string, error) {
	var order []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		d, ok := known[s]
		if !ok || d.http != http {
			return nil, fmt.Errorf("unknown server %q (want %s)", s, strings.Join(serverNames(known, http), ", "))
		}
		if slices.Contains(order, s) {
			return nil, fmt.Errorf("server %q named twice in -servers", s)
		}
		order = append(order, s)
	}
	if len(order) == 0 {
		return nil, errors.New("-servers names no server")
	}
	return order, nil
}

// skip is a server the run leaves out, and why in one line.
type skip struct {
	Server, Why string
}

// builders make each program at the path out. Every server but sockit's
// is optional: a builder's error skips the servers that need its program.
var builders = map[string]func(e *env, out string) error{
	"sockit": func(e *env, out string) error {
		return runBuild(e.root, nil, "go", "build", "-o", out, "./cmd/sockit")
	},
	"cecho": func(e *env, out string) error {
		return e.gcc("cecho.c", cechoSource, out)
	},
	"cecho_uring": func(e *env, out string) error {
		if _, err := exec.LookPath("gcc"); err == nil && !hasHeader("liburing.h") {
			return errors.New("liburing's header liburing.h is missing (Debian: apt-get install liburing-dev)")
		}
		return e.gcc("cecho_uring.c", cechoUringSource, out, "-luring")
	},
	"gnet":     func(e *env, out string) error { return e.goPeer("gnet", out) },
	"netpoll":  func(e *env, out string) error { return e.goPeer("netpoll", out) },
	"nethttp":  func(e *env, out string) error { return e.goPeer("nethttp", out) },
	"gnethttp": func(e *env, out string) error { return e.goPeer("gnethttp", out) },
}

// hasHeader reports whether gcc finds the C header name.
func hasHeader(name string) bool {
	cmd := exec.Command("gcc", "-E", "-o", os.DevNull, "-x", "c", "-")
	cmd.Stdin = strings.NewReader("#include <" + name + ">\n")
	return cmd.Run() == nil
}

// gcc compiles the C source src, named name, to out.
func (e *env) gcc(name string, src []byte, out string, libs ...string) error {
	if _, err := exec.LookPath("gcc"); err != nil {
		return errors.New("gcc not found")
	}
	path := filepath.Join(e.tmp, name)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return err
	}
	return runBuild("", nil, "gcc", append(append(slices.Clone(cflags), "-o", out, path), libs...)...)
}

// cflags are the flags the C servers are built with.
var cflags = []string{"-O2", "-Wall"}

// goPeer builds the Go peer in bench/peers/NAME, a module of its own, with
// the versions its go.sum pins (module downloads through GOPROXY).
func (e *env) goPeer(name, out string) error {
	dir := filepath.Join(e.root, "bench", "peers", name)
	return runBuild(dir, []string{"GOFLAGS=-mod=readonly", "GOWORK=off"}, "go", "build", "-o", out, ".")
}

// runBuild runs a build command in dir (if not empty) with extra
// environment, its error carrying the first line of its output.
func runBuild(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		if line := oneLine(string(out)); line != "" {
			return fmt.Errorf("%s %s: %s", name, args[0], line)
		}
		return fmt.Errorf("%s %s: %v", name, args[0], err)
	}
	return nil
}

// build makes the programs the servers in order need, at the same time,
// in e.tmp, and sets e.servers. It fails only if sockit does not build;
// servers whose program does not build are skipped.
func (e *env) build(order []string) ([]skip, error) {
	progs := programs{}
	for name := range builders {
		progs[name] = filepath.Join(e.tmp, name)
	}
	e.servers = servers(progs)
	need := map[string]bool{}
	for _, s := range order {
		need[e.servers[s].needs] = true
	}
	var (
		mu     sync.Mutex
		failed = map[string]error{}
		wg     sync.WaitGroup
	)
	for prog := range need {
		wg.Go(func() {
			if err := builders[prog](e, progs[prog]); err != nil {
				mu.Lock()
				failed[prog] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := failed["sockit"]; err != nil {
		return nil, fmt.Errorf("build sockit: %w", err)
	}
	e.describe()
	var skips []skip
	for _, s := range order {
		if err := failed[e.servers[s].needs]; err != nil {
			skips = append(skips, skip{Server: s, Why: "not built: " + err.Error()})
		}
	}
	return skips, nil
}

// describe adds the versions of what the C io_uring server and the Go
// peers are built on to their descriptions.
func (e *env) describe() {
	set := func(name, about string) {
		d := e.servers[name]
		d.about = about
		e.servers[name] = d
	}
	if out, err := exec.Command("pkg-config", "--modversion", "liburing").Output(); err == nil {
		set("c-uring", fmt.Sprintf("cecho_uring.c: C on io_uring (liburing %s, gcc -O2)", strings.TrimSpace(string(out))))
	}
	for name, module := range map[string]string{"gnet": "github.com/panjf2000/gnet/v2", "netpoll": "github.com/cloudwego/netpoll"} {
		if v := requiredVersion(filepath.Join(e.root, "bench", "peers", name, "go.mod"), module); v != "" {
			set(name, fmt.Sprintf("%s %s echo (bench/peers/%s)", name, v, name))
		}
	}
	if v := requiredVersion(filepath.Join(e.root, "bench", "peers", "gnethttp", "go.mod"), "github.com/panjf2000/gnet/v2"); v != "" {
		set("gnet-http", fmt.Sprintf("gnet %s HTTP (bench/peers/gnethttp): event loops on epoll, a minimal request splitter", v))
	}
}

// requiredVersion is the version of module that the go.mod at path
// requires, or "".
func requiredVersion(path, module string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	return ""
}

// startable starts each server of order once and stops it again, and
// returns those that started and the others, skipped with the reason: a
// server that cannot start here (a backend this kernel or this build of
// sockit lacks) is left out of the run rather than failing every round.
func (e *env) startable(order []string) (ok []string, skips []skip) {
	for _, s := range order {
		srv, err := e.startServer(e.servers[s])
		if err != nil {
			skips = append(skips, skip{Server: s, Why: "did not start: " + oneLine(err.Error())})
			continue
		}
		srv.stop()
		ok = append(ok, s)
	}
	return ok, skips
}

// engineOf is the backend a sockit banner line names ("sockit serve: echo
// service, epoll engine" → "epoll"), or "" for any other line.
func engineOf(line string) string {
	rest, ok := strings.CutPrefix(line, "sockit serve: ")
	if !ok || !strings.HasSuffix(rest, " engine") {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return ""
	}
	return f[len(f)-2]
}

// oneLine is the first line of s, trimmed, marked "…" when more follows
// or it is cut at 300 characters.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	line, rest, _ := strings.Cut(s, "\n")
	line = strings.TrimSpace(line)
	if r := []rune(line); len(r) > 300 {
		line, rest = string(r[:300]), "…"
	}
	if strings.TrimSpace(rest) != "" {
		line += " …"
	}
	return line
}
