package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// serveKinds are the endpoints a server can listen on, one of each kind.
var serveKinds = []struct {
	scheme string
	packet bool
}{
	{scheme: "tcp"},
	{scheme: "udp", packet: true},
	{scheme: "tcp6"},
	{scheme: "udp6", packet: true},
	{scheme: "unix"},
	{scheme: "unixgram", packet: true},
	{scheme: "unixpacket"},
}

// TestServeKinds serves echo on each kind of endpoint, sends one message,
// and checks the banner, the echo, the summary and the socket file cleanup.
func TestServeKinds(t *testing.T) {
	t.Parallel()
	for _, tt := range serveKinds {
		t.Run(tt.scheme, func(t *testing.T) {
			t.Parallel()
			addr := testkit.Loopback(t, tt.scheme) // skips where the kind is missing
			s := startServe(t, &ServeOptions{Endpoints: []string{tt.scheme + "://" + addr}})
			ep := s.endpoint(0)

			try := ep
			if tt.scheme == "tcp" {
				try = strings.TrimPrefix(ep, "tcp://")
			}
			banner := s.out.String()
			testkit.MustContain(t, "banner", banner,
				"sockit serve: echo service, "+string(engine.DefaultBackend)+" engine\n",
				"  listening on "+ep+"\n",
				"try:  sockit send "+try+" hello\n",
				"stop: Ctrl-C or SIGTERM",
			)
			if strings.HasSuffix(ep, ":0") {
				t.Errorf("banner shows port 0, not the bound port: %s", ep)
			}
			if strings.HasPrefix(tt.scheme, "unix") {
				fi, err := os.Lstat(addr)
				if err != nil || fi.Mode()&os.ModeSocket == 0 {
					t.Fatalf("while serving, %s is not a socket file: %v, %v", addr, fi, err)
				}
			}

			if got, want := send(t, ep, "hello"), "hello\n"; got != want {
				t.Errorf("send %s hello printed %q, want %q", ep, got, want)
			}

			if err := s.stop(t); err != nil {
				t.Fatalf("runServe after cancel = %v, want nil", err)
			}
			want := "served 1 connection, 0 datagrams; bytes in 6, bytes out 6\n"
			if tt.packet {
				want = "served 0 connections, 1 datagram; bytes in 6, bytes out 6\n"
			}
			if out := s.out.String(); !strings.HasSuffix(out, want) {
				t.Errorf("output does not end with the summary %q:\n%s", want, out)
			}
			if got := s.errOut.String(); !shutdownOnly.MatchString(got) {
				t.Errorf("stderr = %q, want only the shutdown line", got)
			}
			if strings.HasPrefix(tt.scheme, "unix") {
				if _, err := os.Lstat(addr); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("after shutdown, Lstat(%s) = %v, want the socket file removed", addr, err)
				}
			}
		})
	}
}

// TestServeManyEndpoints serves every kind at once from one server, and
// checks that the banner shows at most three "try" lines and that the
// summary adds up all of them.
func TestServeManyEndpoints(t *testing.T) {
	t.Parallel()
	eps, summary := everyKind(t)
	s := startServe(t, &ServeOptions{Endpoints: eps})
	if len(s.addrs) != len(eps) {
		t.Fatalf("Ready got %d addresses, want %d", len(s.addrs), len(eps))
	}
	banner := s.out.String()
	if n := strings.Count(banner, "sockit send "); n != 3 {
		t.Errorf("banner suggests %d send commands, want 3:\n%s", n, banner)
	}
	if n := strings.Count(banner, "  listening on "); n != len(eps) {
		t.Errorf("banner has %d listening lines, want %d:\n%s", n, len(eps), banner)
	}
	s.echoEach(t, summary)
}

