package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// deadlineSpy is a net.Conn that tells when a deadline in the past was set
// on it: the mark of Send's cancellation.
type deadlineSpy struct {
	net.Conn
	once sync.Once
	past chan struct{}
}

func (d *deadlineSpy) SetDeadline(t time.Time) error {
	err := d.Conn.SetDeadline(t)
	if !t.IsZero() && t.Before(time.Now()) {
		d.once.Do(func() { close(d.past) })
	}
	return err
}

func (d *deadlineSpy) CloseWrite() error {
	return d.Conn.(interface{ CloseWrite() error }).CloseWrite()
}

// TestSendCancelBeforeReadDeadline fixes the order that is otherwise a
// race: the context's cancellation has set its deadline in the past before
// Send sets the read deadline of its Timeout. Send must still end at once
// with context.Canceled, not wait for the Timeout.
func TestSendCancelBeforeReadDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		network string
		trigger sockit.Step // cancel when the client reports this step
	}{
		{name: "tcp", network: "tcp4", trigger: sockit.StepShutdown},
		{name: "udp", network: "udp4", trigger: sockit.StepWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nc := peer(t, tt.network, nil)
			spy := &deadlineSpy{Conn: nc, past: make(chan struct{})}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			obs := sockit.ObserverFunc(func(e sockit.Event) {
				if e.Step != tt.trigger {
					return
				}
				cancel()
				select { // let the cancellation land before Send goes on
				case <-spy.past:
				case <-time.After(5 * time.Second):
				}
			})
			c, _ := newConn(spy, endpoint.Endpoint{Scheme: tt.network, Addr: nc.RemoteAddr().String()}, Options{Observer: obs}, "", nil)
			done := make(chan error, 1)
			go func() { done <- Send(ctx, c, []byte("wait"), &bytes.Buffer{}, SendOptions{Timeout: time.Hour}) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Send = %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				nc.Close()
				t.Fatalf("Send still waits 5s after the cancellation; after Close it returned %v", <-done)
			}
		})
	}
}

// peer returns a connection to a loopback peer. A udp4 peer never answers;
// a tcp4 peer hands the accepted connection to serve (if set, on its own
// goroutine) and otherwise holds it open in silence.
func peer(t *testing.T, network string, serve func(net.Conn)) net.Conn {
	t.Helper()
	if network == "udp4" {
		return testkit.Dial(t, network, testkit.QuietUDP(t))
	}
	if serve == nil {
		serve = testkit.Hold
	}
	return testkit.Dial(t, network, testkit.Serve(t, serve).String())
}
