package engine_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// serverConn waits for the server side of the next connection, which h's
// OnOpen sends on conns.
func serverConn(t *testing.T, conns <-chan engine.Conn) engine.Conn {
	t.Helper()
	return testkit.Receive(t, conns, "server connection")
}

// Close from another goroutine while the reader is blocked in Read: input
// that arrives after Close returned is discarded, never handed to OnData.
// Only std is checked: on epoll, Close is a request the loop applies when
// it next runs its tasks.
func TestCloseDiscardsLaterInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t, engine.BackendStd, engine.Config{})
	conns := make(chan engine.Conn, 1)
	late := make(chan []byte, 16)
	h := watchClose(testkit.Funcs{
		Open: func(c engine.Conn) { conns <- c },
		Data: func(_ engine.Conn, in []byte) int {
			late <- append([]byte(nil), in...)
			return len(in)
		},
	})
	c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
	sc := serverConn(t, conns)
	if err := sc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	readEOF(t, c) // Close flushed nothing and sent FIN
	if _, err := c.Write([]byte("after close")); err != nil {
		t.Fatal(err)
	}
	if err := closeWrite(c); err != nil {
		t.Fatal(err)
	}
	if err := h.next(t); err != nil {
		t.Errorf("OnClose: %v, want nil", err)
	}
	select {
	case in := <-late:
		t.Errorf("OnData(%q) after Close returned; want the input discarded", in)
	default:
	}
}

// Close bounds the flush and the wait for the peer's FIN by Linger, even
// when a stage's own deadline (IdleTimeout for reading, WriteTimeout for
// writing) is much later: the reader and writer must not replace Close's
// deadline with theirs. When Linger runs out, both backends reset and
// OnClose gets a timeout error.
func TestCloseLingerBoundsStageDeadlines(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const linger = 300 * time.Millisecond
		tests := []struct {
			name string
			cfg  engine.Config
			// stuck makes the server's output more than the kernel
			// holds for a client that reads nothing.
			stuck bool
		}{
			{name: "idle deadline", cfg: engine.Config{Linger: linger, IdleTimeout: time.Hour}},
			{name: "write deadline", cfg: engine.Config{Linger: linger, WriteTimeout: time.Hour, SendBuf: 64 << 10}, stuck: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, b, tt.cfg)
				conns := make(chan engine.Conn, 1)
				h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
					if tt.stuck {
						c.Write(pattern(4<<20, 7))
					}
					conns <- c
				}})
				c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
				if tt.stuck {
					if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
						t.Fatal(err)
					}
				} else if err := testkit.RoundTrip(c, []byte("now the reader waits in Read")); err != nil {
					t.Fatal(err)
				}
				sc := serverConn(t, conns)
				start := time.Now()
				sc.Close() // from the test's goroutine, not a callback
				err := h.next(t)
				if sockit.KindOf(err) != sockit.KindTimeout {
					t.Errorf("OnClose after Linger ran out: %v (kind %v), want a %v error", err, sockit.KindOf(err), sockit.KindTimeout)
				}
				if took := time.Since(start); took > testkit.Timeout/2 {
					t.Errorf("Close took %v to give up; Linger is %v", took, linger)
				}
			})
		}
	})
}

// When Linger runs out, the connection is reset (SO_LINGER 0), as Abort
// does, on both backends: with output unflushed, the peer reads
// ECONNRESET instead of a truncated stream and EOF; with the peer's FIN
// missing, the close is a reset too. OnClose gets a timeout error.
func TestLingerExpiryResets(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const linger = 300 * time.Millisecond
		out := pattern(4<<20, 8)
		tests := []struct {
			name string
			// unflushed writes more than the kernel holds for a client
			// that reads nothing until the server gave up; otherwise the
			// client reads the server's FIN and never sends its own.
			unflushed bool
		}{
			{name: "output unflushed", unflushed: true},
			{name: "peer FIN missing", unflushed: false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var log testkit.Recorder
				srv := newServer(t, b, engine.Config{Linger: linger, SendBuf: 64 << 10, Observer: &log})
				h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
					if tt.unflushed {
						c.Write(out)
					}
					c.Close()
				}})
				c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
				if tt.unflushed {
					if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
						t.Fatal(err)
					}
				} else {
					readEOF(t, c)
				}
				err := h.next(t)
				if sockit.KindOf(err) != sockit.KindTimeout {
					t.Errorf("OnClose after Linger ran out: %v (kind %v), want a %v error", err, sockit.KindOf(err), sockit.KindTimeout)
				}
				if tt.unflushed {
					got, err := testkit.ReadAll(c, len(out))
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("client read %d of %d bytes, then %v; want ECONNRESET", len(got), len(out), err)
					}
				}
				reset := slices.ContainsFunc(log.Events(), func(e sockit.Event) bool {
					return e.Step == sockit.StepClose && strings.Contains(e.Detail, "SO_LINGER 0")
				})
				if !reset {
					t.Errorf("no close with SO_LINGER 0 narrated; want the connection reset\n%s", narrate(log.Events()))
				}
			})
		}
	})
}
