package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// input is an io.Pipe the test writes Pipe's input into. Both ends are
// closed when the test ends, so that no goroutine stays blocked on them.
func input(t *testing.T) (*io.PipeReader, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() {
		pw.Close()
		pr.Close()
	})
	return pr, pw
}

// startPipe runs Pipe on a goroutine and returns the channel its result
// arrives on.
func startPipe(ctx context.Context, c *client.Conn, in io.Reader, out io.Writer, o client.PipeOptions) <-chan error {
	done := make(chan error, 1)
	go func() { done <- client.Pipe(ctx, c, in, out, o) }()
	return done
}

func TestPipeCopiesAndHalfCloses(t *testing.T) {
	forNetworks(t, []network{tcp4, tcp6, unixStream, unixPacket}, func(t *testing.T, nw network) {
		if runtime.GOOS == "windows" && strings.HasPrefix(nw.scheme, "unix") {
			t.Skipf("%s half-close is not available on windows", nw.scheme)
		}
		_, ep := serveEcho(t, nw)
		rec := &testkit.Recorder{}
		c := dial(t, ep, client.Options{Observer: rec})
		pr, pw := input(t)
		var out testkit.Buffer
		done := startPipe(testkit.Context(t), c, pr, &out, client.PipeOptions{})

		const chunk, chunks = 4 << 10, 64
		in := testkit.Pattern(chunk*chunks, 1)
		go func() { // ends at the last chunk, or when cleanup closes pr
			for i := 0; i < chunks; i++ {
				if _, err := pw.Write(in[i*chunk : (i+1)*chunk]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		// The echo server half-closes only after our FIN, so Pipe
		// returning nil shows that the FIN was sent.
		if err := testkit.Receive(t, done, "Pipe"); err != nil {
			t.Fatalf("Pipe = %v", err)
		}
		if got := out.String(); got != string(in) {
			t.Errorf("Pipe output is %d bytes, want the %d input bytes back unchanged", len(got), len(in))
		}
		if !rec.Has(sockit.StepShutdown) {
			t.Errorf("no shutdown step observed; events: %v", rec.Events())
		}
	})
}

// TestPipeHalfClosePolicy checks on the server's side whether Pipe sends FIN
// at input EOF: it does by default and must not with NoShutdown.
func TestPipeHalfClosePolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		noShutdown bool
		wantFIN    bool
		wait       time.Duration // how long the server waits for a FIN
	}{
		{name: "default sends FIN", noShutdown: false, wantFIN: true, wait: testkit.Timeout},
		// A FIN sent by mistake follows the input's EOF within
		// microseconds; waiting longer only slows the test.
		{name: "NoShutdown keeps open", noShutdown: true, wantFIN: false, wait: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const msg = "ping"
			pr, pw := input(t)
			in := testkit.NotifyEOF(pr)
			sawFIN := make(chan bool, 1)
			ep := tcpServer(t, func(c net.Conn) {
				// Echo msg, wait until Pipe has seen its input end, then
				// look for a FIN; close either way, which ends Pipe.
				defer c.Close()
				c.SetDeadline(time.Now().Add(testkit.Timeout))
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(buf)
				select {
				case <-in.EOF():
				case <-time.After(testkit.Timeout):
					return
				}
				c.SetReadDeadline(time.Now().Add(tt.wait))
				n, err := c.Read(buf)
				sawFIN <- n == 0 && err == io.EOF
			})
			rec := &testkit.Recorder{}
			c := dial(t, ep, client.Options{Observer: rec})
			var out testkit.Buffer
			done := startPipe(testkit.Context(t), c, in, &out, client.PipeOptions{NoShutdown: tt.noShutdown})
			if _, err := pw.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			pw.Close()

			if err := testkit.Receive(t, done, "Pipe"); err != nil {
				t.Fatalf("Pipe = %v", err)
			}
			select {
			case got := <-sawFIN:
				if got != tt.wantFIN {
					t.Errorf("server saw FIN = %v, want %v", got, tt.wantFIN)
				}
			default:
				t.Fatal("the server ended without checking for FIN")
			}
			if got := out.String(); got != msg {
				t.Errorf("Pipe output = %q, want %q", got, msg)
			}
			if got := rec.Has(sockit.StepShutdown); got != tt.wantFIN {
				t.Errorf("shutdown step observed = %v, want %v; events: %v", got, tt.wantFIN, rec.Events())
			}
		})
	}
}

