package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// Contract 1: half-close is first class.
func TestContractHalfClose(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		t.Run("echo", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			h := watchClose(service.Echo{})
			c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
			msg := pattern(256<<10, 1) // fits the socket buffers: write it all, then read
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if err := closeWrite(c); err != nil {
				t.Fatal(err)
			}
			got, err := testkit.ReadAll(c, len(msg))
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("after half-close: read %d bytes, %v; want the %d bytes sent, then EOF", len(got), err, len(msg))
			}
			c.Close()
			if err := h.next(t); err != nil {
				t.Errorf("OnClose after an orderly four-way close: %v, want nil", err)
			}
		})
		t.Run("write-after-peer-FIN", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			h := testkit.Funcs{PeerClose: func(c engine.Conn) {
				c.Write([]byte(" and goodbye"))
				c.CloseWrite()
			}}
			c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if err := closeWrite(c); err != nil {
				t.Fatal(err)
			}
			got, err := testkit.ReadAll(c, 100)
			if want := "hello and goodbye"; err != nil || string(got) != want {
				t.Fatalf("read %q, %v; want %q, then EOF", got, err, want)
			}
		})
	})
}

// Contract 2: no byte lost. Close flushes and does not reset.
func TestContractCloseFlushes(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const size = 4 << 20 // = the default MaxPending
		msg := pattern(size, 2)
		t.Run("close-after-write", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
				if _, err := c.Write(msg); err != nil {
					t.Errorf("Write %d bytes: %v", len(msg), err)
				}
				c.Close()
			}})
			c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
			got, err := testkit.ReadAll(c, size)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("read %d bytes, %v; want the %d bytes written before Close, then EOF", len(got), err, size)
			}
			c.Close()
			if err := h.next(t); err != nil {
				t.Errorf("OnClose: %v, want nil", err)
			}
		})
		t.Run("close-with-unread-input", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			// At the first input the handler writes 4 MiB and closes, with
			// most of the client's 1 MiB not yet read: closing must drain
			// it rather than let close(2) answer it with RST.
			h := watchClose(testkit.Funcs{Data: func(c engine.Conn, in []byte) int {
				c.Write(msg)
				c.Close()
				return len(in)
			}})
			c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(pattern(1<<20, 3))
				wrote <- err
			}()
			got, err := testkit.ReadAll(c, size)
			if err != nil || !bytes.Equal(got, msg) {
				c.Close()
				<-wrote
				t.Fatalf("read %d bytes, %v; want the %d bytes written before Close, then EOF (an RST means unread input was not drained)", len(got), err, size)
			}
			if err := testkit.Receive(t, wrote, "end of the client's write"); err != nil {
				t.Fatalf("client write: %v (the server reset the connection)", err)
			}
			c.Close()
			if err := h.next(t); err != nil {
				t.Errorf("OnClose: %v, want nil", err)
			}
		})
	})
}

// Contract 2: Abort resets on purpose.
func TestContractAbort(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		h := watchClose(testkit.Funcs{Data: func(c engine.Conn, in []byte) int {
			c.Write(in) // dropped: Abort discards pending output
			c.Abort()
			return len(in)
		}})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		if _, err := c.Write([]byte("reset me")); err != nil {
			t.Fatal(err)
		}
		got, err := testkit.ReadAll(c, 100)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after Abort: %q, %v; want ECONNRESET", got, err)
		}
		if err := h.next(t); err != nil {
			t.Errorf("OnClose after the handler's Abort: %v, want nil", err)
		}
	})
}

// A peer's reset ends the connection with an error that says so.
func TestContractPeerReset(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		h := watchClose(service.Echo{})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		if err := testkit.RoundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close() // RST
		err := h.next(t)
		if sockit.KindOf(err) != sockit.KindReset {
			t.Errorf("OnClose after the peer's RST: %v (kind %v), want a %v error", err, sockit.KindOf(err), sockit.KindReset)
		}
	})
}

// pendingProbe is service.Echo that records the largest Pending it sees
// when input arrives and after it has queued the echo.
type pendingProbe struct {
	service.Echo
	mu                      sync.Mutex
	maxAtInput, maxAfterOut int
}

func (p *pendingProbe) OnData(c engine.Conn, in []byte) int {
	before := c.Pending()
	n := p.Echo.OnData(c, in)
	after := c.Pending()
	p.mu.Lock()
	p.maxAtInput = max(p.maxAtInput, before)
	p.maxAfterOut = max(p.maxAfterOut, after)
	p.mu.Unlock()
	return n
}

