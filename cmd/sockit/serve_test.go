//go:build unix

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestServeSIGTERM serves TCP, UDP and Unix, sends over each with the
// binary, and stops the server with SIGTERM: exit 0 at once, the socket
// file removed.
func TestServeSIGTERM(t *testing.T) {
	needBinary(t)
	t.Parallel()
	path := testkit.SockPath(t, "s.sock")
	p, eps := serve(t, "tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix://"+path)
	if len(eps) != 3 {
		t.Fatalf("banner lists %d endpoints %q, want 3:\n%s", len(eps), eps, p.Stdout)
	}
	for i, prefix := range []string{"tcp://127.0.0.1:", "udp://127.0.0.1:", "unix://" + path} {
		if !strings.HasPrefix(eps[i], prefix) || strings.HasSuffix(eps[i], ":0") {
			t.Errorf("endpoint %d is %q, want %q with the bound port", i, eps[i], prefix)
		}
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("while serving: %v", err)
	}
	for _, ep := range eps {
		code, out, errOut := run(t, "send", ep, "hello", "world")
		if code != 0 || out != "hello world\n" {
			t.Errorf("sockit send %s hello world: exit %d, printed %q, want exit 0 and %q\nstderr:\n%s",
				ep, code, out, "hello world\n", errOut)
		}
	}

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("after SIGTERM exit code = %d, want 0\nstderr:\n%s", code, p.Stderr)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after SIGTERM, Lstat(%s) = %v, want the socket file removed", path, err)
	}
	want := "served 2 connections, 1 datagram; bytes in 36, bytes out 36\n"
	if out := p.Stdout.String(); !strings.HasSuffix(out, want) {
		t.Errorf("stdout does not end with %q:\n%s", want, out)
	}
	// The last send's connection may still be closing on the server's side.
	shutdownOnly := regexp.MustCompile(`^shutting down(: 1 connection\(s\) open, waiting up to 5s \(Ctrl-C again to stop now\))?\n$`)
	if got := p.Stderr.String(); !shutdownOnly.MatchString(got) {
		t.Errorf("stderr = %q, want only the shutdown line", got)
	}
}

// openConn dials the server and makes an echo round trip, which proves the
// server has accepted the connection.
func openConn(t *testing.T, ep string) *net.TCPConn {
	t.Helper()
	c := testkit.Dial(t, "tcp", strings.TrimPrefix(ep, "tcp://"))
	if err := testkit.RoundTrip(c, []byte("ping\n")); err != nil {
		t.Fatalf("echo round trip: %v", err)
	}
	return c.(*net.TCPConn)
}

// TestServeSIGINTGrace interrupts a server while a client's connection is
// open: the server waits, the client finishes (half-close, read the echo,
// close), and the server exits 0 after it.
func TestServeSIGINTGrace(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tcp://127.0.0.1:0", "--grace", "1m", "-v")
	c := openConn(t, eps[0])

	if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, p.Stderr, "shutting down: 1 connection open, waiting up to 1m0s (Ctrl-C again to stop now)")
	p.WaitFor(t, p.Stderr, "close (listener "+strings.TrimPrefix(eps[0], "tcp://")+")")
	if !p.Running() {
		t.Fatalf("exited before its open connection finished:\n%s", p.Stderr)
	}
	// The listener is closed: new connections are refused.
	if c2, err := net.DialTimeout("tcp", strings.TrimPrefix(eps[0], "tcp://"), testkit.Timeout); err == nil {
		c2.Close()
		t.Errorf("still accepts connections after SIGINT")
	}

	if _, err := c.Write([]byte("last words\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "last words\n" {
		t.Errorf("after SIGINT the echo sent %q, %v; want %q then EOF", rest, err, "last words\n")
	}
	c.Close()

	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0\nstderr:\n%s", code, p.Stderr)
	}
	testkit.MustContain(t, "output", p.Stdout.String(), "served 1 connection, 0 datagrams; bytes in 16, bytes out 16")
}

// TestServeSecondSIGINT checks that a second interrupt while a connection
// stays open stops the server at once with exit code 130.
func TestServeSecondSIGINT(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tcp://127.0.0.1:0", "--grace", "1h")
	c := openConn(t, eps[0])

	if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, p.Stderr, "Ctrl-C again to stop now")
	if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 5*time.Second); code != 130 {
		t.Errorf("after a second SIGINT exit code = %d, want 130\nstderr:\n%s", code, p.Stderr)
	}
	testkit.MustContain(t, "output", p.Stderr.String(), "sockit: interrupted")
	// The server closed the connection on its way out.
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("after the hard stop the client read %q, %v; want EOF or a reset", b, err)
	}
}
