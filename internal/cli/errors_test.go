package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/testkit"
)

// verbs runs each verb on one endpoint with buffers, for the errors every
// verb reports the same way.
var verbs = []struct {
	name string
	run  func(ctx context.Context, ep string) error
}{
	{name: "serve", run: func(ctx context.Context, ep string) error {
		return runServe(ctx, &ServeOptions{
			IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
			Endpoints: []string{ep}, Service: "echo", Grace: time.Second,
		})
	}},
	{name: "send", run: func(ctx context.Context, ep string) error {
		opts, _, _ := sendOpts(ep, "hello")
		return runSend(ctx, opts)
	}},
	{name: "connect", run: func(ctx context.Context, ep string) error {
		opts, _, _ := connectOpts(ep, strings.NewReader("hello\n"))
		return runConnect(ctx, opts)
	}},
}

// TestBadEndpoint checks that every verb rejects a bad endpoint with exit
// code 2 and a message that names the problem and what is allowed.
func TestBadEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ep    string
		wants []string
	}{
		{name: "unknown scheme", ep: "tpc://x",
			wants: []string{`bad endpoint "tpc://x"`, `unknown scheme "tpc"`, "tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket"}},
		{name: "port not a number", ep: "tcp://127.0.0.1:http",
			wants: []string{`bad endpoint "tcp://127.0.0.1:http"`, `port "http" is not a number`, "0 to 65535"}},
		{name: "port out of range", ep: "udp://127.0.0.1:70000",
			wants: []string{`port 70000 is out of range`, "0 to 65535"}},
		{name: "missing port", ep: "tcp://127.0.0.1", wants: []string{"missing port"}},
		{name: "empty", ep: "", wants: []string{"empty endpoint"}},
		{name: "bare path", ep: "/tmp/x.sock", wants: []string{"a path needs a scheme", "unix:///tmp/x.sock"}},
	}
	for _, v := range verbs {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				err := v.run(context.Background(), tt.ep)
				msg := errorOf(t, err, ExitUsage)
				testkit.MustContain(t, "error", msg, tt.wants...)
				if !errors.Is(err, sockit.ErrBadEndpoint) {
					t.Errorf("errors.Is(%v, sockit.ErrBadEndpoint) = false", err)
				}
			})
		}
	}
}

// TestAddressInUse checks that serving where another socket listens is exit
// code 4 with a hint of what to do.
func TestAddressInUse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		listen func(t *testing.T) (ep string, closer io.Closer)
		wants  []string
	}{
		{name: "tcp", listen: func(t *testing.T) (string, io.Closer) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return "tcp://" + ln.Addr().String(), ln
		}, wants: []string{"listen tcp 127.0.0.1:", "address already in use", "another process is listening there"}},
		{name: "udp", listen: func(t *testing.T) (string, io.Closer) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return "udp://" + pc.LocalAddr().String(), pc
		}, wants: []string{"listen udp 127.0.0.1:", "address already in use", "ss -lunp"}},
		{name: "unix", listen: func(t *testing.T) (string, io.Closer) {
			p := testkit.SockPath(t, "live.sock")
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			return "unix://" + p, ln
		}, wants: []string{"address already in use", "--unlink"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep, closer := tt.listen(t)
			defer closer.Close()
			msg := errorOf(t, verbs[0].run(context.Background(), ep), ExitLocalAddr)
			testkit.MustContain(t, "error", msg, tt.wants...)
		})
	}
}