func (p *pendingProbe) peaks() (atInput, afterOut int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxAtInput, p.maxAfterOut
}

// Contract 3: bounded memory. A client that writes 64 MiB and reads
// nothing for a while stalls the echo's reading, not its memory.
func TestContractBackpressure(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		cfg := engine.Config{
			HighWatermark: 256 << 10, LowWatermark: 128 << 10, MaxPending: 1 << 20,
			ReadBuffer: 64 << 10, SendBuf: 64 << 10, RecvBuf: 64 << 10, // small kernel buffers fill soon
		}
		srv := newServer(t, b, cfg)
		probe := &pendingProbe{}
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", probe))
		tc := c.(*net.TCPConn)
		if err := errors.Join(tc.SetReadBuffer(64<<10), tc.SetWriteBuffer(64<<10)); err != nil {
			t.Fatal(err)
		}

		const total = 64 << 20
		type result struct {
			sum []byte
			err error
		}
		sent := make(chan result, 1)
		go func() {
			h := sha256.New()
			var err error
			for n := 0; n < total && err == nil; n += 64 << 10 {
				p := pattern(64<<10, n>>16)
				_, err = c.Write(p)
				h.Write(p)
			}
			if err == nil {
				err = closeWrite(c)
			}
			sent <- result{sum: h.Sum(nil), err: err}
		}()

		// Read nothing until the server's output has piled up past the
		// high watermark; meanwhile its memory must stay bounded.
		// BytesOut is loaded after BytesIn, so in - out never overstates
		// what the server holds.
		var held uint64
		testkit.Eventually(t, "pending output above the high watermark", func() bool {
			st := srv.Stats()
			held = max(held, st.BytesIn-min(st.BytesOut, st.BytesIn))
			_, after := probe.peaks()
			return after > cfg.HighWatermark
		})
		if limit := uint64(cfg.HighWatermark + 2*cfg.ReadBuffer); held > limit {
			t.Errorf("the server held %d bytes read and not yet written; want at most %d", held, limit)
		}

		h := sha256.New()
		buf := make([]byte, bufSize)
		got := 0
		var rerr error
		for got <= total {
			n, err := c.Read(buf)
			h.Write(buf[:n])
			got += n
			if err != nil {
				rerr = err
				break
			}
		}
		if rerr != io.EOF {
			c.Close()
		}
		w := testkit.Receive(t, sent, "end of the client's writes")
		if w.err != nil || rerr != io.EOF || got != total || !bytes.Equal(h.Sum(nil), w.sum) {
			t.Fatalf("write: %v; read %d of %d bytes, then %v; SHA-256 equal: %v", w.err, got, total, rerr, bytes.Equal(h.Sum(nil), w.sum))
		}
		atInput, afterOut := probe.peaks()
		if atInput > cfg.HighWatermark {
			t.Errorf("the server read input with %d bytes pending, above HighWatermark %d: reading did not pause", atInput, cfg.HighWatermark)
		}
		if afterOut > cfg.MaxPending {
			t.Errorf("Pending reached %d, above MaxPending %d", afterOut, cfg.MaxPending)
		}
	})
}

