package cli

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// listener is one runListen running in the background.
type listener struct {
	opts   *ListenOptions
	addr   net.Addr
	out    *testkit.Buffer
	errOut *testkit.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startListen runs runListen on ep (its scheme with a fresh loopback
// address) reading in, and returns once it listens. The test ends it by
// its context if it has not returned.
func startListen(t *testing.T, scheme string, in io.Reader, set func(*ListenOptions)) *listener {
	t.Helper()
	l := &listener{out: new(testkit.Buffer), errOut: new(testkit.Buffer), done: make(chan error, 1)}
	l.opts = &ListenOptions{
		IO:        IOStreams{In: in, Out: l.out, ErrOut: l.errOut},
		Endpoint:  scheme + "://" + testkit.Loopback(t, scheme),
		ReplyWait: time.Second,
	}
	l.opts.Sock.NoDelay = true
	if set != nil {
		set(l.opts)
	}
	ready := make(chan net.Addr, 1)
	l.opts.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- runListen(ctx, l.opts) }()
	t.Cleanup(func() {
		cancel()
		testkit.Receive(t, l.done, "runListen's return after cancel")
	})
	select {
	case l.addr = <-ready:
	case err := <-l.done:
		t.Fatalf("runListen(%s) returned before listening: %v\nstderr:\n%s", l.opts.Endpoint, err, l.errOut)
	case <-time.After(testkit.Timeout):
		t.Fatalf("runListen(%s) not listening after %s", l.opts.Endpoint, testkit.Timeout)
	}
	return l
}

// endpoint is where a client reaches l.
func (l *listener) endpoint() string {
	scheme, _, _ := strings.Cut(l.opts.Endpoint, "://")
	return scheme + "://" + l.addr.String()
}

// wait returns what runListen returned, failing the test if it does not
// return within testkit.Timeout.
func (l *listener) wait(t *testing.T) error {
	t.Helper()
	err := testkit.Receive(t, l.done, "runListen's return")
	l.done <- err // for the cleanup
	return err
}

// TestListenEveryScheme runs listen and connect against each other on
// every scheme: each prints what the other's input was, and both end with
// no error when the input of connect, then of listen, ends (streams: the
// FIN of connect ends listen, as the peer's FIN ends connect; datagrams:
// --reply-wait after the input).
func TestListenEveryScheme(t *testing.T) {
	t.Parallel()
	const fromListen, fromConnect = "from listen\n", "from connect\n"
	for _, scheme := range []string{"tcp", "tcp6", "udp", "unix", "unixgram", "unixpacket", "tls", "ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			lr, lw := io.Pipe()
			defer lw.Close()
			l := startListen(t, scheme, lr, nil)
			cr, cw := io.Pipe()
			defer cw.Close()
			opts, out, errOut := connectOpts(l.endpoint(), cr)
			opts.TLS.Insecure = true
			done := make(chan error, 1)
			go func() { done <- runConnect(context.Background(), opts) }()
			cw.Write([]byte(fromConnect))
			l.out.WaitFor(t, fromConnect)
			lw.Write([]byte(fromListen))
			out.WaitFor(t, fromListen)
			cw.Close()
			if scheme == "udp" || scheme == "unixgram" {
				lw.Close()
			}
			if err := testkit.Receive(t, done, "runConnect's return"); err != nil {
				t.Fatalf("runConnect = %v\nstderr:\n%s", err, errOut)
			}
			if err := l.wait(t); err != nil {
				t.Fatalf("runListen = %v\nstderr:\n%s", err, l.errOut)
			}
			if got := l.out.String(); got != fromConnect {
				t.Errorf("listen printed %q, want %q", got, fromConnect)
			}
			if got := out.String(); got != fromListen {
				t.Errorf("connect printed %q, want %q", got, fromListen)
			}
		})
	}
}

// TestListenHalfClose: the input's end is our FIN, after every byte of
// it, and listen goes on printing until the peer's FIN.
func TestListenHalfClose(t *testing.T) {
	t.Parallel()
	l := startListen(t, "tcp", strings.NewReader("answer first"), func(o *ListenOptions) { o.Verbose = true })
	c := testkit.Dial(t, "tcp", l.addr.String()).(*net.TCPConn)
	if got := string(readAll(t, c)); got != "answer first" {
		t.Errorf("peer read %q before EOF, want %q", got, "answer first")
	}
	for _, part := range []string{"still ", "printed"} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatalf("write after listen's FIN: %v", err)
		}
	}
	l.out.WaitFor(t, "still printed")
	select {
	case err := <-l.done:
		l.done <- err
		t.Fatalf("runListen returned %v before the peer's FIN", err)
	default:
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(t); err != nil {
		t.Fatalf("runListen = %v", err)
	}
	testkit.MustContain(t, "-v narration", l.errOut.String(), "listening on tcp://127.0.0.1:", "connection from 127.0.0.1:", "accept", "shutdown")
}

// TestListenNoShutdown: with --no-shutdown the input's end sends no FIN;
// listen ends when the peer closes.
func TestListenNoShutdown(t *testing.T) {
	t.Parallel()
	l := startListen(t, "tcp", strings.NewReader("hi"), func(o *ListenOptions) { o.NoShutdown = true })
	c := testkit.Dial(t, "tcp", l.addr.String())
	buf := make([]byte, 2)
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v; want \"hi\"", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) // a FIN would come at once
	if n, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read after the input = %d, %v; want a timeout (no FIN)", n, err)
	}
	c.Close()
	if err := l.wait(t); err != nil {
		t.Fatalf("runListen = %v", err)
	}
}

