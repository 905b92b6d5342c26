package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// connectOpts returns ConnectOptions for ep reading in, with the defaults of
// the command's flags.
func connectOpts(ep string, in io.Reader) (*ConnectOptions, *testkit.Buffer, *testkit.Buffer) {
	out, errOut := new(testkit.Buffer), new(testkit.Buffer)
	return &ConnectOptions{
		IO:             IOStreams{In: in, Out: out, ErrOut: errOut},
		Endpoint:       ep,
		ReplyWait:      time.Second,
		ConnectTimeout: testkit.Timeout,
	}, out, errOut
}

// runConnectBounded runs runConnect and fails the test if it does not
// return within testkit.Timeout.
func runConnectBounded(t *testing.T, ctx context.Context, opts *ConnectOptions) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- runConnect(ctx, opts) }()
	select {
	case err := <-done:
		return err
	case <-time.After(testkit.Timeout):
		t.Fatalf("runConnect(%s) did not return within %s", opts.Endpoint, testkit.Timeout)
		return nil
	}
}

// TestConnectStream pipes a few lines through an echo server: at the end of
// input connect sends FIN, the echo ends, and connect returns nil.
func TestConnectStream(t *testing.T) {
	t.Parallel()
	const input = "one\ntwo\nthree, no newline"
	for _, scheme := range []string{"tcp", "unix", "unixpacket"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := serveKind(t, scheme) // skips where the kind is missing
			opts, out, errOut := connectOpts(s.endpoint(0), strings.NewReader(input))
			if err := runConnectBounded(t, context.Background(), opts); err != nil {
				t.Fatalf("runConnect = %v\nstderr:\n%s", err, errOut)
			}
			if got := out.String(); got != input {
				t.Errorf("printed %q, want the input back %q", got, input)
			}
			if errOut.String() != "" {
				t.Errorf("stderr = %q, want nothing when not on a terminal", errOut)
			}
		})
	}
}

// TestConnectLarge pipes more than the socket buffers hold, so that input
// and output overlap.
func TestConnectLarge(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	input := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	opts, out, _ := connectOpts(s.endpoint(0), bytes.NewReader(input))
	if err := runConnectBounded(t, context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(input) {
		t.Errorf("echo of %d bytes came back as %d bytes, first difference at %d",
			len(input), len(got), firstDiff([]byte(got), input))
	}
}

// TestConnectHalfClose checks the half-close policy against a server that
// reads the input, watches for a FIN, then answers and closes: by default
// connect sends FIN at the end of input; with NoShutdown it does not, and
// still returns when the server closes.
func TestConnectHalfClose(t *testing.T) {
	t.Parallel()
	const input = "12345678"
	tests := []struct {
		name       string
		noShutdown bool
		wantFIN    bool
	}{
		{name: "default sends FIN", noShutdown: false, wantFIN: true},
		{name: "no-shutdown keeps it open", noShutdown: true, wantFIN: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := testkit.NotifyEOF(strings.NewReader(input))
			type result struct {
				got []byte
				fin bool
				err error
			}
			res := make(chan result, 1)
			ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
				var r result
				defer func() { res <- r }()
				r.got = make([]byte, len(input))
				c.SetReadDeadline(time.Now().Add(testkit.Timeout))
				if _, r.err = io.ReadFull(c, r.got); r.err != nil {
					return
				}
				// The input is all read; a FIN comes right after it or
				// never. Waiting a short while is the only way to see
				// that it does not come.
				select {
				case <-in.EOF():
				case <-stop:
					return
				}
				c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				n, err := c.Read(make([]byte, 1))
				switch {
				case n == 0 && errors.Is(err, io.EOF):
					r.fin = true
				case errors.Is(err, os.ErrDeadlineExceeded):
				default:
					r.err = err
					return
				}
				c.Write([]byte("bye\n"))
				c.Close() // FIN: connect must return now either way
			})
			opts, out, _ := connectOpts(ep, in)
			opts.NoShutdown = tt.noShutdown
			if err := runConnectBounded(t, context.Background(), opts); err != nil {
				t.Fatalf("runConnect = %v, want nil after the server closed", err)
			}
			r := <-res
			if r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
			if string(r.got) != input {
				t.Errorf("server read %q, want %q", r.got, input)
			}
			if r.fin != tt.wantFIN {
				t.Errorf("server saw FIN after the input: %v, want %v", r.fin, tt.wantFIN)
			}
			if got := out.String(); got != "bye\n" {
				t.Errorf("printed %q, want the server's %q", got, "bye\n")
			}
		})
	}
}