// Contract 3: Write refuses to queue beyond MaxPending.
func TestContractOutputFull(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		cfg := engine.Config{HighWatermark: 256 << 10, MaxPending: 1 << 20, SendBuf: 64 << 10}
		srv := newServer(t, b, cfg)
		type result struct {
			oversize, full, closed error
			pendingAfterOversize   int
			pendingAtFull          int
			written                int
			sum                    []byte
		}
		done := make(chan result, 1)
		h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
			var r result
			_, r.oversize = c.Write(make([]byte, cfg.MaxPending+1))
			r.pendingAfterOversize = c.Pending()
			// The client reads nothing: pending output grows once the
			// kernel's buffers are full. 4096 writes of 64 KiB are far
			// more than MaxPending and those buffers.
			sum := sha256.New()
			for i := 0; i < 4096 && r.full == nil; i++ {
				p := pattern(64<<10, i)
				var n int
				n, r.full = c.Write(p)
				sum.Write(p[:n])
				r.written += n
			}
			r.pendingAtFull = c.Pending()
			r.sum = sum.Sum(nil)
			c.Close()
			_, r.closed = c.Write([]byte("x"))
			done <- r
		}})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
		r := testkit.Receive(t, done, "result from OnOpen")
		if !errors.Is(r.oversize, engine.ErrOutputFull) || r.pendingAfterOversize != 0 {
			t.Errorf("Write of MaxPending+1 bytes: %v, then Pending %d; want ErrOutputFull and nothing queued", r.oversize, r.pendingAfterOversize)
		}
		if !errors.Is(r.full, engine.ErrOutputFull) {
			t.Errorf("Writes to a client that reads nothing ended with %v after %d bytes, want ErrOutputFull", r.full, r.written)
		}
		if r.pendingAtFull > cfg.MaxPending {
			t.Errorf("Pending = %d when full, above MaxPending %d", r.pendingAtFull, cfg.MaxPending)
		}
		if !errors.Is(r.closed, engine.ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", r.closed)
		}
		// Everything Write accepted arrives: no byte lost.
		got, err := testkit.ReadAll(c, r.written)
		if sum := sha256.Sum256(got); err != nil || len(got) != r.written || !bytes.Equal(sum[:], r.sum) {
			t.Fatalf("read %d bytes, %v; want the %d bytes Write accepted, then EOF", len(got), err, r.written)
		}
		c.Close()
		if err := h.next(t); err != nil {
			t.Errorf("OnClose: %v, want nil", err)
		}
	})
}

// Write and AsyncWrite fail with ErrClosed once output is shut.
func TestContractWriteAfterCloseWrite(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		conns := make(chan engine.Conn, 1)
		errs := make(chan error, 1)
		h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
			c.CloseWrite()
			_, err := c.Write([]byte("late"))
			errs <- err
			conns <- c
		}})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		if err := testkit.Receive(t, errs, "Write result"); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("Write after CloseWrite: %v, want ErrClosed", err)
		}
		readEOF(t, c)
		sc := testkit.Receive(t, conns, "server conn")
		if err := sc.AsyncWrite([]byte("late")); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("AsyncWrite after CloseWrite: %v, want ErrClosed", err)
		}
		c.Close()
		if err := h.next(t); err != nil {
			t.Errorf("OnClose: %v, want nil", err)
		}
	})
}

// Contract 7: the idle timeout closes a connection without input.
func TestContractIdleTimeout(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const idle = 200 * time.Millisecond
		srv := newServer(t, b, engine.Config{IdleTimeout: idle})
		h := watchClose(service.Echo{})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		last := time.Now() // the server's last input comes after this
		if err := testkit.RoundTrip(c, []byte("still here")); err != nil {
			t.Fatal(err)
		}
		readEOF(t, c)
		if waited := time.Since(last); waited < idle {
			t.Errorf("closed after %v of silence, before IdleTimeout %v", waited, idle)
		}
		c.Close()
		if err := h.next(t); !errors.Is(err, engine.ErrIdle) {
			t.Errorf("OnClose: %v, want ErrIdle", err)
		}
	})
}