func TestPipeIdleTimeout(t *testing.T) {
	t.Parallel()
	ep := silentTCP(t)
	c := dial(t, ep, client.Options{})
	pr, _ := input(t) // never written: nothing moves either way
	const idle = 100 * time.Millisecond
	start := time.Now()
	err := testkit.Receive(t, startPipe(testkit.Context(t), c, pr, io.Discard, client.PipeOptions{IdleTimeout: idle}), "Pipe")
	if err == nil {
		t.Fatal("Pipe = nil, want an idle timeout")
	}
	if d := time.Since(start); d < idle {
		t.Errorf("Pipe gave up after %v, before its %v idle timeout", d, idle)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("errors.Is(%v, os.ErrDeadlineExceeded) = false", err)
	}
	if k := sockit.KindOf(err); k != sockit.KindTimeout {
		t.Errorf("KindOf(%v) = %v, want %v", err, k, sockit.KindTimeout)
	}
	var se *sockit.Error
	if !errors.As(err, &se) {
		t.Errorf("Pipe error %T is not a *sockit.Error", err)
	}
}

func TestPipeInteractive(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	c := dial(t, ep, client.Options{})
	pr, pw := input(t)
	var out testkit.Buffer
	const prompt = "sockit> "
	done := startPipe(testkit.Context(t), c, pr, &out, client.PipeOptions{Interactive: true, Prompt: prompt})
	if _, err := pw.Write([]byte("hi there\n")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := testkit.Receive(t, done, "Pipe"); err != nil {
		t.Fatalf("Pipe = %v", err)
	}
	// The prompt before the line and the one after it are written by the
	// input side, the reply (which clears the prompt line and shows the
	// prompt again) by the output side, so the order of the second prompt
	// and the reply varies.
	got := out.String()
	if !strings.HasPrefix(got, prompt) {
		t.Errorf("output %q does not start with the prompt %q", got, prompt)
	}
	if want := "\r\x1b[Khi there\n" + prompt; !strings.Contains(got, want) {
		t.Errorf("output %q does not hold the reply %q", got, want)
	}
	if n := strings.Count(got, prompt); n != 3 {
		t.Errorf("output %q shows the prompt %d times, want 3", got, n)
	}
}

func TestPipeDatagram(t *testing.T) {
	forNetworks(t, []network{udp4, unixgram}, func(t *testing.T, nw network) {
		srv, ep := serveEcho(t, nw)
		c := dial(t, ep, client.Options{})
		pr, pw := input(t)
		var out testkit.Buffer
		// Long enough for the echoes on a machine loaded by -race and
		// parallel tests; the test checks Pipe waits no less.
		const wait = time.Second
		start := time.Now()
		done := startPipe(testkit.Context(t), c, pr, &out, client.PipeOptions{ReplyWait: wait})
		// One write holding four lines, the last without a newline:
		// Pipe must still send one datagram per line.
		const lines = "one\ntwo\nthree\nfour"
		if _, err := pw.Write([]byte(lines)); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if err := testkit.Receive(t, done, "Pipe"); err != nil {
			t.Fatalf("Pipe = %v", err)
		}
		if d := time.Since(start); d < wait {
			t.Errorf("Pipe returned %v after it started, before ReplyWait %v", d, wait)
		}
		if got := out.String(); got != lines {
			t.Errorf("replies = %q, want %q", got, lines)
		}
		if got := srv.Stats().PacketsIn; got != 4 {
			t.Errorf("server received %d datagrams, want 4 (one per line)", got)
		}
	})
}

// TestPipeCancel cancels the context as soon as Pipe has sent its first
// bytes to a server that never answers.
func TestPipeCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ep   func(t *testing.T) endpoint.Endpoint
		o    client.PipeOptions
	}{
		{name: "tcp", ep: silentTCP},
		{name: "tcp with idle timeout", ep: silentTCP, o: client.PipeOptions{IdleTimeout: time.Hour}},
		{name: "tcp interactive", ep: silentTCP, o: client.PipeOptions{Interactive: true, Prompt: "> "}},
		{name: "udp", ep: silentUDP, o: client.PipeOptions{ReplyWait: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(testkit.Context(t))
			defer cancel()
			obs := sockit.ObserverFunc(func(e sockit.Event) {
				if e.Step == sockit.StepWrite || e.Step == sockit.StepSendTo {
					cancel()
				}
			})
			c := dial(t, tt.ep(t), client.Options{Observer: obs})
			pr, pw := input(t)
			done := startPipe(ctx, c, pr, io.Discard, tt.o)
			if _, err := pw.Write([]byte("x\n")); err != nil {
				t.Fatal(err)
			}
			if err := testkit.Receive(t, done, "Pipe"); !errors.Is(err, context.Canceled) {
				t.Errorf("Pipe = %v, want context.Canceled", err)
			}
		})
	}
}