// TestConnectIdleTimeout checks that --idle-timeout ends a connection on
// which nothing moves, with exit code 3.
func TestConnectIdleTimeout(t *testing.T) {
	t.Parallel()
	ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) { <-stop })
	pr, pw := io.Pipe()
	defer pw.Close() // ends connect's reader goroutine
	opts, _, _ := connectOpts(ep, pr)
	opts.IdleTimeout = 150 * time.Millisecond
	start := time.Now()
	err := runConnectBounded(t, context.Background(), opts)
	msg := errorOf(t, err, ExitConnect)
	testkit.MustContain(t, "error", msg, "timed out")
	if d := time.Since(start); d < opts.IdleTimeout {
		t.Errorf("returned after %s, before the idle timeout of %s", d, opts.IdleTimeout)
	}
}

// TestConnectInteractive checks line mode on a terminal: the greeting on
// stderr, the "> " prompt and the echoed line on stdout.
func TestConnectInteractive(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	pr, pw := io.Pipe()
	defer pw.Close()
	opts, out, errOut := connectOpts(s.endpoint(0), pr)
	opts.IO.InTTY = true
	done := make(chan error, 1)
	go func() { done <- runConnect(context.Background(), opts) }()
	out.WaitFor(t, "> ")
	if _, err := io.WriteString(pw, "hello\n"); err != nil {
		t.Fatal(err)
	}
	got := out.WaitFor(t, "hello\n")
	if p, h := strings.Index(got, "> "), strings.Index(got, "hello\n"); p > h {
		t.Errorf("the echo came before the first prompt: %q", got)
	}
	if !strings.HasSuffix(out.WaitFor(t, "hello\n> "), "> ") {
		t.Errorf("no prompt after the echoed line: %q", out)
	}
	pw.Close() // Ctrl-D
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runConnect after Ctrl-D = %v, want nil", err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("runConnect did not return after Ctrl-D")
	}
	testkit.MustContain(t, "stderr", errOut.String(), "connected to "+s.endpoint(0), "Ctrl-D sends FIN", "Ctrl-C quits")
}

// TestConnectDatagrams checks that on udp and unixgram each input line is
// one datagram and every reply is printed.
func TestConnectDatagrams(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"udp", "unixgram"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := serveKind(t, scheme)
			const input = "a\nbb\nccc\n"
			opts, out, _ := connectOpts(s.endpoint(0), strings.NewReader(input))
			if err := runConnectBounded(t, context.Background(), opts); err != nil {
				t.Fatalf("runConnect = %v", err)
			}
			if got := out.String(); got != input {
				t.Errorf("printed %q, want %q", got, input)
			}
			s.stopWith(t, "served 0 connections, 3 datagrams; bytes in 9, bytes out 9")
		})
	}
}

// TestConnectCancel checks that cancelling the context (Ctrl-C) ends
// connect with exit code 130.
func TestConnectCancel(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts, out, _ := connectOpts(s.endpoint(0), pr)
	done := make(chan error, 1)
	go func() { done <- runConnect(ctx, opts) }()
	if _, err := io.WriteString(pw, "x\n"); err != nil {
		t.Fatal(err)
	}
	out.WaitFor(t, "x\n")
	cancel()
	select {
	case err := <-done:
		errorOf(t, err, ExitInterrupted)
	case <-time.After(testkit.Timeout):
		t.Fatal("runConnect did not return after its context was cancelled")
	}
}
