package testkit_test

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// Only tests import testkit: no file of the module that is not a _test.go
// file names it.
func TestOnlyTestsImport(t *testing.T) {
	t.Parallel()
	const self = "github.com/sockit/sockit/internal/testkit"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not at %s: %v", root, err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s; only _test.go files may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Errorf("checked %d files under %s, want the whole module", checked, root)
	}
}

// A Refused address refuses at once, every time, for the whole test; and
// nobody can listen on it meanwhile.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{name: "ipv4", addr: func(t *testing.T) string { return testkit.Refused(t) }},
		{name: "ipv6", addr: func(t *testing.T) string { return testkit.Refused6(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := tc.addr(t)
			for i := range 20 {
				c, err := net.DialTimeout("tcp", addr, testkit.Timeout)
				if err == nil {
					c.Close()
					t.Fatalf("dial %d to %s connected, want refused", i, addr)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("dial %d to %s: %v, want connection refused", i, addr, err)
				}
			}
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				t.Errorf("Listen on the refused address %s succeeded, want it held", addr)
			}
		})
	}
}

// Serve's handlers run per connection, and the listener, the connections
// and the handlers all end with the test (the leak check sees to the last).
// A RefusedUDP address answers a datagram with ICMP port unreachable,
// which a connected UDP socket reports as ECONNREFUSED; and nobody can
// bind it meanwhile.
func TestRefusedUDP(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("ICMP errors on connected UDP sockets: checked on Linux")
	}
	addr := testkit.RefusedUDP(t)
	c := testkit.Dial(t, "udp", addr)
	buf := make([]byte, 16)
	var err error
	for i := 0; i < 100 && err == nil; i++ { // bounded: the error comes with the first answer
		if _, err = c.Write([]byte("x")); err == nil {
			c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err = c.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = nil
			}
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a datagram to %s: %v, want ECONNREFUSED", addr, err)
	}
	if pc, err := net.ListenPacket("udp", addr); err == nil {
		pc.Close()
		t.Errorf("bind %s succeeded while it is held", addr)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	addr := testkit.Serve(t, testkit.Echo)
	c := testkit.Dial(t, "tcp", addr.String())
	if err := testkit.RoundTrip(c, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if got, err := testkit.ReadAll(c, 10); err != nil || len(got) != 0 {
		t.Errorf("after the half-close: %q, %v; want EOF", got, err)
	}
	held := testkit.Serve(t, testkit.Hold)
	testkit.Dial(t, "tcp", held.String())
	waiting := testkit.Serve(t, func(c net.Conn) { <-t.Context().Done() })
	testkit.Dial(t, "tcp", waiting.String())
}

// Pipe hands out both ends of one connection.
func TestPipe(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	if a.RemoteAddr().String() != b.LocalAddr().String() {
		t.Errorf("the ends are %v → %v and %v → %v", a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr())
	}
	go a.Write([]byte("x"))
	if got, err := io.ReadAll(io.LimitReader(b, 1)); err != nil || string(got) != "x" {
		t.Errorf("read %q, %v", got, err)
	}
}

// WaitFor sees text written later; WaitUntil also returns when stop
// closes.
func TestBuffer(t *testing.T) {
	t.Parallel()
	var b testkit.Buffer
	go func() {
		for _, s := range []string{"one ", "two ", "three"} {
			b.Write([]byte(s))
		}
	}()
	if got := b.WaitFor(t, "three"); got != "one two three" {
		t.Errorf("WaitFor = %q", got)
	}
	stop := make(chan struct{})
	close(stop)
	if got, ok := b.WaitUntil(t, "four", stop); ok || got != "one two three" {
		t.Errorf("WaitUntil after stop = %q, %v; want the text and false", got, ok)
	}
}

// Eventually polls until the condition holds; Receive takes a value.
func TestEventuallyAndReceive(t *testing.T) {
	t.Parallel()
	start := time.Now()
	testkit.Eventually(t, "20ms to pass", func() bool { return time.Since(start) > 20*time.Millisecond })
	ch := make(chan int, 1)
	ch <- 7
	if got := testkit.Receive(t, ch, "the number"); got != 7 {
		t.Errorf("Receive = %d", got)
	}
}

// SockPath fits a sockaddr_un and is fresh each time.
func TestSockPath(t *testing.T) {
	t.Parallel()
	a, b := testkit.SockPath(t, "s.sock"), testkit.SockPath(t, "s.sock")
	if a == b || len(a) > 100 {
		t.Errorf("SockPath = %q then %q; want two paths of at most 100 bytes", a, b)
	}
	testkit.NeedUnix(t, "unix")
	p := testkit.StaleSocket(t, "stale.sock")
	if _, err := net.Dial("unix", p); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial a stale socket: %v, want connection refused", err)
	}
}

// Pattern is the same for a seed and differs between seeds.
func TestPattern(t *testing.T) {
	t.Parallel()
	a, b, c := testkit.Pattern(100, 1), testkit.Pattern(100, 1), testkit.Pattern(100, 2)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("Pattern(100, 1) = %x, then %x; Pattern(100, 2) = %x: want the first two equal, the third not", a, b, c)
	}
}
