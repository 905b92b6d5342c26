package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestMain fails the package if a test leaves goroutines or descriptors
// behind: every server a test starts must be gone when it ends.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// server is one runServe running in the background.
type server struct {
	opts   *ServeOptions
	addrs  []net.Addr
	out    *testkit.Buffer
	errOut *testkit.Buffer
	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

// startServe runs runServe with opts on buffers until the test ends or stop
// is called, and returns once every endpoint listens.
func startServe(t *testing.T, opts *ServeOptions) *server {
	t.Helper()
	s := &server{opts: opts, out: new(testkit.Buffer), errOut: new(testkit.Buffer), done: make(chan error, 1)}
	opts.IO = IOStreams{In: strings.NewReader(""), Out: s.out, ErrOut: s.errOut}
	if opts.Service == "" {
		opts.Service = "echo"
	}
	if opts.Grace == 0 {
		opts.Grace = 5 * time.Second
	}
	ready := make(chan []net.Addr, 1)
	opts.Ready = func(a []net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- runServe(ctx, opts) }()
	t.Cleanup(func() { s.stop(t) })
	timer := time.NewTimer(testkit.Timeout)
	defer timer.Stop()
	select {
	case s.addrs = <-ready:
	case err := <-s.done:
		s.exited, s.err = true, err
		t.Fatalf("runServe(%v) returned before listening: %v\nstderr:\n%s", opts.Endpoints, err, s.errOut)
	case <-timer.C:
		t.Fatalf("runServe(%v) not listening after %s", opts.Endpoints, testkit.Timeout)
	}
	return s
}

// stop cancels the server's context, as the first Ctrl-C does, and returns
// what runServe returned.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	if s.exited {
		return s.err
	}
	s.cancel()
	timer := time.NewTimer(testkit.Timeout)
	defer timer.Stop()
	select {
	case s.err = <-s.done:
		s.exited = true
	case <-timer.C:
		t.Fatalf("runServe did not return %s after its context was cancelled", testkit.Timeout)
	}
	return s.err
}

// echoEach sends hello to each endpoint the server listens on and checks
// the echo, then stops the server and checks that its output holds
// summary.
func (s *server) echoEach(t *testing.T, summary string) {
	t.Helper()
	for i := range s.addrs {
		if got := send(t, s.endpoint(i), "hello"); got != "hello\n" {
			t.Errorf("send %s hello printed %q, want %q", s.endpoint(i), got, "hello\n")
		}
	}
	s.stopWith(t, summary)
}

// stopWith stops the server, which must return nil, and checks that its
// output holds want (its summary).
func (s *server) stopWith(t *testing.T, want string) {
	t.Helper()
	if err := s.stop(t); err != nil {
		t.Fatalf("runServe after cancel = %v, want nil", err)
	}
	testkit.MustContain(t, "output", s.out.String(), want)
}

// serveKind serves echo on a fresh endpoint of scheme (see
// testkit.Loopback, which skips where the machine lacks the kind).
func serveKind(t *testing.T, scheme string) *server {
	t.Helper()
	return startServe(t, &ServeOptions{Endpoints: []string{scheme + "://" + testkit.Loopback(t, scheme)}})
}

// endpoint returns the i'th bound address as an endpoint a client dials.
func (s *server) endpoint(i int) string {
	scheme, _, _ := strings.Cut(s.opts.Endpoints[i], "://")
	return scheme + "://" + s.addrs[i].String()
}

// everyKind returns one endpoint of each kind this system serves, and the
// summary line runServe prints after one 6-byte echo on each.
func everyKind(t *testing.T) (eps []string, summary string) {
	t.Helper()
	eps = []string{"tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix://" + testkit.SockPath(t, "a.sock"), "unixgram://" + testkit.SockPath(t, "b.sock")}
	conns, dgrams := 2, 2
	if testkit.HasUnix("unixpacket") {
		eps = append(eps, "unixpacket://"+testkit.SockPath(t, "c.sock"))
		conns++
	}
	n := 6 * len(eps)
	return eps, fmt.Sprintf("served %s, %s; bytes in %d, bytes out %d\n", plural(uint64(conns), "connection"), plural(uint64(dgrams), "datagram"), n, n)
}

// rawServer accepts TCP connections on 127.0.0.1:0 and runs handle on
// each (see testkit.Serve); stop is closed when the test ends, and the
// connection is closed when handle returns or the test ends. It returns
// the endpoint to dial.
func rawServer(t *testing.T, handle func(c *net.TCPConn, stop <-chan struct{})) string {
	t.Helper()
	return "tcp://" + testkit.Serve(t, func(c net.Conn) {
		defer c.Close()
		handle(c.(*net.TCPConn), t.Context().Done())
	}).String()
}

// refused returns a loopback TCP endpoint that refuses every connection
// while the test runs (testkit.Refused).
func refused(t *testing.T) string {
	t.Helper()
	return "tcp://" + testkit.Refused(t)
}

// sendOpts returns SendOptions for ep with buffers and the defaults of the
// command's flags.
func sendOpts(ep string, msg ...string) (*SendOptions, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := new(bytes.Buffer), new(bytes.Buffer)
	return &SendOptions{
		IO:             IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		Endpoint:       ep,
		Message:        msg,
		Count:          1,
		Timeout:        testkit.Timeout,
		ConnectTimeout: testkit.Timeout,
	}, out, errOut
}

// send runs runSend and fails the test on an error.
func send(t *testing.T, ep string, msg ...string) string {
	t.Helper()
	opts, out, errOut := sendOpts(ep, msg...)
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend(%s, %q) = %v\nstderr:\n%s", ep, msg, err, errOut)
	}
	return out.String()
}

// errorOf checks that err is not nil and maps to exit code want, and
// returns the line Main would print for it.
func errorOf(t *testing.T, err error, want int) string {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error with exit code %d", want)
	}
	if got := ExitCode(err); got != want {
		t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
	}
	return "sockit: " + describe(err)
}

// readAll reads r to EOF within testkit.Timeout.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v (after %q)", err, b)
	}
	return b
}