// Contract 5: graceful shutdown.
func TestContractShutdown(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		t.Run("waits", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			h := watchClose(service.Echo{})
			addr := listen(t, srv, "tcp4", "127.0.0.1:0", h)
			c := dial(t, addr)
			if err := testkit.RoundTrip(c, []byte("before")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- srv.Shutdown(ctx) }()

			// Listen refuses once Shutdown has begun. Until then it fails
			// too, binding an address of TEST-NET-1 (RFC 5737), which is
			// on no machine.
			testkit.Eventually(t, "Shutdown to begin", func() bool {
				_, err := srv.Listen(ep("tcp4", "192.0.2.1:0"), h)
				return errors.Is(err, engine.ErrServerClosed)
			})
			select {
			case err := <-done:
				t.Fatalf("Shutdown returned %v while a connection was open", err)
			default:
			}
			if err := testkit.RoundTrip(c, []byte("during shutdown")); err != nil {
				t.Fatalf("an open connection during Shutdown: %v", err)
			}
			if err := closeWrite(c); err != nil {
				t.Fatal(err)
			}
			readEOF(t, c)
			c.Close()
			if err := testkit.Receive(t, done, "Shutdown's return"); err != nil {
				t.Errorf("Shutdown after the last connection finished: %v, want nil", err)
			}
			if d, err := net.DialTimeout("tcp4", addr.String(), testkit.Timeout); !errors.Is(err, syscall.ECONNREFUSED) {
				if err == nil {
					d.Close()
				}
				t.Errorf("dial after Shutdown: %v, want ECONNREFUSED", err)
			}
			if err := h.next(t); err != nil {
				t.Errorf("OnClose: %v, want nil", err)
			}
		})
		t.Run("deadline", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			h := watchClose(service.Echo{})
			c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
			if err := testkit.RoundTrip(c, []byte("then silence")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown with a connection still open at the deadline: %v, want context.DeadlineExceeded", err)
			}
			if err := h.next(t); !errors.Is(err, engine.ErrShutdown) {
				t.Errorf("OnClose: %v, want ErrShutdown", err)
			}
			readEOF(t, c)
			if st := srv.Stats(); st.Active != 0 {
				t.Errorf("after Shutdown: Active = %d, want 0", st.Active)
			}
		})
		t.Run("closed", func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, b, engine.Config{})
			listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if _, err := srv.Listen(ep("tcp4", "127.0.0.1:0"), service.Echo{}); !errors.Is(err, engine.ErrServerClosed) {
				t.Errorf("Listen after Shutdown: %v, want ErrServerClosed", err)
			}
			if _, err := srv.ListenPacket(ep("udp4", "127.0.0.1:0"), service.Echo{}); !errors.Is(err, engine.ErrServerClosed) {
				t.Errorf("ListenPacket after Shutdown: %v, want ErrServerClosed", err)
			}
			if err := srv.Shutdown(context.Background()); !errors.Is(err, engine.ErrServerClosed) {
				t.Errorf("second Shutdown: %v, want ErrServerClosed", err)
			}
		})
	})
}

// Unix socket files: never delete what is not ours to delete.
func TestContractUnixPath(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		t.Run("not-a-socket", func(t *testing.T) {
			t.Parallel()
			path := testkit.SockPath(t, "s")
			if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, unlink := range []bool{false, true} {
				srv := newServer(t, b, engine.Config{Unlink: unlink})
				_, err := srv.Listen(ep("unix", path), service.Echo{})
				if !errors.Is(err, sockit.ErrNotSocket) {
					t.Errorf("Unlink %v: Listen on a regular file: %v, want ErrNotSocket", unlink, err)
				}
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "precious" {
				t.Errorf("the regular file is now %q, %v", got, err)
			}
		})
		t.Run("stale-without-unlink", func(t *testing.T) {
			t.Parallel()
			path := testkit.StaleSocket(t, "s")
			srv := newServer(t, b, engine.Config{})
			_, err := srv.Listen(ep("unix", path), service.Echo{})
			if sockit.KindOf(err) != sockit.KindAddrInUse {
				t.Errorf("Listen on a stale socket without Unlink: %v (kind %v), want %v", err, sockit.KindOf(err), sockit.KindAddrInUse)
			}
		})
		t.Run("stale-with-unlink", func(t *testing.T) {
			t.Parallel()
			path := testkit.StaleSocket(t, "s")
			srv := newServer(t, b, engine.Config{Unlink: true})
			addr := listen(t, srv, "unix", path, service.Echo{})
			if err := testkit.RoundTrip(dial(t, addr), []byte("replaced")); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("live-never-replaced", func(t *testing.T) {
			t.Parallel()
			for _, network := range []string{"unix", "unixpacket"} {
				path := testkit.SockPath(t, "s")
				live := newServer(t, b, engine.Config{})
				addr := listen(t, live, "unix", path, service.Echo{})
				before, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				srv := newServer(t, b, engine.Config{Unlink: true})
				_, err = srv.Listen(ep(network, path), service.Echo{})
				switch {
				case err == nil:
					t.Errorf("Listen %s with Unlink replaced the socket of a live unix server", network)
				case !errors.Is(err, sockit.ErrLiveSocket) || !errors.Is(err, syscall.EADDRINUSE):
					t.Errorf("Listen %s with Unlink on a live server's socket: %v, want sockit.ErrLiveSocket and EADDRINUSE", network, err)
				}
				if after, err := os.Lstat(path); err != nil || !os.SameFile(before, after) {
					t.Errorf("Listen %s with Unlink: the live server's socket file is gone or replaced (%v)", network, err)
				}
				if err := testkit.RoundTrip(dial(t, addr), []byte("still mine")); err != nil {
					t.Errorf("the live server after Listen %s with Unlink: %v", network, err)
				}
			}
		})
		t.Run("shutdown-removes-own-file", func(t *testing.T) {
			t.Parallel()
			path := testkit.SockPath(t, "s")
			srv := newServer(t, b, engine.Config{})
			listen(t, srv, "unix", path, service.Echo{})
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("socket file after Listen: %v", err)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file after Shutdown: %v, want it removed", err)
			}
		})
		t.Run("shutdown-keeps-other-file", func(t *testing.T) {
			t.Parallel()
			path := testkit.SockPath(t, "s")
			srv := newServer(t, b, engine.Config{})
			listen(t, srv, "unix", path, service.Echo{})
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "someone else's" {
				t.Errorf("a file that replaced the socket is now %q, %v; want it kept", got, err)
			}
		})
	})
}

