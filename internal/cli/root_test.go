package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// newTestApp returns an App on buffers.
func newTestApp() (*App, *testkit.Buffer, *testkit.Buffer) {
	out, errOut := new(testkit.Buffer), new(testkit.Buffer)
	return &App{IO: IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}, Hard: context.Background()}, out, errOut
}

// TestUsageErrors runs the command tree with wrong arguments and flags:
// each is exit code 2, and none gets as far as a socket.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	// Addresses that refuse connections, should a usage error get as far
	// as a socket.
	dead, dead2 := testkit.Refused(t), testkit.Refused(t)
	quiet := testkit.QuietUDP(t)
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{name: "send without arguments", args: []string{"send"}, wants: []string{"send: wrong number of arguments", "usage: sockit send ENDPOINT MESSAGE..."}},
		{name: "send without message", args: []string{"send", "tcp://" + dead}, wants: []string{"wrong number of arguments"}},
		{name: "connect without endpoint", args: []string{"connect"}, wants: []string{"connect: wrong number of arguments", "usage: sockit connect ENDPOINT"}},
		{name: "connect with two endpoints", args: []string{"connect", "tcp://" + dead, "tcp://" + dead2}, wants: []string{"wrong number of arguments"}},
		{name: "unknown flag", args: []string{"serve", "--bogus"}, wants: []string{"unknown flag: --bogus"}},
		{name: "bad duration", args: []string{"send", "--timeout", "soon", "tcp://" + dead, "x"}, wants: []string{`"soon"`, "timeout"}},
		{name: "bad count", args: []string{"send", "--count", "many", "tcp://" + dead, "x"}, wants: []string{`"many"`}},
		{name: "unknown command", args: []string{"bogus"}, wants: []string{`unknown command "bogus"`}},
		{name: "misspelt command", args: []string{"sned"}, wants: []string{`unknown command "sned"`, "did you mean send?"}},
		{name: "unknown service", args: []string{"serve", "--service", "quote", "tcp://127.0.0.1:0"}, wants: []string{`unknown service "quote"`}},
		{name: "bad endpoint", args: []string{"send", "tpc://x", "hi"}, wants: []string{`unknown scheme "tpc"`}},
		{name: "bad port", args: []string{"connect", "tcp://127.0.0.1:99999"}, wants: []string{"out of range"}},
		// Option errors of the library come back with their flags' names.
		{name: "bench depth 0", args: []string{"bench", dead, "--depth", "0"}, wants: []string{"--depth must be at least 1"}},
		{name: "bench duration 0", args: []string{"bench", dead, "-d", "0s"}, wants: []string{"--duration must be positive"}},
		{name: "bench mode", args: []string{"bench", dead, "--mode", "mirror"}, wants: []string{`--mode "mirror" is not echo, sink, source or http`}},
		{name: "bench rate", args: []string{"bench", dead, "--rate", "NaN"}, wants: []string{"--rate must be a finite number"}},
		{name: "bench negative drain", args: []string{"bench", dead, "--drain", "-1s"}, wants: []string{"--drain must not be negative"}},
		{name: "bench source ips", args: []string{"bench", "unix:///nonexistent.sock", "--source-ips", "2"}, wants: []string{"--source-ips applies to TCP only"}},
		{name: "bench run too long", args: []string{"bench", dead, "--warmup", "87600h", "-d", "1h"}, wants: []string{"--warmup and --duration together must be at most"}},
		{name: "bench payload", args: []string{"bench", dead, "--payload", "@/nonexistent/payload"}, wants: []string{"--payload file:", "no such file"}},
		{name: "bench procs", args: []string{"bench", dead, "-c", "2", "--procs", "3"}, wants: []string{"--procs must be 1 … the connections (2)"}},
		{name: "send count 0", args: []string{"send", "--count", "0", dead, "x"}, wants: []string{"--count must be at least 1"}},
		{name: "serve max-message 0", args: []string{"serve", "--max-message", "0", "tcp://127.0.0.1:0"}, wants: []string{"--max-message must be at least 1"}},
		{name: "serve engine", args: []string{"serve", "--engine", "kqueue", "tcp://127.0.0.1:0"}, wants: []string{`--engine "kqueue" is not std, epoll or uring`}},
		{name: "serve accept", args: []string{"serve", "--accept", "random", "tcp://127.0.0.1:0"}, wants: []string{`--accept "random" is not shared or reuseport`}},
		{name: "connect proxy version", args: []string{"connect", "--proxy-protocol", "3", dead}, wants: []string{"--proxy-protocol 3 is not 1 or 2"}},
		{name: "connect proxy over udp", args: []string{"connect", "--proxy-protocol", "1", "udp://" + quiet}, wants: []string{"--proxy-protocol is written on stream connections"}},
		{name: "relay proxy version", args: []string{"relay", "--proxy-protocol", "5", "tcp://127.0.0.1:0", dead}, wants: []string{"--proxy-protocol 5 is not 1 or 2"}},
		{name: "relay proxy to udp", args: []string{"relay", "--proxy-protocol", "1", "udp://127.0.0.1:0", "udp://" + quiet}, wants: []string{"--proxy-protocol is sent on stream connections"}},
		{name: "relay stream to datagrams", args: []string{"relay", "tcp://127.0.0.1:0", "udp://" + quiet}, wants: []string{"LISTEN and TARGET cannot relay between a stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, out, _ := newTestApp()
			cmd := NewRootCmd(app)
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			msg := errorOf(t, err, ExitUsage)
			testkit.MustContain(t, "error", msg, tt.wants...)
			if strings.Contains(out.String(), "listening on") {
				t.Errorf("started serving on a usage error:\n%s", out)
			}
		})
	}
}