// TestListenKeep: -k accepts one connection after another, the input
// goes to the first, and Ctrl-C ends it with no error.
func TestListenKeep(t *testing.T) {
	t.Parallel()
	l := startListen(t, "tcp", strings.NewReader("to the first"), func(o *ListenOptions) { o.Keep = true })
	for i, want := range []string{"to the first", ""} {
		c := testkit.Dial(t, "tcp", l.addr.String())
		if got := string(readAll(t, c)); got != want {
			t.Errorf("connection %d read %q, want %q", i, got, want)
		}
		c.Write([]byte(strings.Repeat("x", i+1) + "\n"))
		c.Close()
	}
	l.out.WaitFor(t, "x\nxx\n")
	l.cancel()
	if err := l.wait(t); err != nil {
		t.Fatalf("runListen -k after cancel = %v, want nil", err)
	}
}

// TestListenDatagramPeer: on udp the first sender is the peer; another
// sender's datagrams are not printed meanwhile.
func TestListenDatagramPeer(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	l := startListen(t, "udp", pr, nil)
	first := testkit.Dial(t, "udp", l.addr.String())
	other := testkit.Dial(t, "udp", l.addr.String())
	first.Write([]byte("one\n"))
	l.out.WaitFor(t, "one\n")
	other.Write([]byte("intruder\n"))
	first.Write([]byte("two\n"))
	l.out.WaitFor(t, "one\ntwo\n")
	pw.Write([]byte("back\n"))
	buf := make([]byte, 64)
	first.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if n, err := first.Read(buf); err != nil || string(buf[:n]) != "back\n" {
		t.Fatalf("first peer read %q, %v; want \"back\\n\"", buf[:n], err)
	}
	pw.Close()
	if err := l.wait(t); err != nil {
		t.Fatalf("runListen = %v", err)
	}
	if got := l.out.String(); got != "one\ntwo\n" {
		t.Errorf("printed %q, want only the first peer's datagrams", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestListenExec runs a program per connection that reads all its input
// before it answers (wc -c): connect's FIN reaches it as its end of input,
// and its answer, then our FIN, reach connect, over plain and layered
// endpoints.
func TestListenExec(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the command line is for /bin/sh")
	}
	input := strings.Repeat("0123456789", 10_000)
	for _, scheme := range []string{"tcp", "unix", "tls", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			l := startListen(t, scheme, strings.NewReader(""), func(o *ListenOptions) {
				o.Sh, o.Keep, o.MaxConns, o.Verbose = `wc -c | tr -d ' '; echo "from $SOCKIT_PEER_ADDR"`, true, 4, true
			})
			for i := range 2 {
				opts, out, errOut := connectOpts(l.endpoint(), strings.NewReader(input))
				opts.TLS.Insecure = true
				if err := runConnectBounded(t, context.Background(), opts); err != nil {
					t.Fatalf("connection %d: runConnect = %v\nstderr:\n%s", i, err, errOut)
				}
				if !strings.HasPrefix(out.String(), "100000\nfrom ") {
					t.Errorf("connection %d: the program answered %q, want the count of all 100000 bytes, then the peer", i, out)
				}
			}
			l.errOut.WaitFor(t, "program exited 0; bytes in 100000")
		})
	}
}

// TestListenExecBounded: with --max-conns 1 a second connection waits
// until the first one's program is done, and then is served.
func TestListenExecBounded(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the command line is for /bin/sh")
	}
	l := startListen(t, "tcp", strings.NewReader(""), func(o *ListenOptions) { o.Sh, o.Keep, o.MaxConns = "cat", true, 1 })
	first := testkit.Dial(t, "tcp", l.addr.String()).(*net.TCPConn)
	first.Write([]byte("one"))
	buf := make([]byte, 3)
	first.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.ReadFull(first, buf); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second := testkit.Dial(t, "tcp", l.addr.String()).(*net.TCPConn)
	second.Write([]byte("two"))
	second.CloseWrite()
	second.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // an answer would come at once
	if n, err := second.Read(buf); !isTimeout(err) {
		t.Fatalf("second connection read %q, %v while the first one's program runs; want nothing (--max-conns 1)", buf[:n], err)
	}
	first.CloseWrite()
	readAll(t, first)
	if got := string(readAll(t, second)); got != "two" {
		t.Errorf("second connection got %q once the first was done, want its echo", got)
	}
}

// TestListenExecErrors: a program that cannot run is refused before
// listening, with the flag that named it.
func TestListenExecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  func(*ListenOptions)
		want string
	}{
		{name: "missing program", set: func(o *ListenOptions) { o.Exec = "sockit-no-such-program --flag" }, want: `--exec "sockit-no-such-program" cannot be run`},
		{name: "both", set: func(o *ListenOptions) { o.Exec, o.Sh = "cat", "cat" }, want: "--exec and --sh exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := &ListenOptions{IO: IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, Endpoint: "tcp://127.0.0.1:0"}
			tt.set(opts)
			opts.Ready = func(net.Addr) { t.Error("listened") }
			testkit.MustContain(t, "error", errorOf(t, runListen(context.Background(), opts), ExitUsage), tt.want)
		})
	}
}