// TestLiveUnixSocketNotReplaced checks that --unlink does not take over a
// socket a live server answers on.
func TestLiveUnixSocketNotReplaced(t *testing.T) {
	t.Parallel()
	p := testkit.SockPath(t, "live.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // answer the liveness probe
		for range 10 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	opts := &ServeOptions{
		IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
		Endpoints: []string{"unix://" + p}, Service: "echo", Unlink: true,
	}
	msg := errorOf(t, runServe(context.Background(), opts), ExitLocalAddr)
	testkit.MustContain(t, "error", msg, "a live server answers on this socket file", "stop that server, or pick another path")
	if strings.Contains(msg, "--unlink") {
		t.Errorf("error %q suggests --unlink, which was given and cannot help", msg)
	}
	if c, err := net.Dial("unix", p); err != nil {
		t.Errorf("the live server's socket is gone: %v", err)
	} else {
		c.Close()
	}
}

// TestStaleUnixSocket checks that a socket file no server uses is refused
// without --unlink (exit 4, with the hint) and replaced with it.
func TestStaleUnixSocket(t *testing.T) {
	t.Parallel()
	p := testkit.StaleSocket(t, "stale.sock")
	msg := errorOf(t, verbs[0].run(context.Background(), "unix://"+p), ExitLocalAddr)
	testkit.MustContain(t, "error", msg, "address already in use", "--unlink")

	s := startServe(t, &ServeOptions{Endpoints: []string{"unix://" + p}, Unlink: true, Verbose: true})
	if got := send(t, "unix://"+p, "hello"); got != "hello\n" {
		t.Errorf("send printed %q, want %q", got, "hello\n")
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "narration", s.errOut.String(), "unlink "+p)
}

// TestNotASocket checks that a Unix path that is a regular file is exit
// code 4, that the message says it is not a socket, and that the file is
// left alone, with or without --unlink.
func TestNotASocket(t *testing.T) {
	t.Parallel()
	for _, unlink := range []bool{false, true} {
		t.Run(fmt.Sprintf("unlink=%v", unlink), func(t *testing.T) {
			t.Parallel()
			p := testkit.SockPath(t, "data.txt")
			const content = "precious data\n"
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, scheme := range []string{"unix", "unixgram", "unixpacket"} {
				opts := &ServeOptions{
					IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
					Endpoints: []string{scheme + "://" + p}, Service: "echo", Unlink: unlink,
				}
				msg := errorOf(t, runServe(context.Background(), opts), ExitLocalAddr)
				testkit.MustContain(t, "error", msg, "listen "+scheme+" "+p, "not a socket")
				if b, err := os.ReadFile(p); err != nil || string(b) != content {
					t.Fatalf("after serve %s://%s the file holds %q, %v; want it untouched", scheme, p, b, err)
				}
			}
		})
	}
}

// TestRefused checks that dialing a port nothing listens on is exit code 3
// and says so.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, v := range verbs[1:] {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ep := refused(t)
			err := v.run(context.Background(), ep)
			msg := errorOf(t, err, ExitConnect)
			testkit.MustContain(t, "error", msg, "connect tcp "+strings.TrimPrefix(ep, "tcp://"), "connection refused", "nothing listens there")
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("errors.Is(%v, ECONNREFUSED) = false", err)
			}
		})
	}
	t.Run("stale unix socket", func(t *testing.T) {
		t.Parallel()
		p := testkit.StaleSocket(t, "stale.sock")
		err := verbs[1].run(context.Background(), "unix://"+p)
		msg := errorOf(t, err, ExitConnect)
		testkit.MustContain(t, "error", msg, "connect unix "+p, "connection refused", "nothing listens there")
	})
}

// TestConnectNotASocket checks that send and connect to a Unix path that
// is a regular file or a directory say it is not a socket (the kernel says
// "connection refused"), with exit code 3, and leave it alone.
func TestConnectNotASocket(t *testing.T) {
	t.Parallel()
	file := testkit.SockPath(t, "data.txt")
	const content = "precious data\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := testkit.SockPath(t, "dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Run("verbs", func(t *testing.T) { // its parallel subtests end before the file is checked
		for _, v := range verbs[1:] {
			for _, p := range []string{file, dir} {
				t.Run(v.name+"/"+filepath.Base(p), func(t *testing.T) {
					t.Parallel()
					err := v.run(context.Background(), "unix://"+p)
					msg := errorOf(t, err, ExitConnect)
					testkit.MustContain(t, "error", msg, "connect unix "+p+": path exists and is not a socket (is that the server's socket path?)")
					if !errors.Is(err, sockit.ErrNotSocket) || !errors.Is(err, syscall.ECONNREFUSED) {
						t.Errorf("errors.Is(%v, ErrNotSocket), (…, ECONNREFUSED) = %v, %v; want both", err, errors.Is(err, sockit.ErrNotSocket), errors.Is(err, syscall.ECONNREFUSED))
					}
				})
			}
		}
	})
	if b, err := os.ReadFile(file); err != nil || string(b) != content {
		t.Errorf("the file holds %q, %v; want it untouched", b, err)
	}
}

// TestOtherProtocol checks that tls:// and ws:// to sockit's own plain
// echo service say what the server sent back (exit code 1), not the
// protocol parser's own words.
func TestOtherProtocol(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	addr := s.addrs[0].String()
	for _, tt := range []struct {
		ep, want string
	}{
		{ep: "tls://" + addr, want: "sockit: tls tcp " + addr + ": the server sent back what we sent, a TLS ClientHello (an echo service?): is it a TLS endpoint?"},
		{ep: "ws://" + addr + "/", want: "sockit: websocket tcp " + addr + `: websocket handshake: the server sent back what we sent, an HTTP request ("GET / HTTP/1.1") (an echo service?): is it a WebSocket endpoint?`},
	} {
		opts, out, _ := sendOpts(tt.ep, "hello")
		opts.TLS.Insecure = true
		msg := errorOf(t, runSend(context.Background(), opts), ExitError)
		if msg != tt.want {
			t.Errorf("send %s: error mismatch (-want +got):\n-%s\n+%s", tt.ep, tt.want, msg)
		}
		if out.Len() != 0 {
			t.Errorf("send %s printed %q, want nothing", tt.ep, out)
		}
	}
}

