package client_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
)

// Options.Linger > 0 is rounded up to whole seconds for SO_LINGER, so that
// a sub-second linger still closes gracefully (FIN after the data) instead
// of becoming SO_LINGER 0, a reset; only a negative Linger resets.
func TestDialLinger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		linger    time.Duration
		wantReset bool
	}{
		{name: "unset", linger: 0},
		{name: "sub-second", linger: 200 * time.Millisecond},
		{name: "one and a half seconds", linger: 1500 * time.Millisecond},
		{name: "negative", linger: -1, wantReset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type result struct {
				got []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				sc, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer sc.Close()
				sc.SetDeadline(time.Now().Add(testTimeout))
				got, err := io.ReadAll(sc)
				done <- result{got: got, err: err}
			}()
			ep := endpoint.Endpoint{Scheme: "tcp4", Addr: ln.Addr().String()}
			c, err := client.Dial(testContext(t), ep, client.Options{Linger: tt.linger})
			if err != nil {
				t.Fatalf("Dial with Linger %v: %v", tt.linger, err)
			}
			const msg = "the whole message"
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			r := receive(t, done, "the server's read")
			switch {
			case tt.wantReset && !errors.Is(r.err, syscall.ECONNRESET):
				t.Errorf("Linger %v: server read %q, %v; want ECONNRESET", tt.linger, r.got, r.err)
			case !tt.wantReset && (r.err != nil || string(r.got) != msg):
				t.Errorf("Linger %v: server read %q, %v; want %q, then EOF (an RST means SO_LINGER 0)", tt.linger, r.got, r.err, msg)
			}
		})
	}
}

// receive returns the next value on ch, failing the test after testTimeout.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, testTimeout)
		var zero T
		return zero
	}
}