// TestServeServices checks discard (RFC 863), chargen (RFC 864) and daytime
// (RFC 867) over TCP and UDP.
func TestServeServices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		service string
		scheme  string
		check   func(t *testing.T, ep string)
		summary string // the server's summary line starts so
	}{
		{name: "discard/tcp", service: "discard", scheme: "tcp", check: checkDiscardStream,
			summary: "served 1 connection, 0 datagrams; bytes in 6, bytes out 0"},
		{name: "discard/udp", service: "discard", scheme: "udp", check: checkDiscardPacket,
			summary: "served 0 connections, 1 datagram; bytes in 6, bytes out 0"},
		{name: "chargen/tcp", service: "chargen", scheme: "tcp", check: checkChargenStream,
			summary: "served 1 connection, 0 datagrams"},
		{name: "chargen/udp", service: "chargen", scheme: "udp", check: checkChargenPacket,
			summary: "served 0 connections, 1 datagram; bytes in 6"},
		{name: "daytime/tcp", service: "daytime", scheme: "tcp", check: checkDaytime,
			summary: "served 1 connection, 0 datagrams"},
		{name: "daytime/udp", service: "daytime", scheme: "udp", check: checkDaytime,
			summary: "served 0 connections, 1 datagram; bytes in 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, &ServeOptions{Endpoints: []string{tt.scheme + "://127.0.0.1:0"}, Service: tt.service})
			testkit.MustContain(t, "banner", s.out.String(), "sockit serve: "+tt.service+" service")
			tt.check(t, s.endpoint(0))
			s.stopWith(t, tt.summary)
		})
	}
}

// checkDiscardStream: the reply is empty and the server closes after the
// client's FIN, so send ends cleanly.
func checkDiscardStream(t *testing.T, ep string) {
	if got := send(t, ep, "hello"); got != "" {
		t.Errorf("discard answered %q, want nothing", got)
	}
}

// checkDiscardPacket: no reply datagram comes, so send times out.
func checkDiscardPacket(t *testing.T, ep string) {
	opts, out, _ := sendOpts(ep, "hello")
	opts.Timeout = 200 * time.Millisecond
	msg := errorOf(t, runSend(context.Background(), opts), ExitConnect)
	testkit.MustContain(t, "error", msg, "timed out")
	if out.Len() != 0 {
		t.Errorf("discard answered %q, want nothing", out)
	}
}

// checkChargenStream reads more than one full cycle of the pattern (95
// lines of 74 bytes) and compares it with service.ChargenPattern.
func checkChargenStream(t *testing.T, ep string) {
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 95*74 + 1000
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %d bytes of chargen: %v", n, err)
	}
	if want := service.ChargenPattern(n); string(got) != string(want) {
		i := firstDiff(got, want)
		t.Errorf("chargen differs from service.ChargenPattern at byte %d: got %q, want %q",
			i, got[i:min(i+20, n)], want[i:min(i+20, n)])
	}
	checkRFC864(t, got)
}

// checkRFC864 checks the pattern's shape independently of the service's
// code: lines of 72 of the 95 printing characters (space to tilde) and
// CRLF, each line starting one character further along than the last.
func checkRFC864(t *testing.T, b []byte) {
	t.Helper()
	const width, count = 72, 95
	start := int(b[0]) - ' '
	for k := 0; (k+1)*(width+2) <= len(b); k++ {
		line := b[k*(width+2) : (k+1)*(width+2)]
		want := make([]byte, 0, width+2)
		for j := range width {
			want = append(want, byte(' '+(start+k+j)%count))
		}
		want = append(want, '\r', '\n')
		if string(line) != string(want) {
			t.Fatalf("chargen line %d = %q, want %q", k, line, want)
		}
	}
}

// checkChargenPacket: the reply is 0 to 512 bytes of the pattern's start.
func checkChargenPacket(t *testing.T, ep string) {
	got := send(t, ep, "hello")
	if len(got) > 512 {
		t.Errorf("chargen datagram is %d bytes, RFC 864 says at most 512", len(got))
	}
	if want := string(service.ChargenPattern(len(got))); got != want {
		t.Errorf("chargen datagram = %q, want %q", got, want)
	}
}