// TestReplyTimeout checks --timeout against a server that reads and never
// answers: exit code 3 and a timeout message.
func TestReplyTimeout(t *testing.T) {
	t.Parallel()
	ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
		io.Copy(io.Discard, c) // read until the client's FIN, never write
		<-stop
	})
	opts, out, _ := sendOpts(ep, "hello")
	opts.Timeout = 200 * time.Millisecond
	err := runSend(context.Background(), opts)
	msg := errorOf(t, err, ExitConnect)
	testkit.MustContain(t, "error", msg, "read tcp "+strings.TrimPrefix(ep, "tcp://"), "timed out")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("errors.Is(%v, os.ErrDeadlineExceeded) = false", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q, want nothing", out)
	}
}

// TestPeerReset checks that a reset by the server is exit code 3 and says
// the connection was reset.
func TestPeerReset(t *testing.T) {
	t.Parallel()
	ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
		io.Copy(io.Discard, c) // the message and the client's FIN
		c.SetLinger(0)         // per socket(7): close now sends RST
		c.Close()
	})
	opts, _, _ := sendOpts(ep, "hello")
	err := runSend(context.Background(), opts)
	msg := errorOf(t, err, ExitConnect)
	testkit.MustContain(t, "error", msg, "reset")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("errors.Is(%v, ECONNRESET) = false", err)
	}
}

// TestExitCode checks the mapping from errors to exit codes.
func TestExitCode(t *testing.T) {
	t.Parallel()
	wrap := func(errno error) error {
		return &sockit.Error{Op: "connect", Net: "tcp", Addr: "127.0.0.1:1", Err: errno}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: ExitOK},
		{name: "other", err: errors.New("boom"), want: ExitError},
		{name: "usage", err: usageErr{errors.New("bad flag")}, want: ExitUsage},
		{name: "wrapped usage", err: fmt.Errorf("x: %w", usageErr{errors.New("bad flag")}), want: ExitUsage},
		{name: "bad endpoint", err: fmt.Errorf("x: %w", sockit.ErrBadEndpoint), want: ExitUsage},
		{name: "bad option", err: sockit.BadOption("bench.Options", "Size", "must be 1 … 8"), want: ExitUsage},
		{name: "a failed /proc read", err: &os.PathError{Op: "open", Path: "/proc/1/stat", Err: syscall.ENOENT}, want: ExitError},
		{name: "refused", err: wrap(syscall.ECONNREFUSED), want: ExitConnect},
		{name: "unreachable", err: wrap(syscall.ENETUNREACH), want: ExitConnect},
		{name: "timeout", err: wrap(os.ErrDeadlineExceeded), want: ExitConnect},
		{name: "reset", err: wrap(syscall.ECONNRESET), want: ExitConnect},
		{name: "broken pipe", err: wrap(syscall.EPIPE), want: ExitConnect},
		{name: "in use", err: wrap(syscall.EADDRINUSE), want: ExitLocalAddr},
		{name: "permission to bind", err: &sockit.Error{Op: "listen", Net: "tcp", Addr: "127.0.0.1:80", Err: syscall.EACCES}, want: ExitLocalAddr},
		{name: "permission to connect", err: &sockit.Error{Op: "connect", Net: "unix", Addr: "/run/x.sock", Err: syscall.EACCES}, want: ExitConnect},
		{name: "listen on a file", err: &sockit.Error{Op: "listen", Net: "unix", Addr: "/tmp/f", Err: sockit.ErrNotSocket}, want: ExitLocalAddr},
		{name: "connect to a file", err: &sockit.Error{Op: "connect", Net: "unix", Addr: "/tmp/f", Err: sockit.ErrNotSocket}, want: ExitConnect},
		{name: "no socket file", err: &sockit.Error{Op: "connect", Net: "unix", Addr: "/tmp/f", Err: syscall.ENOENT}, want: ExitConnect},
		{name: "no directory to bind in", err: &sockit.Error{Op: "listen", Net: "unix", Addr: "/no/f", Err: syscall.ENOENT}, want: ExitLocalAddr},
		{name: "not a socket, unwrapped", err: sockit.ErrNotSocket, want: ExitLocalAddr},
		{name: "address not available", err: wrap(syscall.EADDRNOTAVAIL), want: ExitLocalAddr},
		{name: "interrupted", err: errInterrupted, want: ExitInterrupted},
		{name: "cancelled", err: context.Canceled, want: ExitInterrupted},
		{name: "joined", err: errors.Join(errors.New("a"), wrap(syscall.ECONNREFUSED)), want: ExitConnect},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}
