package client_test

import (
	"bytes"
	"context"
	"errors"
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