// TestPipeInputError checks that a failing input ends Pipe with that error
// even when the peer stays silent.
func TestPipeInputError(t *testing.T) {
	t.Parallel()
	ep := silentTCP(t)
	c := dial(t, ep, client.Options{})
	pr, pw := input(t)
	done := startPipe(testkit.Context(t), c, pr, io.Discard, client.PipeOptions{})
	errInput := errors.New("input failed")
	pw.CloseWithError(errInput)
	if err := testkit.Receive(t, done, "Pipe"); !errors.Is(err, errInput) {
		t.Errorf("Pipe = %v, want %v", err, errInput)
	}
}

// TestPipeInputErrorEndsInput checks that a failing input ends the input
// as EOF does: the peer's answer to what was sent still arrives, then Pipe
// reports the input's error.
func TestPipeInputErrorEndsInput(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	c := dial(t, ep, client.Options{})
	pr, pw := input(t)
	var out testkit.Buffer
	done := startPipe(testkit.Context(t), c, pr, &out, client.PipeOptions{ReplyWait: testkit.Timeout})
	errInput := errors.New("input failed")
	pw.Write([]byte("sent before the failure"))
	pw.CloseWithError(errInput)
	if err := testkit.Receive(t, done, "Pipe"); !errors.Is(err, errInput) {
		t.Errorf("Pipe = %v, want %v", err, errInput)
	}
	if got := out.String(); got != "sent before the failure" {
		t.Errorf("Pipe printed %q, want the echo of what was sent", got)
	}
}

// TestPipeReset has the server reset the connection while Pipe is still
// writing. The reset wakes Pipe's blocked write and its blocked read
// together, and either may take the error (the other then sees broken pipe
// or EOF), so the test repeats to cover both orders.
func TestPipeReset(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("SO_LINGER 0 reset timing differs on windows")
	}
	const rounds = 20
	resets := make(chan error, rounds)
	ep := tcpServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		_, err := io.ReadFull(c, make([]byte, 64<<10))
		if err == nil {
			err = c.(*net.TCPConn).SetLinger(0) // per socket(7): close sends RST
		}
		resets <- errors.Join(err, c.Close())
	})
	for i := 0; i < rounds; i++ {
		c := dial(t, ep, client.Options{})
		err := testkit.Receive(t, startPipe(testkit.Context(t), c, io.LimitReader(testkit.Endless{}, 1<<30), io.Discard, client.PipeOptions{}), "Pipe")
		if rerr := <-resets; rerr != nil {
			t.Fatalf("server: %v", rerr)
		}
		if k := sockit.KindOf(err); k != sockit.KindReset {
			t.Fatalf("round %d: Pipe = %v (kind %v), want an error of kind %v", i, err, k, sockit.KindReset)
		}
		var se *sockit.Error
		if !errors.As(err, &se) {
			t.Errorf("round %d: Pipe error %T is not a *sockit.Error", i, err)
		}
		c.Close()
	}
}
