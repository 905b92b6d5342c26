package cli

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// needSh skips a test whose programs are /bin/sh command lines.
func needSh(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the command line is for /bin/sh")
	}
}

// TestServeExec runs sort per connection, which reads all its input before
// it answers: connect's FIN (a close frame on ws, close_notify on tls)
// reaches it as its end of input, and its answer, then our FIN, reach
// connect; on every backend, and through the layers.
func TestServeExec(t *testing.T) {
	needSh(t)
	run := func(t *testing.T, backend engine.Backend, scheme string) {
		s := startServe(t, &ServeOptions{Endpoints: []string{scheme + "://" + testkit.Loopback(t, scheme)}, Engine: string(backend),
			execFlags: execFlags{Sh: `sort; echo "from $SOCKIT_NETWORK"`, MaxConns: 4}, Verbose: true})
		testkit.MustContain(t, "banner", s.out.String(), "exec service", `each connection runs: sh -c 'sort; echo "from $SOCKIT_NETWORK"'   (at most 4 at once; more are reset)`)
		for i := range 2 {
			opts, out, errOut := connectOpts(s.endpoint(0), strings.NewReader("pear\napple\nfig\n"))
			opts.TLS.Insecure = true
			if err := runConnectBounded(t, context.Background(), opts); err != nil {
				t.Fatalf("connection %d: runConnect = %v\nstderr:\n%s", i, err, errOut)
			}
			network := "tcp"
			if scheme == "unix" {
				network = "unix"
			}
			if want := "apple\nfig\npear\nfrom " + network + "\n"; out.String() != want {
				t.Errorf("connection %d: the program answered %q, want %q", i, out, want)
			}
		}
		// Both programs have ended before the shutdown, which would stop
		// one still running (connect returns at our FIN, which can come
		// before the kernel reports the program's exit).
		testkit.Eventually(t, "both programs' ends", func() bool {
			return strings.Count(s.errOut.String(), "program exited 0; bytes in 15") == 2
		})
		s.stopWith(t, "programs: 2 started, 0 could not start; 0 stopped (idle, shutdown or connection gone); 0 connections reset at --max-conns 4")
	}
	t.Run("backends", func(t *testing.T) {
		testkit.ForBackends(t, func(t *testing.T, b engine.Backend) { run(t, b, "tcp") })
	})
	for _, scheme := range []string{"unix", "tls", "ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			run(t, "", scheme)
		})
	}
}

// TestServeExecRefused: beyond --max-conns a connection is reset at once,
// with a warning, and counted.
func TestServeExecRefused(t *testing.T) {
	needSh(t)
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, execFlags: execFlags{Sh: "cat", MaxConns: 1}})
	first := testkit.Dial(t, "tcp", s.addrs[0].String())
	if err := testkit.RoundTrip(first, []byte("one")); err != nil { // its program runs
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", s.addrs[0].String(), testkit.Timeout)
	if err == nil { // the reset can come before the dial has returned
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the second connection: %v; want a reset", err)
	}
	s.errOut.WaitFor(t, "connection reset: 1 program was running, the most --max-conns allows (1 refused so far)")
	first.(*net.TCPConn).CloseWrite()
	readAll(t, first)
	s.stopWith(t, "1 connection reset at --max-conns 1")
}

// TestServeExecIdle: --idle-timeout stops a program when nothing moves
// either way, and the JSON events say so.
func TestServeExecIdle(t *testing.T) {
	needSh(t)
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, execFlags: execFlags{Sh: "echo hi; sleep 30", MaxConns: 1},
		Idle: 300 * time.Millisecond, Events: eventFlags{JSON: true}})
	c := testkit.Dial(t, "tcp", s.addrs[0].String())
	if got := string(readAll(t, c)); got != "hi\n" {
		t.Errorf("read %q, want hi and then our FIN once the program was stopped", got)
	}
	c.Close()
	s.out.WaitFor(t, `"event":"program"`)
	s.stopWith(t, `"stopped":"idle for 300ms"`)
	testkit.MustContain(t, "events", s.out.String(), `"exit_code":-1`, `"in_bytes":0,"out_bytes":3`)
}

// TestServeExecBadOptions: what cannot run a program per connection is
// refused before serve listens.
func TestServeExecBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts ServeOptions
		code int
		want string
	}{
		{name: "and a service", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "chat", ServiceSet: true, execFlags: execFlags{Exec: "cat"}},
			code: ExitUsage, want: "--service chat and --exec exclude each other"},
		{name: "datagrams", opts: ServeOptions{Endpoints: []string{"udp://127.0.0.1:0"}, execFlags: execFlags{Exec: "cat"}},
			code: ExitUsage, want: "runs over streams (tcp, unix, unixpacket, tls, ws, wss), not udp://127.0.0.1:0"},
		{name: "http", opts: ServeOptions{Endpoints: []string{"http://127.0.0.1:0"}, execFlags: execFlags{Exec: "cat"}},
			code: ExitUsage, want: "not http://127.0.0.1:0"},
		{name: "both", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, execFlags: execFlags{Exec: "cat", Sh: "cat"}},
			code: ExitUsage, want: "--exec and --sh exclude each other"},
		{name: "missing program", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, execFlags: execFlags{Exec: "sockit-no-such-program -x"}},
			code: ExitUsage, want: `--exec "sockit-no-such-program" cannot be run`},
		{name: "negative idle", opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, execFlags: execFlags{Exec: "cat"}, Idle: -time.Second},
			code: ExitUsage, want: "--idle-timeout is -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			if opts.Service == "" {
				opts.Service = "echo"
			}
			opts.IO = IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)}
			opts.Ready = func([]net.Addr) { t.Error("Ready called for options that cannot serve") }
			msg := errorOf(t, runServe(context.Background(), &opts), tt.code)
			testkit.MustContain(t, "error", msg, tt.want)
		})
	}
}
