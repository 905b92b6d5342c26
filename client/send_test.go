package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

func TestSendStreamCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nw    network
		count int
		msg   string
	}{
		{name: "tcp4 once", nw: tcp4, count: 0, msg: "one\n"},
		{name: "tcp4 three", nw: tcp4, count: 3, msg: "three times\n"},
		{name: "tcp4 large", nw: tcp4, count: 64, msg: string(bytes.Repeat([]byte("0123456789abcdef"), 4096))},
		{name: "unix", nw: unixStream, count: 5, msg: "unix\n"},
		{name: "unixpacket", nw: unixPacket, count: 4, msg: "message\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" && tt.nw.scheme != "tcp4" {
				t.Skipf("%s half-close is not available on windows", tt.nw.scheme)
			}
			_, ep := serveEcho(t, tt.nw)
			c := dial(t, ep, client.Options{})
			var out bytes.Buffer
			err := client.Send(testkit.Context(t), c, []byte(tt.msg), &out, client.SendOptions{Count: tt.count, Timeout: testkit.Timeout})
			if err != nil {
				t.Fatalf("Send = %v", err)
			}
			want := bytes.Repeat([]byte(tt.msg), max(tt.count, 1))
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("echo is %d bytes, want %d bytes: msg × %d", out.Len(), len(want), max(tt.count, 1))
			}
		})
	}
}

func TestSendDatagramCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nw    network
		count int
	}{
		{name: "udp", nw: udp4, count: 3},
		{name: "udp once", nw: udp4, count: 0},
		{name: "unixgram", nw: unixgram, count: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ep := serveEcho(t, tt.nw)
			c := dial(t, ep, client.Options{})
			msg := []byte("datagram\n")
			var out bytes.Buffer
			err := client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Count: tt.count, Timeout: testkit.Timeout})
			if err != nil {
				t.Fatalf("Send = %v", err)
			}
			n := max(tt.count, 1)
			if want := bytes.Repeat(msg, n); !bytes.Equal(out.Bytes(), want) {
				t.Errorf("replies = %q, want %q", out.Bytes(), want)
			}
			if got := srv.Stats().PacketsIn; got != uint64(n) {
				t.Errorf("server received %d datagrams, want %d", got, n)
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ep   func(t *testing.T) endpoint.Endpoint
	}{
		{name: "tcp server never answers", ep: silentTCP},
		{name: "udp server never answers", ep: silentUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, tt.ep(t), client.Options{})
			const timeout = 100 * time.Millisecond
			start := time.Now()
			var out bytes.Buffer
			err := client.Send(testkit.Context(t), c, []byte("anyone?"), &out, client.SendOptions{Timeout: timeout})
			if err == nil {
				t.Fatalf("Send = nil, want a timeout (reply %q)", out.Bytes())
			}
			if d := time.Since(start); d < timeout {
				t.Errorf("Send gave up after %v, before its %v timeout", d, timeout)
			}
			var se *sockit.Error
			if !errors.As(err, &se) {
				t.Fatalf("Send error %T (%v) is not a *sockit.Error", err, err)
			}
			if k := se.Kind(); k != sockit.KindTimeout {
				t.Errorf("Kind() = %v, want %v (err: %v)", k, sockit.KindTimeout, err)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("errors.Is(%v, os.ErrDeadlineExceeded) = false", err)
			}
			if out.Len() != 0 {
				t.Errorf("Send wrote %q, want nothing", out.Bytes())
			}
		})
	}
}

