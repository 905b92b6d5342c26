package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestSend checks the message forms of send against an echo server over a
// stream and a datagram endpoint.
func TestSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		message   []string
		stdin     string
		noNewline bool
		hex       bool
		count     int
		want      string
	}{
		{name: "words joined", message: []string{"hello", "there"}, want: "hello there\n"},
		{name: "no newline", message: []string{"hi"}, noNewline: true, want: "hi"},
		{name: "stdin as is", message: []string{"-"}, stdin: "from stdin\x00\xff no newline", want: "from stdin\x00\xff no newline"},
		{name: "stdin ignores -n", message: []string{"-"}, stdin: "line\n", noNewline: true, want: "line\n"},
		{name: "hex dump", message: []string{"hi"}, hex: true, want: hex.Dump([]byte("hi\n"))},
		{name: "count 3", message: []string{"ping"}, count: 3, want: "ping\nping\nping\n"},
		{name: "count 3 no newline", message: []string{"ab"}, count: 3, noNewline: true, want: "ababab"},
	}
	for _, scheme := range []string{"tcp", "udp"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, &ServeOptions{Endpoints: []string{scheme + "://127.0.0.1:0"}})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					opts, out, errOut := sendOpts(s.endpoint(0), tt.message...)
					opts.IO.In = strings.NewReader(tt.stdin)
					opts.NoNewline, opts.Hex = tt.noNewline, tt.hex
					if tt.count > 0 {
						opts.Count = tt.count
					}
					if err := runSend(context.Background(), opts); err != nil {
						t.Fatalf("runSend = %v\nstderr:\n%s", err, errOut)
					}
					if got := out.String(); got != tt.want {
						t.Errorf("printed %q, want %q", got, tt.want)
					}
				})
			}
		})
	}
}

// TestSendCountDatagrams checks that --count 3 over datagrams sends three
// datagrams and prints three replies.
func TestSendCountDatagrams(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"udp", "unixgram"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := serveKind(t, scheme)
			opts, out, _ := sendOpts(s.endpoint(0), "ping")
			opts.Count = 3
			if err := runSend(context.Background(), opts); err != nil {
				t.Fatalf("runSend --count 3 = %v", err)
			}
			if got, want := out.String(), "ping\nping\nping\n"; got != want {
				t.Errorf("printed %q, want %q", got, want)
			}
			s.stopWith(t, "served 0 connections, 3 datagrams; bytes in 15, bytes out 15")
		})
	}
}

// TestSendVerbose checks the client's narration: connect, write, the
// half-close, the reply and the server's FIN.
func TestSendVerbose(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out, errOut := sendOpts(s.endpoint(0), "hello")
	opts.Verbose = true
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" {
		t.Errorf("printed %q, want %q (narration must not go to stdout)", out, "hello\n")
	}
	log := errOut.String()
	rest := log
	for _, step := range []string{
		"socket(AF_INET, SOCK_STREAM) = fd",
		"connect " + s.addrs[0].String(),
		"connected 127.0.0.1:",
		"write 6 bytes",
		"shutdown(SHUT_WR)",
		"read 6 bytes",
		"read 0: peer sent FIN",
		"close",
	} {
		i := strings.Index(rest, step)
		if i < 0 {
			t.Fatalf("client narration lacks %q in order:\n%s", step, log)
		}
		rest = rest[i+len(step):]
	}
}

// TestSendWithoutVerboseIsQuiet checks that a clean send writes nothing to
// stderr.
func TestSendWithoutVerboseIsQuiet(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, _, errOut := sendOpts(s.endpoint(0), "hello")
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
}

// TestSendCancel checks that cancelling the context (the first Ctrl-C)
// ends a send that waits for a reply, with exit code 130.
func TestSendCancel(t *testing.T) {
	t.Parallel()
	gotEOF := make(chan struct{})
	ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
		io.Copy(io.Discard, c)
		close(gotEOF)
		<-stop
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts, _, _ := sendOpts(ep, "hello")
	opts.Timeout = 0 // wait forever
	done := make(chan error, 1)
	go func() { done <- runSend(ctx, opts) }()
	select {
	case <-gotEOF:
	case err := <-done:
		t.Fatalf("runSend returned %v before the server read the message", err)
	case <-time.After(testkit.Timeout):
		t.Fatal("the server did not get the message and FIN")
	}
	cancel()
	select {
	case err := <-done:
		errorOf(t, err, ExitInterrupted)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("runSend did not return after its context was cancelled")
	}
}
