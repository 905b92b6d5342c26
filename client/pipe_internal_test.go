package client

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// writeFirst is a net.Conn on which a failed write happens before the
// blocked read returns, and the write returns only after that read: the
// order in which a reset reaches Pipe as ECONNRESET on its write and as a
// bare EOF on its read.
type writeFirst struct {
	net.Conn
	wOnce, rOnce sync.Once
	wFailed      chan struct{}
	rDone        chan struct{}
}

func (w *writeFirst) Read(p []byte) (int, error) {
	select {
	case <-w.wFailed:
	case <-time.After(5 * time.Second):
	}
	n, err := w.Conn.Read(p)
	w.rOnce.Do(func() { close(w.rDone) })
	return n, err
}

func (w *writeFirst) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if err != nil {
		w.wOnce.Do(func() { close(w.wFailed) })
		select {
		case <-w.rDone:
		case <-time.After(5 * time.Second):
		}
	}
	return n, err
}

func TestPipeResetTakenByWrite(t *testing.T) {
	t.Parallel()
	nc := peer(t, "tcp4", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.ReadFull(c, make([]byte, 64<<10))
		c.(*net.TCPConn).SetLinger(0) // per socket(7): close sends RST
		c.Close()
	})
	wf := &writeFirst{Conn: nc, wFailed: make(chan struct{}), rDone: make(chan struct{})}
	c, _ := newConn(wf, endpoint.Endpoint{Scheme: "tcp4", Addr: nc.RemoteAddr().String()}, Options{}, "", nil)
	done := make(chan error, 1)
	go func() {
		done <- Pipe(t.Context(), c, io.LimitReader(testkit.Endless{}, 1<<30), io.Discard, PipeOptions{})
	}()
	select {
	case err := <-done:
		if k := sockit.KindOf(err); k != sockit.KindReset {
			t.Errorf("Pipe = %v (kind %v), want an error of kind %v", err, k, sockit.KindReset)
		}
	case <-time.After(10 * time.Second):
		nc.Close()
		t.Fatalf("Pipe did not return within 10s; after Close it returned %v", <-done)
	}
}
