//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin is the sockit binary TestMain builds; skipReason says why there is
// none.
var bin, skipReason string

// waitLimit bounds every wait for something that should happen at once.
const waitLimit = 10 * time.Second

func TestMain(m *testing.M) { os.Exit(buildAndRun(m)) }

func buildAndRun(m *testing.M) int {
	goTool, err := exec.LookPath("go")
	if err != nil {
		skipReason = "no go tool to build the sockit binary: " + err.Error()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sockit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "sockit")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// raceEnabled reports whether this test binary was built with -race, so
// that the sockit binary is built the same way.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

func needBinary(t *testing.T) {
	t.Helper()
	if bin == "" {
		t.Skip(skipReason)
	}
}

// output collects what a process writes and lets a test wait for text.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at the next write; nil if nobody waits
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output contains want, or the process exits.
func (o *output) waitFor(t *testing.T, p *proc, want string) string {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for range 100000 { // one turn per write
		o.mu.Lock()
		s := o.buf.String()
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		ch := o.changed
		o.mu.Unlock()
		if strings.Contains(s, want) {
			return s
		}
		select {
		case <-ch:
		case <-p.exited:
			if s := o.String(); strings.Contains(s, want) {
				return s
			}
			t.Fatalf("sockit exited (%v) before printing %q:\n%s\nstderr:\n%s", p.err, want, o, p.stderr)
		case <-timer.C:
			t.Fatalf("after %s, sockit has not printed %q:\n%s", waitLimit, want, o)
		}
	}
	t.Fatalf("no %q after 100000 writes", want)
	return ""
}

// proc is a sockit process the test started.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *output
	exited         chan struct{} // closed when Wait returned; err is then set
	err            error
}

// start runs the sockit binary with args. The process is killed when the
// test ends if it still runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startIn(t, nil, args...)
}

// startIn is start with stdin as the process's standard input (nil: none).
func startIn(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: new(output), stderr: new(output), exited: make(chan struct{})}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = stdin, p.stdout, p.stderr
	// A -race binary sleeps a second at exit by default; a race it finds
	// still fails the test through exit code 66 and its report on stderr.
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to limit for the process to exit and returns its exit
// code; past the limit it kills the process and fails the test.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("sockit %q still ran after %s; killed it\nstdout:\n%s\nstderr:\n%s",
			p.cmd.Args[1:], limit, p.stdout, p.stderr)
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		t.Fatalf("sockit %q: %v", p.cmd.Args[1:], p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// run runs sockit to completion and returns its exit code and outputs.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, args...)
	code = p.wait(t, waitLimit)
	return code, p.stdout.String(), p.stderr.String()
}

var listeningRE = regexp.MustCompile(`(?m)^  listening on (\S+)$`)

// serve starts `sockit serve args...` and returns the process and the
// endpoints it printed, in order, once the banner is complete.
func serve(t *testing.T, args ...string) (*proc, []string) {
	t.Helper()
	p := start(t, append([]string{"serve"}, args...)...)
	banner := p.stdout.waitFor(t, p, "stop: ")
	var eps []string
	for _, m := range listeningRE.FindAllStringSubmatch(banner, -1) {
		eps = append(eps, m[1])
	}
	return p, eps
}

