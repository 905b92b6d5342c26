package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// ticker writes one byte per OnTimer, asking for the next call step later,
// until it has written n; then it half-closes. It records when each call
// came and whether any came after OnClose.
type ticker struct {
	n    int
	step time.Duration

	mu      sync.Mutex
	due     []time.Time // when each call was asked for
	calls   []time.Time
	closed  bool
	late    bool // OnTimer after OnClose
	replace bool // the first SetTimer is replaced by a sooner one
	done    chan error
}

func (k *ticker) OnOpen(c engine.Conn) {
	if k.replace {
		k.arm(c, time.Now().Add(time.Hour)) // replaced at once: must never fire
	}
	k.arm(c, time.Now().Add(k.step))
}

func (k *ticker) arm(c engine.Conn, at time.Time) {
	k.due = append(k.due, at)
	c.SetTimer(at)
}

func (k *ticker) OnTimer(c engine.Conn) {
	k.mu.Lock()
	k.calls = append(k.calls, time.Now())
	if k.closed {
		k.late = true
	}
	n := len(k.calls)
	k.mu.Unlock()
	c.Write([]byte{byte(n)})
	if n == k.n {
		c.CloseWrite()
		return
	}
	k.arm(c, time.Now().Add(k.step))
}

func (k *ticker) OnData(_ engine.Conn, in []byte) int { return len(in) }

func (k *ticker) OnPeerClose(c engine.Conn) { c.Close() }

func (k *ticker) OnClose(_ engine.Conn, err error) {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.done <- err
}

// SetTimer calls OnTimer once per request, never before the time asked,
// on the connection's own callbacks (so Write works there), and a later
// SetTimer replaces an earlier one.
func TestSetTimer(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp", "127.0.0.1:0", service.Echo{})
		k := &ticker{n: 20, step: 2 * time.Millisecond, replace: true, done: make(chan error, 1)}
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr.String()), k, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Receive(t, k.done, "OnClose of the ticking connection"); err != nil {
			t.Fatalf("OnClose: %v", err)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if len(k.calls) != k.n {
			t.Fatalf("OnTimer called %d times, want %d", len(k.calls), k.n)
		}
		// due[0] is the replaced hour-long timer.
		for i, at := range k.calls {
			if at.Before(k.due[i+1]) {
				t.Errorf("call %d came %v before its time", i, k.due[i+1].Sub(at))
			}
		}
		if k.late {
			t.Error("OnTimer was called after OnClose")
		}
		if st := srv.Stats(); st.BytesIn != uint64(k.n)*2 {
			t.Errorf("server read %d bytes, want %d (each timer's byte, both ways)", st.BytesIn, k.n*2)
		}
	})
}

// A timer still set when the connection closes never fires.
func TestSetTimerCancelledByClose(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp", "127.0.0.1:0", service.Echo{})
		k := &ticker{n: 1000, step: 30 * time.Millisecond, done: make(chan error, 1)}
		closer := &closeAfterOpen{ticker: k}
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr.String()), closer, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		testkit.Receive(t, k.done, "OnClose")
		// A timer that never fires is seen only over a span of time: let any
		// stray one come due (the step is 30 ms; this is 3 of them), then
		// look. The span is what is measured, not a stand-in for an event.
		<-time.After(100 * time.Millisecond)
		k.mu.Lock()
		defer k.mu.Unlock()
		if len(k.calls) != 0 || k.late {
			t.Errorf("OnTimer called %d times after an immediate Abort", len(k.calls))
		}
	})
}

type closeAfterOpen struct{ *ticker }

func (c closeAfterOpen) OnOpen(conn engine.Conn) {
	c.ticker.OnOpen(conn)
	conn.Abort()
}

// waker writes "woken" from OnTimer when another goroutine calls Wake.
type waker struct {
	conns chan engine.Conn
	done  chan error
	got   chan []byte
}

func (w *waker) OnOpen(c engine.Conn) { w.conns <- c }

func (w *waker) OnTimer(c engine.Conn) { c.Write([]byte("woken")); c.CloseWrite() }

func (w *waker) OnData(_ engine.Conn, in []byte) int {
	w.got <- append([]byte(nil), in...)
	return len(in)
}

func (w *waker) OnPeerClose(c engine.Conn) { c.Close() }

func (w *waker) OnClose(_ engine.Conn, err error) { w.done <- err }

// Wake, from any goroutine, gets OnTimer called on the connection's
// callbacks; once the connection is gone it says so.
func TestWake(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp", "127.0.0.1:0", service.Echo{})
		w := &waker{conns: make(chan engine.Conn, 1), done: make(chan error, 1), got: make(chan []byte, 16)}
		if err := srv.Dial(endpoint.MustParse("tcp://"+addr.String()), w, engine.DialOptions{Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		c := testkit.Receive(t, w.conns, "OnOpen")
		if err := c.Wake(); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		if err := testkit.Receive(t, w.done, "OnClose"); err != nil {
			t.Fatalf("OnClose: %v", err)
		}
		var echo []byte
		for len(w.got) > 0 {
			echo = append(echo, <-w.got...)
		}
		if string(echo) != "woken" {
			t.Errorf("echo %q, want %q", echo, "woken")
		}
		if err := c.Wake(); err == nil {
			t.Error("Wake on a closed connection returned nil")
		}
	})
}