// TestHelp checks that help, and sockit with no arguments, print the usage
// and exit 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{name: "no arguments", args: nil, wants: []string{"Usage:", "serve", "send", "connect", "Exit codes"}},
		{name: "--help", args: []string{"--help"}, wants: []string{"Usage:", "serve", "send", "connect"}},
		{name: "serve --help", args: []string{"serve", "--help"}, wants: []string{"sockit serve [ENDPOINT...]", "--service", "--grace", "--unlink"}},
		{name: "send --help", args: []string{"send", "--help"}, wants: []string{"sockit send ENDPOINT MESSAGE...", "--hex", "--count"}},
		{name: "connect --help", args: []string{"connect", "--help"}, wants: []string{"sockit connect ENDPOINT", "--no-shutdown", "--idle-timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, out, _ := newTestApp()
			cmd := NewRootCmd(app)
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("Execute(%q) = %v, want nil", tt.args, err)
			}
			testkit.MustContain(t, "help", out.String(), tt.wants...)
		})
	}
}

// TestFlagsToOptions checks that each verb's flags reach its Options,
// including the defaults and the linger convention.
func TestFlagsToOptions(t *testing.T) {
	t.Parallel()
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			args  []string
			check func(t *testing.T, o *ServeOptions)
		}{
			{name: "defaults", args: nil, check: func(t *testing.T, o *ServeOptions) {
				want := ServeOptions{Service: "echo", Engine: string(engine.DefaultBackend), Grace: 5 * time.Second}
				got := ServeOptions{Service: o.Service, Engine: o.Engine, Grace: o.Grace, Idle: o.Idle, Unlink: o.Unlink, Verbose: o.Verbose}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("options = %+v, want %+v", got, want)
				}
				if len(o.Endpoints) != 0 {
					t.Errorf("Endpoints = %#v, want empty (runServe picks the defaults)", o.Endpoints)
				}
				if o.Sock.Linger != 0 || !o.Sock.NoDelay {
					t.Errorf("Sock = %+v, want Linger 0 (engine default) and NoDelay", o.Sock)
				}
			}},
			{name: "all set", args: []string{"tcp://:1", "udp://:2", "--service", "daytime", "--grace", "1s", "--idle-timeout", "2s",
				"--unlink", "-v", "--backlog", "7", "--reuseport", "--nodelay=false", "--rcvbuf", "4096", "--sndbuf", "8192", "--linger", "3s"},
				check: func(t *testing.T, o *ServeOptions) {
					if want := []string{"tcp://:1", "udp://:2"}; !reflect.DeepEqual(o.Endpoints, want) {
						t.Errorf("Endpoints = %q, want %q", o.Endpoints, want)
					}
					if o.Service != "daytime" || o.Grace != time.Second || o.Idle != 2*time.Second || !o.Unlink || !o.Verbose {
						t.Errorf("options = %+v", o)
					}
					want := sockFlags{Backlog: 7, ReusePort: true, NoDelay: false, RecvBuf: 4096, SendBuf: 8192, Linger: 3 * time.Second}
					if o.Sock != want {
						t.Errorf("Sock = %+v, want %+v", o.Sock, want)
					}
				}},
			{name: "linger 0 resets", args: []string{"--linger", "0"}, check: func(t *testing.T, o *ServeOptions) {
				if o.Sock.Linger >= 0 {
					t.Errorf("--linger 0 gave Linger %v, want < 0 (reset at close)", o.Sock.Linger)
				}
			}},
		}
		for _, tt := range tests {
			app, _, _ := newTestApp()
			var got *ServeOptions
			cmd := NewCmdServe(app, func(_ context.Context, o *ServeOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got.IO != app.IO || got.Hard != app.Hard {
				t.Errorf("%s: the App's streams and Hard context did not reach the options", tt.name)
			}
			t.Run(tt.name, func(t *testing.T) { tt.check(t, got) })
		}
	})
	t.Run("send", func(t *testing.T) {
		t.Parallel()
		ep := "tcp://" + testkit.Refused(t) // never dialed: the run function is a stub
		tests := []struct {
			name string
			args []string
			want SendOptions
		}{
			{name: "defaults", args: []string{ep, "hello", "there"},
				want: SendOptions{Endpoint: ep, Message: []string{"hello", "there"}, Count: 1,
					Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Sock: sockFlags{NoDelay: true}, API: apiFlags{Shutdown: "wr"}}},
			{name: "all set", args: []string{"-n", "--hex", "--count", "3", "--timeout", "1s", "--connect-timeout", "2s", "-v",
				"--keepalive", "-1s", "--linger", "0", "unix:///x", "-"},
				want: SendOptions{Endpoint: "unix:///x", Message: []string{"-"}, NoNewline: true, Hex: true, Count: 3,
					Timeout: time.Second, ConnectTimeout: 2 * time.Second, Verbose: true,
					Sock: sockFlags{NoDelay: true, KeepAlive: -time.Second, Linger: -1}, API: apiFlags{Shutdown: "wr"}}},
			{name: "linger set", args: []string{"--linger", "4s", ep, "x"},
				want: SendOptions{Endpoint: ep, Message: []string{"x"}, Count: 1,
					Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Sock: sockFlags{NoDelay: true, Linger: 4 * time.Second}, API: apiFlags{Shutdown: "wr"}}},
			{name: "socket API lab", args: []string{"-vv", "--send-call", "sendmsg", "--recv-call", "recv", "--send-flags", "dontroute", "--recv-flags", "peek,waitall",
				"--oob", "!", "--shutdown", "rd", "--source", "127.0.0.2", "--connected", "--hold", "5s", "--pass-fd", "/etc/hostname", ep, "x"},
				want: SendOptions{Endpoint: ep, Message: []string{"x"}, Count: 1, Verbose: true, Preview: true,
					Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Sock: sockFlags{NoDelay: true},
					API: apiFlags{SendCall: "sendmsg", RecvCall: "recv", SendFlags: "dontroute", RecvFlags: "peek,waitall", OOB: "!",
						Shutdown: "rd", Connected: true, Hold: 5 * time.Second},
					PassFD: []string{"/etc/hostname"}}},
		}
		for _, tt := range tests {
			app, _, _ := newTestApp()
			var got *SendOptions
			cmd := NewCmdSend(app, func(_ context.Context, o *SendOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			g := *got
			g.IO, g.NC = IOStreams{}, ncFlags{} // nc's flags: nc_test.go
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("%s: options\n got %+v\nwant %+v", tt.name, g, tt.want)
			}
		}
	})
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		ep := "udp://" + testkit.QuietUDP(t) // never dialed: the run function is a stub
		app, _, _ := newTestApp()
		var got *ConnectOptions
		cmd := NewCmdConnect(app, func(_ context.Context, o *ConnectOptions) error { got = o; return nil })
		cmd.SetArgs([]string{"--no-shutdown", "--idle-timeout", "3s", "--reply-wait", "4s", "-v", ep})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		g := *got
		g.IO, g.NC = IOStreams{}, ncFlags{} // nc's flags: nc_test.go
		want := ConnectOptions{Endpoint: ep, NoShutdown: true, IdleTimeout: 3 * time.Second,
			ReplyWait: 4 * time.Second, ConnectTimeout: 10 * time.Second, Verbose: true, Sock: sockFlags{NoDelay: true}, API: apiFlags{Shutdown: "wr"}}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("options\n got %+v\nwant %+v", g, want)
		}
	})
}

