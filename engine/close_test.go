package engine_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/enginetest"
	"github.com/sockit/sockit/service"
)

// serverConn waits for the server side of the next connection, which h's
// OnOpen sends on conns.
func serverConn(t *testing.T, conns <-chan engine.Conn) engine.Conn {
	t.Helper()
	return receive(t, conns, "server connection")
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
	h := watchClose(funcs{
		open: func(c engine.Conn) { conns <- c },
		data: func(_ engine.Conn, in []byte) int {
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
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
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
				h := watchClose(funcs{open: func(c engine.Conn) {
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
				} else if err := roundTrip(c, []byte("now the reader waits in Read")); err != nil {
					t.Fatal(err)
				}
				sc := serverConn(t, conns)
				start := time.Now()
				sc.Close() // from the test's goroutine, not a callback
				err := h.next(t)
				if sockit.KindOf(err) != sockit.KindTimeout {
					t.Errorf("OnClose after Linger ran out: %v (kind %v), want a %v error", err, sockit.KindOf(err), sockit.KindTimeout)
				}
				if took := time.Since(start); took > ioTimeout/2 {
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
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
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
				var log eventLog
				srv := newServer(t, b, engine.Config{Linger: linger, SendBuf: 64 << 10, Observer: &log})
				h := watchClose(funcs{open: func(c engine.Conn) {
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
					got, err := readAll(c, len(out))
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("client read %d of %d bytes, then %v; want ECONNRESET", len(got), len(out), err)
					}
				}
				reset := slices.ContainsFunc(log.all(), func(e sockit.Event) bool {
					return e.Step == sockit.StepClose && strings.Contains(e.Detail, "SO_LINGER 0")
				})
				if !reset {
					t.Errorf("no close with SO_LINGER 0 narrated; want the connection reset\n%s", narrate(log.all()))
				}
			})
		}
	})
}

// drainLog is a Drainer that records the order of OnOpen and OnDrain.
type drainLog struct {
	funcs
	mu    sync.Mutex
	calls []string
	drain chan struct{} // one value per OnDrain
	errs  chan error
}

func (d *drainLog) record(call string) {
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
}

func (d *drainLog) OnOpen(c engine.Conn) {
	d.record("open")
	d.funcs.OnOpen(c)
}

func (d *drainLog) OnDrain(engine.Conn) {
	d.record("drain")
	select {
	case d.drain <- struct{}{}:
	default:
	}
}

func (d *drainLog) OnClose(_ engine.Conn, err error) { d.errs <- err }

func (d *drainLog) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// A Drainer's OnDrain comes once after OnOpen, as the Drainer doc says,
// and never once CloseWrite or Close was asked for.
func TestDrainerCalls(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		msg := []byte("the last words\n")
		tests := []struct {
			name      string
			open      func(c engine.Conn)
			wantDrain bool
		}{
			{name: "after open", open: nil, wantDrain: true},
			{name: "not after CloseWrite", open: func(c engine.Conn) { c.Write(msg); c.CloseWrite() }},
			{name: "not after Close", open: func(c engine.Conn) { c.Write(msg); c.Close() }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, b, engine.Config{})
				d := &drainLog{funcs: funcs{open: tt.open}, drain: make(chan struct{}, 1), errs: make(chan error, 1)}
				c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", d))
				if tt.wantDrain {
					receive(t, d.drain, "OnDrain after OnOpen")
				} else if got, err := readAll(c, len(msg)); err != nil || string(got) != string(msg) {
					t.Fatalf("read %q, %v; want %q, then EOF", got, err, msg)
				}
				if err := closeWrite(c); err != nil {
					t.Fatal(err)
				}
				if err := receive(t, d.errs, "OnClose"); err != nil {
					t.Errorf("OnClose: %v, want nil", err)
				}
				calls := d.log()
				if tt.wantDrain && !slices.Equal(calls[:min(2, len(calls))], []string{"open", "drain"}) {
					t.Errorf("callbacks %v; want OnOpen, then OnDrain", calls)
				}
				if !tt.wantDrain && slices.Contains(calls, "drain") {
					t.Errorf("callbacks %v; want no OnDrain once output was closed", calls)
				}
			})
		}
	})
}

