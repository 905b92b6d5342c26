package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestNCForms parses nc's flag forms on connect, listen and send (the run
// functions are stubs) into sockit's own endpoint and options.
func TestNCForms(t *testing.T) {
	t.Parallel()
	type result struct {
		endpoint, source string
		listen, keep     bool
		connectTimeout   time.Duration
		idle, timeout    time.Duration
		message          string
	}
	tests := []struct {
		name string
		args []string
		want result
	}{
		{name: "connect HOST PORT", args: []string{"connect", "127.0.0.1", "9000"},
			want: result{endpoint: "tcp://127.0.0.1:9000", connectTimeout: 10 * time.Second}},
		{name: "connect -u HOST PORT", args: []string{"connect", "-u", "localhost", "53"},
			want: result{endpoint: "udp://localhost:53", connectTimeout: 10 * time.Second}},
		{name: "connect -6 HOST PORT", args: []string{"connect", "-6", "::1", "9000"},
			want: result{endpoint: "tcp6://[::1]:9000", connectTimeout: 10 * time.Second}},
		{name: "connect -4 -u ENDPOINT without scheme", args: []string{"connect", "-4u", "127.0.0.1:9"},
			want: result{endpoint: "udp4://127.0.0.1:9", connectTimeout: 10 * time.Second}},
		{name: "connect -w 2 sets both timeouts", args: []string{"connect", "-w", "2", "127.0.0.1", "9"},
			want: result{endpoint: "tcp://127.0.0.1:9", connectTimeout: 2 * time.Second, idle: 2 * time.Second}},
		{name: "connect -w with an explicit --connect-timeout", args: []string{"connect", "-w", "2", "--connect-timeout", "5s", "127.0.0.1", "9"},
			want: result{endpoint: "tcp://127.0.0.1:9", connectTimeout: 5 * time.Second, idle: 2 * time.Second}},
		{name: "connect -s ADDR -p PORT is the source", args: []string{"connect", "-s", "127.0.0.2", "-p", "4000", "127.0.0.1", "9"},
			want: result{endpoint: "tcp://127.0.0.1:9", source: "127.0.0.2:4000", connectTimeout: 10 * time.Second}},
		{name: "connect -l -p PORT", args: []string{"connect", "-l", "-p", "9000"},
			want: result{endpoint: "tcp://:9000", listen: true, connectTimeout: 10 * time.Second}},
		{name: "connect -lk PORT", args: []string{"connect", "-lk", "9000"},
			want: result{endpoint: "tcp://:9000", listen: true, keep: true, connectTimeout: 10 * time.Second}},
		{name: "connect -l -u -s ADDR -p PORT", args: []string{"connect", "-lu", "-s", "127.0.0.1", "-p", "9000"},
			want: result{endpoint: "udp://127.0.0.1:9000", listen: true, connectTimeout: 10 * time.Second}},
		{name: "listen -l -p PORT", args: []string{"listen", "-l", "-p", "9000"},
			want: result{endpoint: "tcp://:9000", listen: true}},
		{name: "listen -6 -s ADDR PORT", args: []string{"listen", "-6", "-s", "::1", "9000"},
			want: result{endpoint: "tcp6://[::1]:9000", listen: true}},
		{name: "listen -k -w 1.5", args: []string{"listen", "-k", "-w", "1.5", "unix:///x"},
			want: result{endpoint: "unix:///x", listen: true, keep: true, idle: 1500 * time.Millisecond}},
		{name: "send HOST PORT MESSAGE", args: []string{"send", "localhost", "7007", "hello", "there"},
			want: result{endpoint: "tcp://localhost:7007", message: "hello there", connectTimeout: 10 * time.Second, timeout: 10 * time.Second}},
		{name: "send ENDPOINT MESSAGE stays", args: []string{"send", "7007", "8000"},
			want: result{endpoint: "7007", message: "8000", connectTimeout: 10 * time.Second, timeout: 10 * time.Second}},
		{name: "send -u -w 3 -s ADDR", args: []string{"send", "-u", "-w", "3", "-s", "127.0.0.2", "127.0.0.1:7", "x"},
			want: result{endpoint: "udp://127.0.0.1:7", source: "127.0.0.2", message: "x", connectTimeout: 3 * time.Second, timeout: 3 * time.Second}},
		{name: "send --timeout 2: bare seconds", args: []string{"send", "--timeout", "2", "127.0.0.1:7", "x"},
			want: result{endpoint: "127.0.0.1:7", message: "x", connectTimeout: 10 * time.Second, timeout: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, _, _ := newTestApp()
			var got result
			var cmd = NewCmdConnect(app, func(_ context.Context, o *ConnectOptions) error {
				got = result{endpoint: o.Endpoint, source: o.NC.source(), listen: o.NC.Listen, keep: o.NC.Keep, connectTimeout: o.ConnectTimeout, idle: o.IdleTimeout}
				return nil
			})
			switch tt.args[0] {
			case "listen":
				cmd = NewCmdListen(app, func(_ context.Context, o *ListenOptions) error {
					got = result{endpoint: o.Endpoint, listen: true, keep: o.Keep, idle: o.IdleTimeout}
					return nil
				})
			case "send":
				cmd = NewCmdSend(app, func(_ context.Context, o *SendOptions) error {
					got = result{endpoint: o.Endpoint, source: o.NC.source(), message: strings.Join(o.Message, " "), connectTimeout: o.ConnectTimeout, timeout: o.Timeout}
					return nil
				})
			}
			secondsDurations(cmd.Flags())
			cmd.SetArgs(tt.args[1:])
			if err := cmd.Execute(); err != nil {
				t.Fatalf("sockit %s: %v", strings.Join(tt.args, " "), err)
			}
			if got != tt.want {
				t.Errorf("sockit %s:\n got %+v\nwant %+v", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
}

// TestNCUsageErrors: nc forms that cannot mean anything are usage errors
// that say why, and the short flags that moved say where to.
func TestNCUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "-4 and -6", args: []string{"connect", "-4", "-6", "127.0.0.1", "9"}, want: "-4 and -6 exclude each other"},
		{name: "--no-shutdown and --shutdown", args: []string{"connect", "--no-shutdown", "--shutdown", "rd", "127.0.0.1:9"}, want: "--no-shutdown and --shutdown exclude each other"},
		{name: "-k without -l", args: []string{"connect", "-k", "127.0.0.1", "9"}, want: "-k (--keep) goes with -l"},
		{name: "HOST and no port", args: []string{"connect", "127.0.0.1", "http"}, want: `"http" is not a port number`},
		{name: "-u against tcp://", args: []string{"connect", "-u", "tcp://127.0.0.1:9"}, want: "tcp://127.0.0.1:9 says tcp, and -u, -4 or -6 say udp"},
		{name: "no endpoint", args: []string{"connect"}, want: "connect: wrong number of arguments (want ENDPOINT, or nc's HOST PORT)"},
		{name: "serve -s", args: []string{"serve", "-s", "echo"}, want: "-s is nc's source address now; use --service"},
		{name: "bench -s", args: []string{"bench", "-s", "64", "127.0.0.1:9"}, want: "-s is nc's source address now; use --size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, _, _ := newTestApp()
			root := NewRootCmd(app)
			root.SetArgs(tt.args)
			err := root.Execute()
			testkit.MustContain(t, "error", errorOf(t, err, ExitUsage), tt.want)
		})
	}
}

// TestNCOnSockets runs nc's forms against real sockets: HOST PORT, -u,
// the source address (-s), connect -l on a Unix socket, and a bare
// number of seconds for --idle-timeout.
func TestNCOnSockets(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, in string, args ...string) (string, error) {
		t.Helper()
		app, out, errOut := newTestApp()
		app.IO.In = strings.NewReader(in)
		root := NewRootCmd(app)
		root.SetArgs(args)
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(context.Background()) }()
		err := testkit.Receive(t, done, "the command's return")
		if err != nil {
			t.Logf("stderr: %s", errOut)
		}
		return out.String(), err
	}
	t.Run("HOST PORT", func(t *testing.T) {
		t.Parallel()
		s := serveKind(t, "tcp")
		host, port, _ := net.SplitHostPort(s.addrs[0].String())
		if got, err := run(t, "hello\n", "connect", host, port); err != nil || got != "hello\n" {
			t.Errorf("connect %s %s = %q, %v; want the echo", host, port, got, err)
		}
	})
	t.Run("-u HOST PORT", func(t *testing.T) {
		t.Parallel()
		s := serveKind(t, "udp")
		host, port, _ := net.SplitHostPort(s.addrs[0].String())
		if got, err := run(t, "datagram\n", "connect", "-u", "--reply-wait", "0.3", host, port); err != nil || got != "datagram\n" {
			t.Errorf("connect -u %s %s = %q, %v; want the echo", host, port, got, err)
		}
	})
	t.Run("-s source address", func(t *testing.T) {
		t.Parallel()
		peers := make(chan string, 1)
		ep := rawServer(t, func(c *net.TCPConn, _ <-chan struct{}) {
			peers <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			io.Copy(io.Discard, c) // until send's FIN
		})
		if _, err := run(t, "", "send", "-s", "127.0.0.2", ep, "x"); err != nil {
			t.Fatalf("send -s 127.0.0.2: %v", err)
		}
		if got := testkit.Receive(t, peers, "the server's peer"); got != "127.0.0.2" {
			t.Errorf("the server saw %s, want 127.0.0.2 (-s)", got)
		}
	})
	t.Run("-s on a Unix socket", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, "", "send", "-s", "127.0.0.2", "unix://"+testkit.SockPath(t, "x.sock"), "x")
		testkit.MustContain(t, "error", errorOf(t, err, ExitUsage), "--source (-s) is an IP address")
	})
	t.Run("connect -l", func(t *testing.T) {
		t.Parallel()
		path := testkit.SockPath(t, "l.sock")
		app, out, _ := newTestApp()
		root := NewRootCmd(app)
		root.SetArgs([]string{"connect", "-l", "unix://" + path})
		done := make(chan error, 1)
		go func() { done <- root.Execute() }()
		var c net.Conn
		testkit.Eventually(t, "connect -l listening", func() bool {
			var err error
			c, err = net.Dial("unix", path)
			return err == nil
		})
		c.Write([]byte("to the listener"))
		c.Close()
		if err := testkit.Receive(t, done, "connect -l's return"); err != nil {
			t.Fatalf("connect -l = %v", err)
		}
		if got := out.String(); got != "to the listener" {
			t.Errorf("connect -l printed %q", got)
		}
	})
	t.Run("--idle-timeout 0.2", func(t *testing.T) {
		t.Parallel()
		ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) { <-stop })
		pr, pw := net.Pipe() // an input that never ends
		defer pw.Close()
		app, _, _ := newTestApp()
		app.IO.In = pr
		root := NewRootCmd(app)
		root.SetArgs([]string{"connect", "--idle-timeout", "0.2", ep})
		start := time.Now()
		err := root.Execute()
		pr.Close()
		if msg := errorOf(t, err, ExitConnect); !strings.Contains(msg, "nothing moved either way for 200ms") {
			t.Errorf("error %q, want the idle timeout of 200ms", msg)
		}
		if el := time.Since(start); el > testkit.Timeout || errors.Is(err, context.Canceled) {
			t.Errorf("took %v", el)
		}
	})
}