// Listening twice on one TCP port fails with KindAddrInUse.
func TestContractAddrInUse(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
		other := newServer(t, b, engine.Config{})
		for name, s := range map[string]*engine.Server{"same server": srv, "another server": other} {
			_, err := s.Listen(ep("tcp4", addr.String()), service.Echo{})
			if sockit.KindOf(err) != sockit.KindAddrInUse || !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("%s: second Listen on %s: %v (kind %v), want %v", name, addr, err, sockit.KindOf(err), sockit.KindAddrInUse)
			}
		}
	})
}

// Contract 10: an Observer sees each socket step of one echo, in order.
func TestContractObserver(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		var log testkit.Recorder
		srv := newServer(t, b, engine.Config{Observer: &log})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{}))
		msg := []byte("hello, observer")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := closeWrite(c); err != nil {
			t.Fatal(err)
		}
		if got, err := testkit.ReadAll(c, 100); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read %q, %v; want %q, then EOF", got, err, msg)
		}
		c.Close()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		events := log.Events()

		// The listener's steps come first.
		at := 0
		for _, step := range []sockit.Step{sockit.StepSocket, sockit.StepBind, sockit.StepListen, sockit.StepAccept} {
			i := indexEvent(events, at, func(e sockit.Event) bool { return e.Step == step })
			if i < 0 {
				t.Fatalf("no %v event after event %d; events:\n%s", step, at, narrate(events))
			}
			at = i
		}
		fd := events[at].FD
		if fd < 0 {
			t.Fatalf("accept event without a descriptor: %v", events[at])
		}
		// The connection's steps, in the order the socket API takes them.
		conn := func(step sockit.Step, ok func(sockit.Event) bool) func(sockit.Event) bool {
			return func(e sockit.Event) bool { return e.FD == fd && e.Step == step && ok(e) }
		}
		anyEvent := func(sockit.Event) bool { return true }
		for _, want := range []struct {
			what  string
			match func(sockit.Event) bool
		}{
			{what: "read of the message", match: conn(sockit.StepRead, func(e sockit.Event) bool { return e.N > 0 && e.Err == nil })},
			{what: "read 0 (peer FIN)", match: conn(sockit.StepRead, func(e sockit.Event) bool { return e.N == 0 && e.Err == nil })},
			{what: "shutdown SHUT_WR", match: conn(sockit.StepShutdown, func(e sockit.Event) bool { return e.Err == nil })},
			{what: "close", match: conn(sockit.StepClose, anyEvent)},
			{what: "closed with totals", match: conn(sockit.StepClosed, func(e sockit.Event) bool {
				return e.In == int64(len(msg)) && e.Out == int64(len(msg)) && e.Err == nil
			})},
		} {
			i := indexEvent(events, at, want.match)
			if i < 0 {
				t.Fatalf("no %s on fd %d after event %d; events:\n%s", want.what, fd, at, narrate(events))
			}
			at = i
		}
		firstRead := indexEvent(events, 0, conn(sockit.StepRead, anyEvent))
		write := indexEvent(events, 0, conn(sockit.StepWrite, func(e sockit.Event) bool { return e.N == len(msg) }))
		shutdown := indexEvent(events, 0, conn(sockit.StepShutdown, anyEvent))
		if write < 0 || write < firstRead || write > shutdown {
			t.Errorf("want one write of %d bytes after the read and before shutdown; events:\n%s", len(msg), narrate(events))
		}
	})
}