// Stats.Accepted counts accepted connections, not those Dial made, on both
// backends.
func TestStatsAcceptedNotDialed(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
		d := newDialClient([]byte("hello"))
		if err := srv.Dial(ep("tcp4", addr.String()), d, engine.DialOptions{Timeout: ioTimeout}); err != nil {
			t.Fatal(err)
		}
		if err := receive(t, d.done, "OnClose of the dialed connection"); err != nil {
			t.Fatalf("dialed connection: %v", err)
		}
		waitIdle(t, srv)
		if got := srv.Stats().Accepted; got != 1 {
			t.Errorf("Stats.Accepted = %d after one accepted and one dialed connection, want 1", got)
		}
	})
}

// Shutdown returns nil, not ctx.Err(), when no connection had to be
// closed, even with a context that has already ended.
func TestShutdownNothingOpen(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i := range 20 { // the wrong answer came from a random select
			srv := newServer(t, b, engine.Config{Loops: 1})
			listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("run %d: Shutdown with nothing open = %v, want nil", i, err)
			}
		}
	})
}

// A Listen on a Unix path racing Shutdown leaves no socket file behind,
// whichever wins: Listen either succeeds before Shutdown (which then
// removes the file) or fails with ErrServerClosed and removes it itself.
func TestListenRacingShutdownRemovesPath(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for i := range 50 {
			srv := newServer(t, b, engine.Config{Loops: 1})
			path := sockPath(t, "race.sock")
			listened := make(chan error, 1)
			go func() {
				_, err := srv.Listen(ep("unix", path), service.Echo{})
				listened <- err
			}()
			if err := srv.Close(); err != nil {
				t.Fatalf("run %d: Close: %v", i, err)
			}
			if err := receive(t, listened, "Listen's return"); err != nil && !errors.Is(err, engine.ErrServerClosed) {
				t.Fatalf("run %d: Listen racing Close: %v, want nil or ErrServerClosed", i, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("run %d: after Listen and Close, Lstat(%s) = %v; want the socket file gone", i, filepath.Base(path), err)
			}
		}
	})
}

// closeOnListen is an Observer that, at the first listen(2) on network,
// closes the server and waits for Close to return: Shutdown then runs
// entirely while Listen is between bind(2) and handing its socket to the
// backend.
type closeOnListen struct {
	network string
	srv     chan *engine.Server // the server, once made
	once    sync.Once
	closed  chan error // Close's result
}

func (o *closeOnListen) Observe(e sockit.Event) {
	if e.Step != sockit.StepListen || e.Net != o.network {
		return
	}
	o.once.Do(func() {
		srv := <-o.srv
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		o.closed <- <-done
	})
}

// A Listen that Shutdown overtakes after bind(2) fails with ErrServerClosed
// and removes the socket file it made.
func TestListenOvertakenByShutdownRemovesPath(t *testing.T) {
	enginetest.ForBackends(t, func(t *testing.T, b engine.Backend) {
		obs := &closeOnListen{network: "unix", srv: make(chan *engine.Server, 1), closed: make(chan error, 1)}
		srv := newServer(t, b, engine.Config{Loops: 1, Observer: obs})
		obs.srv <- srv
		path := sockPath(t, "overtaken.sock")
		_, err := srv.Listen(ep("unix", path), service.Echo{})
		if cerr := receive(t, obs.closed, "Close's return"); cerr != nil {
			t.Fatalf("Close: %v", cerr)
		}
		if !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("Listen overtaken by Close: %v, want ErrServerClosed", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Lstat(%s) = %v; want the socket file removed", filepath.Base(path), err)
		}
	})
}
