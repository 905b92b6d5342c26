package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
)

// newTestApp returns an App on buffers.
func newTestApp() (*App, *syncBuffer, *syncBuffer) {
	out, errOut := new(syncBuffer), new(syncBuffer)
	return &App{IO: IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}, Hard: context.Background()}, out, errOut
}

// TestUsageErrors runs the command tree with wrong arguments and flags:
// each is exit code 2, and none gets as far as a socket.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{name: "send without arguments", args: []string{"send"}, wants: []string{"send: wrong number of arguments", "usage: sockit send ENDPOINT MESSAGE..."}},
		{name: "send without message", args: []string{"send", "tcp://127.0.0.1:9"}, wants: []string{"wrong number of arguments"}},
		{name: "connect without endpoint", args: []string{"connect"}, wants: []string{"connect: wrong number of arguments", "usage: sockit connect ENDPOINT"}},
		{name: "connect with two endpoints", args: []string{"connect", "tcp://127.0.0.1:9", "tcp://127.0.0.1:10"}, wants: []string{"wrong number of arguments"}},
		{name: "unknown flag", args: []string{"serve", "--bogus"}, wants: []string{"unknown flag: --bogus"}},
		{name: "bad duration", args: []string{"send", "--timeout", "soon", "tcp://127.0.0.1:9", "x"}, wants: []string{`"soon"`, "timeout"}},
		{name: "bad count", args: []string{"send", "--count", "many", "tcp://127.0.0.1:9", "x"}, wants: []string{`"many"`}},
		{name: "unknown command", args: []string{"bogus"}, wants: []string{`unknown command "bogus"`}},
		{name: "misspelt command", args: []string{"sned"}, wants: []string{`unknown command "sned"`, "did you mean send?"}},
		{name: "unknown service", args: []string{"serve", "--service", "quote", "tcp://127.0.0.1:0"}, wants: []string{`unknown service "quote"`}},
		{name: "bad endpoint", args: []string{"send", "tpc://x", "hi"}, wants: []string{`unknown scheme "tpc"`}},
		{name: "bad port", args: []string{"connect", "tcp://127.0.0.1:99999"}, wants: []string{"out of range"}},
		// Option errors of the library come back with their flags' names.
		{name: "bench depth 0", args: []string{"bench", "127.0.0.1:9", "--depth", "0"}, wants: []string{"--depth must be at least 1"}},
		{name: "bench duration 0", args: []string{"bench", "127.0.0.1:9", "-d", "0s"}, wants: []string{"--duration must be positive"}},
		{name: "bench mode", args: []string{"bench", "127.0.0.1:9", "--mode", "mirror"}, wants: []string{`--mode "mirror" is not echo, sink or source`}},
		{name: "bench rate", args: []string{"bench", "127.0.0.1:9", "--rate", "NaN"}, wants: []string{"--rate must be a finite number"}},
		{name: "bench negative drain", args: []string{"bench", "127.0.0.1:9", "--drain", "-1s"}, wants: []string{"--drain must not be negative"}},
		{name: "bench source ips", args: []string{"bench", "unix:///nonexistent.sock", "--source-ips", "2"}, wants: []string{"--source-ips applies to TCP only"}},
		{name: "bench run too long", args: []string{"bench", "127.0.0.1:9", "--warmup", "87600h", "-d", "1h"}, wants: []string{"--warmup and --duration together must be at most"}},
		{name: "bench payload", args: []string{"bench", "127.0.0.1:9", "--payload", "@/nonexistent/payload"}, wants: []string{"--payload file:", "no such file"}},
		{name: "bench procs", args: []string{"bench", "127.0.0.1:9", "-c", "2", "--procs", "3"}, wants: []string{"--procs must be 1 … the connections (2)"}},
		{name: "send count 0", args: []string{"send", "--count", "0", "127.0.0.1:9", "x"}, wants: []string{"--count must be at least 1"}},
		{name: "serve max-message 0", args: []string{"serve", "--max-message", "0", "tcp://127.0.0.1:0"}, wants: []string{"--max-message must be at least 1"}},
		{name: "serve engine", args: []string{"serve", "--engine", "kqueue", "tcp://127.0.0.1:0"}, wants: []string{`--engine "kqueue" is not std or epoll`}},
		{name: "serve accept", args: []string{"serve", "--accept", "random", "tcp://127.0.0.1:0"}, wants: []string{`--accept "random" is not shared or reuseport`}},
		{name: "connect proxy version", args: []string{"connect", "--proxy-protocol", "3", "127.0.0.1:9"}, wants: []string{"--proxy-protocol 3 is not 1 or 2"}},
		{name: "connect proxy over udp", args: []string{"connect", "--proxy-protocol", "1", "udp://127.0.0.1:9"}, wants: []string{"--proxy-protocol is written on stream connections"}},
		{name: "relay proxy version", args: []string{"relay", "--proxy-protocol", "5", "tcp://127.0.0.1:0", "127.0.0.1:9"}, wants: []string{"--proxy-protocol 5 is not 1 or 2"}},
		{name: "relay proxy to udp", args: []string{"relay", "--proxy-protocol", "1", "udp://127.0.0.1:0", "udp://127.0.0.1:9"}, wants: []string{"--proxy-protocol is sent on stream connections"}},
		{name: "relay stream to datagrams", args: []string{"relay", "tcp://127.0.0.1:0", "udp://127.0.0.1:9"}, wants: []string{"LISTEN and TARGET cannot relay between a stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, out, _ := newTestApp()
			cmd := NewRootCmd(app)
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			msg := errorOf(t, err, ExitUsage)
			mustContain(t, "error", msg, tt.wants...)
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
			mustContain(t, "help", out.String(), tt.wants...)
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
			{name: "all set", args: []string{"tcp://:1", "udp://:2", "-s", "daytime", "--grace", "1s", "--idle-timeout", "2s",
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
		tests := []struct {
			name string
			args []string
			want SendOptions
		}{
			{name: "defaults", args: []string{"tcp://127.0.0.1:9", "hello", "there"},
				want: SendOptions{Endpoint: "tcp://127.0.0.1:9", Message: []string{"hello", "there"}, Count: 1,
					Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Sock: sockFlags{NoDelay: true}}},
			{name: "all set", args: []string{"-n", "--hex", "--count", "3", "--timeout", "1s", "--connect-timeout", "2s", "-v",
				"--keepalive", "-1s", "--linger", "0", "unix:///x", "-"},
				want: SendOptions{Endpoint: "unix:///x", Message: []string{"-"}, NoNewline: true, Hex: true, Count: 3,
					Timeout: time.Second, ConnectTimeout: 2 * time.Second, Verbose: true,
					Sock: sockFlags{NoDelay: true, KeepAlive: -time.Second, Linger: -1}}},
			{name: "linger set", args: []string{"--linger", "4s", "tcp://127.0.0.1:9", "x"},
				want: SendOptions{Endpoint: "tcp://127.0.0.1:9", Message: []string{"x"}, Count: 1,
					Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second, Sock: sockFlags{NoDelay: true, Linger: 4 * time.Second}}},
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
			g.IO = IOStreams{}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("%s: options\n got %+v\nwant %+v", tt.name, g, tt.want)
			}
		}
	})
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		app, _, _ := newTestApp()
		var got *ConnectOptions
		cmd := NewCmdConnect(app, func(_ context.Context, o *ConnectOptions) error { got = o; return nil })
		cmd.SetArgs([]string{"--no-shutdown", "--idle-timeout", "3s", "--reply-wait", "4s", "-v", "udp://127.0.0.1:9"})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		g := *got
		g.IO = IOStreams{}
		want := ConnectOptions{Endpoint: "udp://127.0.0.1:9", NoShutdown: true, IdleTimeout: 3 * time.Second,
			ReplyWait: 4 * time.Second, ConnectTimeout: 10 * time.Second, Verbose: true, Sock: sockFlags{NoDelay: true}}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("options\n got %+v\nwant %+v", g, want)
		}
	})
}