// sockPath returns a Unix socket path in a fresh directory that fits in a
// sockaddr_un.
func sockPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "s.sock")
	if len(p) < 100 {
		return p
	}
	dir, err := os.MkdirTemp("/tmp", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// TestServeSIGTERM serves TCP, UDP and Unix, sends over each with the
// binary, and stops the server with SIGTERM: exit 0 at once, the socket
// file removed.
func TestServeSIGTERM(t *testing.T) {
	needBinary(t)
	t.Parallel()
	path := sockPath(t)
	p, eps := serve(t, "tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix://"+path)
	if len(eps) != 3 {
		t.Fatalf("banner lists %d endpoints %q, want 3:\n%s", len(eps), eps, p.stdout)
	}
	for i, prefix := range []string{"tcp://127.0.0.1:", "udp://127.0.0.1:", "unix://" + path} {
		if !strings.HasPrefix(eps[i], prefix) || strings.HasSuffix(eps[i], ":0") {
			t.Errorf("endpoint %d is %q, want %q with the bound port", i, eps[i], prefix)
		}
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("while serving: %v", err)
	}
	for _, ep := range eps {
		code, out, errOut := run(t, "send", ep, "hello", "world")
		if code != 0 || out != "hello world\n" {
			t.Errorf("sockit send %s hello world: exit %d, printed %q, want exit 0 and %q\nstderr:\n%s",
				ep, code, out, "hello world\n", errOut)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("after SIGTERM exit code = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after SIGTERM, Lstat(%s) = %v, want the socket file removed", path, err)
	}
	want := "served 2 connections, 1 datagram; bytes in 36, bytes out 36\n"
	if out := p.stdout.String(); !strings.HasSuffix(out, want) {
		t.Errorf("stdout does not end with %q:\n%s", want, out)
	}
	// The last send's connection may still be closing on the server's side.
	shutdownOnly := regexp.MustCompile(`^shutting down(: 1 connection\(s\) open, waiting up to 5s \(Ctrl-C again to stop now\))?\n$`)
	if got := p.stderr.String(); !shutdownOnly.MatchString(got) {
		t.Errorf("stderr = %q, want only the shutdown line", got)
	}
}

// openConn dials the server and makes an echo round trip, which proves the
// server has accepted the connection.
func openConn(t *testing.T, ep string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping\n" {
		t.Fatalf("echo round trip: %q, %v", got, err)
	}
	return c.(*net.TCPConn)
}

// TestServeSIGINTGrace interrupts a server while a client's connection is
// open: the server waits, the client finishes (half-close, read the echo,
// close), and the server exits 0 after it.
func TestServeSIGINTGrace(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tcp://127.0.0.1:0", "--grace", "1m", "-v")
	c := openConn(t, eps[0])

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, p, "shutting down: 1 connection open, waiting up to 1m0s (Ctrl-C again to stop now)")
	p.stderr.waitFor(t, p, "close (listener "+strings.TrimPrefix(eps[0], "tcp://")+")")
	if !p.running() {
		t.Fatalf("exited before its open connection finished:\n%s", p.stderr)
	}
	// The listener is closed: new connections are refused.
	if c2, err := net.DialTimeout("tcp", strings.TrimPrefix(eps[0], "tcp://"), waitLimit); err == nil {
		c2.Close()
		t.Errorf("still accepts connections after SIGINT")
	}

	if _, err := c.Write([]byte("last words\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "last words\n" {
		t.Errorf("after SIGINT the echo sent %q, %v; want %q then EOF", rest, err, "last words\n")
	}
	c.Close()

	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	mustContain(t, p.stdout.String(), "served 1 connection, 0 datagrams; bytes in 16, bytes out 16")
}

// TestServeSecondSIGINT checks that a second interrupt while a connection
// stays open stops the server at once with exit code 130.
func TestServeSecondSIGINT(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tcp://127.0.0.1:0", "--grace", "1h")
	c := openConn(t, eps[0])

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, p, "Ctrl-C again to stop now")
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != 130 {
		t.Errorf("after a second SIGINT exit code = %d, want 130\nstderr:\n%s", code, p.stderr)
	}
	mustContain(t, p.stderr.String(), "sockit: interrupted")
	// The server closed the connection on its way out.
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("after the hard stop the client read %q, %v; want EOF or a reset", b, err)
	}
}

// TestHelpAndUsage runs the binary as a user would for help and for
// mistakes.
func TestHelpAndUsage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "Usage:"},
		{name: "serve help", args: []string{"serve", "--help"}, wantCode: 0, wantStdout: "sockit serve [ENDPOINT...]"},
		{name: "send help", args: []string{"send", "--help"}, wantCode: 0, wantStdout: "sockit send ENDPOINT MESSAGE..."},
		{name: "bad scheme", args: []string{"send", "tpc://x", "hi"}, wantCode: 2,
			wantStderr: `sockit: bad endpoint "tpc://x": unknown scheme "tpc" (want tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket, tls, ws, wss)`},
		{name: "missing message", args: []string{"send", "127.0.0.1:9"}, wantCode: 2, wantStderr: "wrong number of arguments"},
		{name: "unknown command", args: []string{"bogus"}, wantCode: 2, wantStderr: `unknown command "bogus"`},
		{name: "unknown flag", args: []string{"serve", "--bogus"}, wantCode: 2, wantStderr: "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("sockit %q exited %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, out)
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, errOut)
			}
			if tt.wantCode == 0 && errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
		})
	}
}

// TestSendRefused checks the whole path of an error to the terminal: the
// message on stderr and exit code 3.
func TestSendRefused(t *testing.T) {
	needBinary(t)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, out, errOut := run(t, "send", addr, "hi")
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if want := "sockit: connect tcp " + addr + ": connection refused (nothing listens there)\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

func mustContain(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("no %q in:\n%s", w, s)
		}
	}
}