// Stats count every byte the client sent and received.
func TestContractStats(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{}))
		var sent int
		for i := range 10 {
			msg := pattern(1000*(i+1), i)
			if err := testkit.RoundTrip(c, msg); err != nil {
				t.Fatal(err)
			}
			sent += len(msg)
		}
		if err := closeWrite(c); err != nil {
			t.Fatal(err)
		}
		readEOF(t, c)
		c.Close()
		waitIdle(t, srv)
		st := srv.Stats()
		if st.BytesIn != uint64(sent) || st.BytesOut != uint64(sent) || st.Accepted != 1 {
			t.Errorf("Stats = %+v; want BytesIn and BytesOut %d (what the client sent and received), Accepted 1", st, sent)
		}
	})
}

// Contract 3: input a handler leaves unconsumed is bounded by MaxInput.
func TestContractMaxInput(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{MaxInput: 64 << 10, ReadBuffer: 16 << 10})
		h := watchClose(testkit.Funcs{Data: func(engine.Conn, []byte) int { return 0 }}) // never consumes
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		wrote := make(chan error, 1)
		go func() {
			_, err := c.Write(pattern(1<<20, 4))
			wrote <- err
		}()
		if err := h.next(t); !errors.Is(err, engine.ErrInputTooLarge) {
			t.Errorf("OnClose with more than MaxInput unconsumed: %v, want ErrInputTooLarge", err)
		}
		c.Close()
		<-wrote // the reset or our Close ends it
	})
}

// Contract 2: with a negative Linger, Close resets like Abort.
func TestContractNegativeLinger(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{Linger: -1})
		h := testkit.Funcs{Data: func(c engine.Conn, in []byte) int {
			c.Close()
			return len(in)
		}}
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if got, err := testkit.ReadAll(c, 100); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after Close with Linger < 0: %q, %v; want ECONNRESET", got, err)
		}
	})
}

// Contract 7: WriteTimeout ends a connection whose output is stuck: bytes
// pending that the kernel does not take, or a Drainer (chargen's way)
// waiting for room that never comes, though each of its writes was taken
// whole and nothing of it is pending.
func TestContractWriteTimeout(t *testing.T) {
	line := pattern(7030, 9)
	tests := []struct {
		name    string
		small   bool // small socket buffers; with the defaults, each of the drainer's writes is taken whole
		handler func() (engine.Handler, closeWatch)
	}{
		{name: "pending output", small: true, handler: func() (engine.Handler, closeWatch) {
			h := watchClose(testkit.Funcs{Open: func(c engine.Conn) {
				c.Write(pattern(4<<20, 5)) // far more than the kernel holds for a client that reads nothing
			}})
			return h, h
		}},
		{name: "drainer", handler: func() (engine.Handler, closeWatch) {
			h := watchClose(testkit.Funcs{Open: func(c engine.Conn) { c.Write(line) }})
			return drainWith{h, func(c engine.Conn) {
				for range 8 {
					c.Write(line)
				}
			}}, h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
				cfg := engine.Config{WriteTimeout: 200 * time.Millisecond}
				if tt.small {
					cfg.SendBuf = 64 << 10
				}
				srv := newServer(t, b, cfg)
				h, watch := tt.handler()
				c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
				if tt.small {
					if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
						t.Fatal(err)
					}
				}
				if err := watch.next(t); sockit.KindOf(err) != sockit.KindTimeout {
					t.Errorf("OnClose with output stuck: %v (kind %v), want a %v error", err, sockit.KindOf(err), sockit.KindTimeout)
				}
			})
		})
	}
}

// drainWith is a handler that is also a Drainer, calling drain.
type drainWith struct {
	engine.Handler
	drain func(engine.Conn)
}

func (d drainWith) OnDrain(c engine.Conn) { d.drain(c) }