// relayChildEnv makes TestRelaySignals the child process it signals.
const relayChildEnv = "SOCKIT_TEST_RELAY_SIGNALS"

// The first signal cancels the soft context, the second the hard one, and
// a third gets the default action: it kills the process, as a third Ctrl-C
// must when a shutdown is stuck.
func TestRelaySignals(t *testing.T) {
	if os.Getenv(relayChildEnv) != "" {
		relayChild()
		return
	}
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("os.Process.Signal cannot send SIGINT or SIGTERM on Windows")
	}
	tests := []struct {
		name string
		sig  os.Signal
	}{
		{name: "SIGINT", sig: os.Interrupt},
		{name: "SIGTERM", sig: syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if signal.Ignored(tt.sig) {
				t.Skipf("%v is ignored in this process, and a child would inherit that", tt.sig)
			}
			cmd := testkit.HelperCommand("^TestRelaySignals$", relayChildEnv+"=1")
			stdin, err := cmd.StdinPipe() // the child waits for its EOF
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killer := time.AfterFunc(testkit.Timeout, func() { cmd.Process.Kill() })
			lines := bufio.NewScanner(stdout)
			expect := func(want string) {
				t.Helper()
				for lines.Scan() {
					if lines.Text() == want {
						return
					}
				}
				t.Errorf("child ended before printing %q", want)
			}
			expect("ready")
			for _, want := range []string{"soft", "hard"} {
				if err := cmd.Process.Signal(tt.sig); err != nil {
					t.Fatal(err)
				}
				expect(want)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, stdout)
			err = cmd.Wait()
			if !killer.Stop() {
				t.Fatalf("the child still ran %v after the third %v, and was killed", testkit.Timeout, tt.sig)
			}
			// A process killed by a signal has no exit code: -1.
			if code := cmd.ProcessState.ExitCode(); code != -1 {
				t.Errorf("after a third %v the child exited with %v (code %d); want it killed by the signal", tt.sig, err, code)
			}
		})
	}
}

// relayChild runs relaySignals as Main sets it up, says what each signal
// did, and waits for its standard input to end.
func relayChild() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go relaySignals(sigs, func() { fmt.Println("soft") }, func() { fmt.Println("hard") })
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
