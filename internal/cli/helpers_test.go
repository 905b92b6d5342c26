package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/leaktest"
)

// TestMain fails the package if a test leaves goroutines or descriptors
// behind: every server a test starts must be gone when it ends.
func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// waitLimit bounds every wait for something that should happen at once on
// loopback; it is generous because -race and parallel tests slow things.
const waitLimit = 10 * time.Second

// syncBuffer is a buffer that server goroutines may write while a test
// reads it or waits for text to appear in it.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at the next write; nil if nobody waits
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer contains want and returns its text.
func (b *syncBuffer) waitFor(t *testing.T, want string) string {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for range 100000 { // one turn per write
		b.mu.Lock()
		s := b.buf.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		if strings.Contains(s, want) {
			return s
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("after %s, no %q in:\n%s", waitLimit, want, s)
		}
	}
	t.Fatalf("no %q after 100000 writes", want)
	return ""
}

// server is one runServe running in the background.
type server struct {
	opts   *ServeOptions
	addrs  []net.Addr
	out    *syncBuffer
	errOut *syncBuffer
	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

// startServe runs runServe with opts on buffers until the test ends or stop
// is called, and returns once every endpoint listens.
func startServe(t *testing.T, opts *ServeOptions) *server {
	t.Helper()
	s := &server{opts: opts, out: new(syncBuffer), errOut: new(syncBuffer), done: make(chan error, 1)}
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
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case s.addrs = <-ready:
	case err := <-s.done:
		s.exited, s.err = true, err
		t.Fatalf("runServe(%v) returned before listening: %v\nstderr:\n%s", opts.Endpoints, err, s.errOut)
	case <-timer.C:
		t.Fatalf("runServe(%v) not listening after %s", opts.Endpoints, waitLimit)
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
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case s.err = <-s.done:
		s.exited = true
	case <-timer.C:
		t.Fatalf("runServe did not return %s after its context was cancelled", waitLimit)
	}
	return s.err
}

// endpoint returns the i'th bound address as an endpoint a client dials.
func (s *server) endpoint(i int) string {
	scheme, _, _ := strings.Cut(s.opts.Endpoints[i], "://")
	return scheme + "://" + s.addrs[i].String()
}

// sockPath returns a fresh Unix socket path that fits in a sockaddr_un.
func sockPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if len(p) < 100 {
		return p
	}
	dir, err := os.MkdirTemp("/tmp", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// unixpacketOK reports whether this system has SOCK_SEQPACKET Unix sockets
// (Linux and the BSDs do, macOS does not).
var unixpacketOK = sync.OnceValue(func() bool {
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unixpacket", filepath.Join(dir, "p.sock"))
	if err != nil {
		return false
	}
	ln.Close()
	return true
})

// everyKind returns one endpoint of each kind this system serves, and the
// summary line runServe prints after one 6-byte echo on each.
func everyKind(t *testing.T) (eps []string, summary string) {
	t.Helper()
	eps = []string{"tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix://" + sockPath(t, "a.sock"), "unixgram://" + sockPath(t, "b.sock")}
	conns, dgrams := 2, 2
	if unixpacketOK() {
		eps = append(eps, "unixpacket://"+sockPath(t, "c.sock"))
		conns++
	}
	n := 6 * len(eps)
	return eps, fmt.Sprintf("served %s, %s; bytes in %d, bytes out %d\n", plural(uint64(conns), "connection"), plural(uint64(dgrams), "datagram"), n, n)
}

// hasIPv6 reports whether [::1] can be listened on.
func hasIPv6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// rawServer accepts one TCP connection on 127.0.0.1:0 and runs handle on it.
// stop is closed when the test ends, and the connection is closed then if
// handle has not returned. It returns the endpoint to dial.
func rawServer(t *testing.T, handle func(c *net.TCPConn, stop <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var (
		mu   sync.Mutex
		conn net.Conn
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		handle(c.(*net.TCPConn), stop)
	}()
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		mu.Lock()
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "tcp://" + ln.Addr().String()
}

// freePort returns a loopback TCP endpoint that nothing listens on: one
// that was listened on and closed.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
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
		Timeout:        waitLimit,
		ConnectTimeout: waitLimit,
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

// mustContain fails unless s contains each of wants.
func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// readAll reads r to EOF within waitLimit.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v (after %q)", err, b)
	}
	return b
}