// checkDaytime: one line in service.DaytimeLayout, near now, then EOF
// (which send waits for on TCP).
func checkDaytime(t *testing.T, ep string) {
	got := send(t, ep, "hello")
	line, ok := strings.CutSuffix(got, "\r\n")
	if !ok || strings.ContainsAny(line, "\r\n") {
		t.Fatalf("daytime sent %q, want exactly one line ended by CRLF", got)
	}
	when, err := time.Parse(service.DaytimeLayout, line)
	if err != nil {
		t.Fatalf("daytime line %q does not parse with %q: %v", line, service.DaytimeLayout, err)
	}
	// Compare the wall clock only: the layout's zone abbreviation may not
	// be known to time.Parse.
	now := time.Now()
	wall := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), now.Minute(), now.Second(), 0, time.UTC)
	got2 := time.Date(when.Year(), when.Month(), when.Day(), when.Hour(), when.Minute(), when.Second(), 0, time.UTC)
	if d := wall.Sub(got2); d < -time.Minute || d > time.Minute {
		t.Errorf("daytime says %s, the local time is %s", line, now.Format(service.DaytimeLayout))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestServeVerbose checks that -v narrates the socket calls of one echo
// connection in order, and logs the connection's life.
func TestServeVerbose(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Verbose: true})
	if got := send(t, s.endpoint(0), "hello"); got != "hello\n" {
		t.Fatalf("send printed %q, want %q", got, "hello\n")
	}
	// The client is done when it reads the server's FIN; the server's side
	// closes just after.
	s.errOut.WaitFor(t, "closed conn")
	if err := s.stop(t); err != nil {
		t.Fatalf("runServe after cancel = %v, want nil", err)
	}
	log := s.errOut.String()
	steps := []string{
		"socket(AF_INET, SOCK_STREAM) = fd",
		"bind 127.0.0.1:",
		"listen backlog=",
		"accept 127.0.0.1:",
		"new conn 127.0.0.1:",
		"read 6 bytes",
		"read 0: peer sent FIN",
		"shutdown(SHUT_WR)",
		"close",
		"closed conn 127.0.0.1:",
	}
	rest := log
	for _, step := range steps {
		i := strings.Index(rest, step)
		if i < 0 {
			t.Fatalf("narration lacks %q after the steps before it (want in order %q):\n%s", step, steps, log)
		}
		rest = rest[i+len(step):]
	}
	closed := regexp.MustCompile(`closed conn 127\.0\.0\.1:\d+: in 6 bytes, out 6 bytes, after \S+`)
	if !closed.MatchString(log) {
		t.Errorf("connection log lacks %q:\n%s", closed, log)
	}
	if strings.Contains(log, "warn") {
		t.Errorf("narration of a clean echo has a warning:\n%s", log)
	}
	// Each narration line starts with a time stamp.
	stamp := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} `)
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if line != "shutting down" && !stamp.MatchString(line) {
			t.Errorf("narration line without a time stamp: %q", line)
		}
	}
}

// shutdownOnly matches a stderr that holds only the shutdown line. The
// server may still be closing the connection of a client that has already
// read its FIN, so that connection can be counted as open.
var shutdownOnly = regexp.MustCompile(`^shutting down(: 1 connection open, waiting up to \S+ \(Ctrl-C again to stop now\))?\n$`)

// TestServeQuiet checks that without -v the server logs nothing per
// connection.
func TestServeQuiet(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	send(t, s.endpoint(0), "hello")
	if err := s.stop(t); err != nil {
		t.Fatalf("runServe after cancel = %v, want nil", err)
	}
	if got := s.errOut.String(); !shutdownOnly.MatchString(got) {
		t.Errorf("stderr without -v = %q, want only the shutdown line", got)
	}
}

// TestServeGrace checks that a connection still open at shutdown is waited
// for, that the shutdown message says so, and that it is closed when
// --grace runs out: a shutdown that was not clean, exit 1, saying how many.
func TestServeGrace(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Grace: 100 * time.Millisecond})
	c := testkit.Dial(t, "tcp", s.addrs[0].String())
	// An echo round trip proves the server accepted the connection.
	if err := testkit.RoundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	msg := errorOf(t, s.stop(t), ExitError)
	testkit.MustContain(t, "error", msg, "1 connection still open after --grace 100ms had to be closed")
	testkit.MustContain(t, "stderr", s.errOut.String(), "shutting down: 1 connection open, waiting up to 100ms")
	testkit.MustContain(t, "output", s.out.String(), "served 1 connection, 0 datagrams; bytes in 1, bytes out 1")
	// The client sees the server's close.
	if b := readAll(t, c); len(b) != 0 {
		t.Errorf("after shutdown read %q, want EOF", b)
	}
}

// TestServeWriteTimeout: a client that stops reading a chargen stream is
// reset once the server's output has made no progress for
// --write-timeout, and the server goes on serving.
func TestServeWriteTimeout(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "chargen", Write: 300 * time.Millisecond, Verbose: true})
	c := testkit.Dial(t, "tcp", s.addrs[0].String())
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil { // it is served
		t.Fatal(err)
	}
	// It reads no more: the stream fills both sockets' buffers and stops,
	// and 300 ms later the server resets it.
	s.errOut.WaitFor(t, "close (abort: SO_LINGER 0, RST)")
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	_, err := io.Copy(io.Discard, c) // what was buffered, then the reset
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v; want the server's reset (ECONNRESET)", err)
	}
	c2 := testkit.Dial(t, "tcp", s.addrs[0].String())
	if _, err := io.ReadFull(c2, make([]byte, 1)); err != nil {
		t.Errorf("after the reset the server does not serve: %v", err)
	}
}

// TestServeHardStop checks that cancelling Hard (the second Ctrl-C) during
// the grace period stops at once with errInterrupted, exit 130.
func TestServeHardStop(t *testing.T) {
	t.Parallel()
	hard, stopHard := context.WithCancel(context.Background())
	defer stopHard()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Grace: time.Hour, Hard: hard})
	c := testkit.Dial(t, "tcp", s.addrs[0].String())
	// An echo round trip proves the server accepted the connection.
	if err := testkit.RoundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.cancel()
	s.errOut.WaitFor(t, "Ctrl-C again to stop now")
	stopHard()
	err := s.stop(t)
	errorOf(t, err, ExitInterrupted)
	if !errors.Is(err, errInterrupted) {
		t.Errorf("err = %v, want errInterrupted", err)
	}
	testkit.MustContain(t, "output", s.out.String(), "served 1 connection")
}

// TestServeBadOptions checks the options runServe refuses before it
// listens.
func TestServeBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  ServeOptions
		wants []string
	}{
		{name: "unknown service", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "quote"},
			wants: []string{`unknown service "quote"`, "echo, discard, chargen, daytime"}},
		{name: "unknown engine", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Engine: "kqueue"},
			wants: []string{`"kqueue"`}},
		{name: "bad endpoint", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0", "tpc://x"}, Service: "echo"},
			wants: []string{`bad endpoint "tpc://x"`, `unknown scheme "tpc"`}},
		{name: "negative grace", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Grace: -time.Second},
			wants: []string{"--grace", "-1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut := new(testkit.Buffer), new(testkit.Buffer)
			opts := tt.opts
			opts.IO = IOStreams{Out: out, ErrOut: errOut}
			opts.Ready = func([]net.Addr) { t.Error("Ready called for options that cannot serve") }
			msg := errorOf(t, runServe(context.Background(), &opts), ExitUsage)
			testkit.MustContain(t, "error", msg, tt.wants...)
			if out.String() != "" {
				t.Errorf("printed a banner for options that cannot serve:\n%s", out)
			}
		})
	}
}

// TestServeListenFailureClosesOthers checks that when one endpoint cannot
// be listened on, the ones already bound are closed again.
func TestServeListenFailureClosesOthers(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	first := testkit.SockPath(t, "first.sock")
	opts := &ServeOptions{
		IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
		Endpoints: []string{"unix://" + first, "tcp://" + held.Addr().String()},
		Service:   "echo",
	}
	errorOf(t, runServe(context.Background(), opts), ExitLocalAddr)
	if _, err := os.Lstat(first); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the failed start, Lstat(%s) = %v, want the socket file removed", first, err)
	}
	if c, err := net.Dial("unix", first); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the failed start", first)
	}
}

// TestServeEngines runs echo on every kind of endpoint with each engine
// backend that --engine offers on this platform (testkit.Backends).
func TestServeEngines(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, backend engine.Backend) {
		eps, summary := everyKind(t)
		s := startServe(t, &ServeOptions{Endpoints: eps, Engine: string(backend)})
		testkit.MustContain(t, "banner", s.out.String(), "echo service, "+string(backend)+" engine")
		s.echoEach(t, summary)
	})
}

// Only a backend name that does not exist is a usage error (exit 2, the
// engine's OptionError named as the flag): other NewServer failures, such
// as epoll_create1 failing with EMFILE, pass through unchanged with their
// own exit code.
func TestServeNewServerErrors(t *testing.T) {
	t.Parallel()
	emfile := os.NewSyscallError("epoll_create1", syscall.EMFILE)
	tests := []struct {
		name        string
		engine      string
		newErr      error // what NewServer fails with
		wantCode    int
		wantIs      error
		wantCreated bool // NewServer is called
	}{
		{name: "unknown engine", engine: "kqueue", wantCode: ExitUsage, wantCreated: true},
		{name: "EMFILE on epoll", engine: string(engine.BackendEpoll), newErr: emfile, wantCode: ExitError, wantIs: syscall.EMFILE, wantCreated: true},
		{name: "EMFILE on the default", engine: "", newErr: emfile, wantCode: ExitError, wantIs: syscall.EMFILE, wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			created := false
			opts := &ServeOptions{
				IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
				Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Engine: tt.engine,
				Ready: func([]net.Addr) { t.Error("Ready called, but NewServer fails") },
				newServer: func(cfg *engine.Config) (*engine.Server, error) {
					created = true
					if tt.newErr == nil { // the real one, which refuses the name
						return engine.NewServer(cfg)
					}
					return nil, tt.newErr
				},
			}
			err := runServe(context.Background(), opts)
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("runServe = %v: exit code %d, want %d", err, got, tt.wantCode)
			}
			if tt.newErr == nil && !strings.Contains(describe(err), `--engine "kqueue" is not std, epoll or uring`) {
				t.Errorf("error %q does not name the flag and the choices", describe(err))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false; want NewServer's error passed through", err, tt.wantIs)
			}
			if created != tt.wantCreated {
				t.Errorf("NewServer called = %v, want %v", created, tt.wantCreated)
			}
		})
	}
}

// TestServeNoGraceNothingOpen stops servers with --grace 0 and no
// connections: the shutdown must not claim it closed open connections, with
// the default engine or any backend.
func TestServeNoGraceNothingOpen(t *testing.T) {
	t.Parallel()
	for _, backend := range append([]engine.Backend{""}, testkit.Backends()...) {
		name, loops := string(backend), 1
		if backend == "" {
			name, loops = "default", 0
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()            // stop as soon as it listens
			for i := range 20 { // the false claim came from a random select
				out, errOut := new(testkit.Buffer), new(testkit.Buffer)
				opts := &ServeOptions{IO: IOStreams{Out: out, ErrOut: errOut}, Endpoints: []string{"tcp://127.0.0.1:0"},
					Service: "echo", Engine: string(backend), Loops: loops}
				if err := runServe(ctx, opts); err != nil {
					t.Fatalf("run %d: runServe = %v, want nil", i, err)
				}
				if got := errOut.String(); got != "shutting down\n" {
					t.Fatalf("run %d: stderr = %q, want %q", i, got, "shutting down\n")
				}
			}
		})
	}
}

// TestServeUnboundSender checks that a datagram from an unbound Unix
// datagram socket, which no answer can reach, is not left unexplained: a
// warning the first time, with -v a line each time, and a count in the
// summary.
func TestServeUnboundSender(t *testing.T) {
	t.Parallel()
	for _, verbose := range []bool{false, true} {
		t.Run(fmt.Sprintf("verbose=%v", verbose), func(t *testing.T) {
			t.Parallel()
			p := testkit.SockPath(t, "g.sock")
			s := startServe(t, &ServeOptions{Endpoints: []string{"unixgram://" + p}, Verbose: verbose})
			c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: p, Net: "unixgram"}) // no bind: unnamed
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for range 2 {
				if _, err := c.Write([]byte("hello")); err != nil {
					t.Fatal(err)
				}
			}
			want := "no answer to a datagram from an unbound socket"
			if !verbose {
				want = "warn: a datagram on " + p + " came from an unbound socket, which has no address: no answer can reach it"
			}
			s.errOut.WaitFor(t, want)
			if err := s.stop(t); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(s.errOut.String(), "warn: "); n != 1 {
				t.Errorf("%d warnings, want 1:\n%s", n, s.errOut)
			}
			testkit.MustContain(t, "summary", s.out.String(), "datagrams left unanswered: 2 (", ", 2 from an unbound socket, which has no address to answer)")
		})
	}
}