// Contract 4: other goroutines reach a connection through AsyncWrite and
// Close; every message arrives whole, each goroutine's in order.
func TestContractAsync(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		conns := make(chan engine.Conn, 1)
		h := watchClose(testkit.Funcs{Open: func(c engine.Conn) { conns <- c }})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", h))
		sc := testkit.Receive(t, conns, "server conn")

		const writers, msgs, size = 4, 100, 1024
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range msgs {
					msg := bytes.Repeat([]byte{byte(w)}, size)
					msg[1] = byte(i)
					if err := sc.AsyncWrite(msg); err != nil {
						errs <- fmt.Errorf("writer %d, message %d: %w", w, i, err)
						return
					}
				}
			})
		}
		go func() {
			wg.Wait()
			sc.Close()
		}()
		got, err := testkit.ReadAll(c, writers*msgs*size)
		if err != nil || len(got) != writers*msgs*size {
			t.Fatalf("read %d bytes, %v; want %d, then EOF", len(got), err, writers*msgs*size)
		}
		next := make([]int, writers)
		for off := 0; off < len(got); off += size {
			m := got[off : off+size]
			w := int(m[0])
			if w >= writers || int(m[1]) != next[w]%256 || !bytes.Equal(m[2:], bytes.Repeat([]byte{m[0]}, size-2)) {
				t.Fatalf("at byte %d: a torn or misordered message %q", off, truncate(m))
			}
			next[w]++
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		c.Close()
		if err := h.next(t); err != nil {
			t.Errorf("OnClose: %v, want nil", err)
		}
	})
}

// collector is a Handler that keeps everything it reads, notes the peer's
// FIN, and reports the OnClose error.
type collector struct {
	got      chan []byte
	finSeen  chan struct{}
	closeErr chan error
	buf      []byte
}

func newCollector() *collector {
	return &collector{got: make(chan []byte, 1), finSeen: make(chan struct{}, 1), closeErr: make(chan error, 1)}
}

func (h *collector) OnOpen(engine.Conn) {}

func (h *collector) OnData(_ engine.Conn, in []byte) int {
	h.buf = append(h.buf, in...)
	return len(in)
}

func (h *collector) OnPeerClose(c engine.Conn) {
	h.finSeen <- struct{}{}
	h.got <- h.buf
	c.Close()
}

func (h *collector) OnClose(_ engine.Conn, err error) { h.closeErr <- err }

// A Unix peer that writes and then close(2)s (not shutdown) still delivers
// every byte, then EOF, and the close is orderly. (On Linux the reader sees
// EPOLLHUP at once, with data still queued.)
func TestUnixPeerCloseDeliversAll(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{})
		h := newCollector()
		addr := listen(t, srv, "unix", testkit.SockPath(t, "c"), h)
		c, err := net.Dial("unix", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		want := pattern(1<<20, 9)
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := testkit.Receive(t, h.got, "the data and the peer's FIN")
		if !bytes.Equal(got, want) {
			t.Errorf("server read %d bytes of %d before EOF", len(got), len(want))
		}
		if err := testkit.Receive(t, h.closeErr, "OnClose"); err != nil {
			t.Errorf("OnClose(%v), want nil after an orderly close", err)
		}
	})
}

// AsyncWrite beyond MaxPending is refused with ErrOutputFull and the
// connection stays usable.
func TestAsyncWriteOutputFull(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const maxPending = 256 << 10
		srv := newServer(t, b, engine.Config{HighWatermark: 64 << 10, MaxPending: maxPending, SendBuf: 32 << 10})
		conns := make(chan engine.Conn, 1)
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", testkit.Funcs{Open: func(c engine.Conn) { conns <- c }})
		c := dial(t, addr)
		c.(*net.TCPConn).SetReadBuffer(32 << 10)
		sc := testkit.Receive(t, conns, "server conn")
		chunk := make([]byte, 32<<10)
		var full bool
		for i := 0; i < 1000 && !full; i++ { // the client reads nothing: output must fill up
			err := sc.AsyncWrite(chunk)
			switch {
			case errors.Is(err, engine.ErrOutputFull):
				full = true
			case err != nil:
				t.Fatalf("AsyncWrite %d: %v", i, err)
			}
		}
		if !full {
			t.Fatalf("1000 AsyncWrites of 32 KiB never met ErrOutputFull (MaxPending %d)", maxPending)
		}
		// Still open: what was accepted arrives, then more goes through.
		if err := sc.AsyncWrite([]byte("end")); err != nil && !errors.Is(err, engine.ErrOutputFull) {
			t.Fatalf("AsyncWrite after ErrOutputFull: %v", err)
		}
		sc.CloseWrite()
		got, err := testkit.ReadAll(c, 64<<20)
		if err != nil {
			t.Fatalf("reading what was accepted: %v after %d bytes", err, len(got))
		}
		if len(got) < maxPending/2 {
			t.Errorf("read %d bytes, want at least the %d that fit", len(got), maxPending/2)
		}
	})
}