// TestSendCancel cancels the context while Send waits for a reply that
// never comes. Send must return context.Canceled at once, even when its own
// Timeout would keep it waiting much longer.
func TestSendCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ep      func(t *testing.T) endpoint.Endpoint
		timeout time.Duration
		trigger sockit.Step // cancel when the client reports this step
	}{
		{name: "tcp no timeout", ep: silentTCP, trigger: sockit.StepShutdown},
		{name: "tcp long timeout", ep: silentTCP, timeout: time.Hour, trigger: sockit.StepShutdown},
		{name: "udp default timeout", ep: silentUDP, trigger: sockit.StepSendTo},
		{name: "udp long timeout", ep: silentUDP, timeout: time.Hour, trigger: sockit.StepSendTo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(testkit.Context(t))
			defer cancel()
			// The observer runs on Send's goroutine: cancelling there
			// happens just before Send starts waiting for the reply.
			armed := make(chan struct{})
			obs := sockit.ObserverFunc(func(e sockit.Event) {
				select {
				case <-armed:
					if e.Step == tt.trigger {
						cancel()
					}
				default:
				}
			})
			c := dial(t, tt.ep(t), client.Options{Observer: obs})
			close(armed)
			done := make(chan error, 1)
			go func() {
				done <- client.Send(ctx, c, []byte("wait"), &bytes.Buffer{}, client.SendOptions{Timeout: tt.timeout})
			}()
			// Well under the 2s default datagram timeout: a Send that
			// waits for its own timeout instead of the context fails.
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Send = %v, want context.Canceled", err)
				}
			case <-time.After(time.Second):
				c.Close()
				t.Fatalf("Send did not return within 1s of the context's cancellation; returned %v after Close", <-done)
			}
		})
	}
}

// checker is an io.Writer that checks what it is given against the
// pattern of Endless-like input, keeping nothing.
type checker struct {
	n   int64
	bad int64 // offset of the first byte that is not 'r', or -1
}

func (w *checker) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 'r' && w.bad < 0 {
			w.bad = w.n + int64(i)
		}
	}
	w.n += int64(len(p))
	return len(p), nil
}

// SendFrom streams a long input: everything comes back, and what it
// allocates is bounded by its buffers, not the input's length. (Not
// parallel: it counts the process's allocations.)
func TestSendFromStream(t *testing.T) {
	const size = 64 << 20
	ep := testkit.Serve(t, testkit.Echo) // a blocking echo: its allocations do not grow with the input
	c := dial(t, endpoint.MustParse("tcp://"+ep.String()), client.Options{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := checker{bad: -1}
	err := client.SendFrom(testkit.Context(t), c, io.LimitReader(testkit.Endless{}, size), &out, client.SendOptions{Timeout: testkit.Timeout})
	runtime.ReadMemStats(&after)
	if err != nil || out.n != size || out.bad >= 0 {
		t.Fatalf("SendFrom = %v; %d bytes back (first wrong at %d), want %d", err, out.n, out.bad, size)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("SendFrom of %d MiB allocated %d KiB; want its buffers only, under 4 MiB", size>>20, grew>>10)
	}
}

// An error reading the input ends the message as its end does: the
// half-close, the reply in full; then the error, as an InputError.
func TestSendFromInputError(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	broken := errors.New("disk on fire")
	for _, n := range []int{10, 100 << 10} { // within a small message, and past it
		c := dial(t, ep, client.Options{})
		var out bytes.Buffer
		in := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), n)), &failing{err: broken})
		err := client.SendFrom(testkit.Context(t), c, in, &out, client.SendOptions{Timeout: testkit.Timeout})
		var ie *client.InputError
		if !errors.As(err, &ie) || !errors.Is(err, broken) {
			t.Errorf("%d bytes, then a failing read: SendFrom = %v, want an InputError of it", n, err)
		}
		if n > 100 && out.Len() != n {
			t.Errorf("%d bytes, then a failing read: %d bytes back, want all", n, out.Len())
		}
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// Where each write is a message, the input is one message, bounded; and a
// reader is sent once.
func TestSendFromMessage(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, udp4)
	c := dial(t, ep, client.Options{})
	var out bytes.Buffer
	if err := client.SendFrom(testkit.Context(t), c, bytes.NewReader([]byte("one datagram")), &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil || out.String() != "one datagram" {
		t.Errorf("SendFrom over udp = %v, printed %q", err, out.String())
	}
	err := client.SendFrom(testkit.Context(t), c, io.LimitReader(testkit.Endless{}, client.MaxDatagramInput+1), &out, client.SendOptions{Timeout: testkit.Timeout})
	var ie *client.InputError
	if !errors.As(err, &ie) {
		t.Errorf("SendFrom of an input longer than a datagram = %v, want an InputError", err)
	}
	err = client.SendFrom(testkit.Context(t), c, bytes.NewReader(nil), &out, client.SendOptions{Count: 2})
	if !errors.Is(err, sockit.ErrBadOption) {
		t.Errorf("SendFrom with Count 2 = %v, want a bad option", err)
	}
}
