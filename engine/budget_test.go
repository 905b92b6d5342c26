package engine_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// Clients that send and never read make an echo server hold their
// replies. The server-wide budget keeps what all of them hold together
// within MaxPendingTotal, an eighth more, and one read and one chunk per
// connection; no connection is cut for it; a client that does read gets
// its echoes meanwhile; and once the stalled clients read, every byte
// they sent comes back.
func TestBudgetBoundsStalledReaders(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const (
			clients = 24
			each    = 2 << 20 // bytes each client sends
			limit   = 1 << 20 // the budget
			chunk   = 16 << 10
		)
		cfg := engine.Config{
			HighWatermark: 256 << 10, LowWatermark: 128 << 10, MaxPending: 4 << 20,
			ReadBuffer: 64 << 10, SendBuf: 64 << 10, RecvBuf: 64 << 10, // small kernel buffers fill soon (at 16 KiB, below loopback's MSS, TCP crawls)
			MaxPendingTotal: limit,
		}
		srv := newServer(t, b, cfg)
		errs := make(chan error, clients+1)
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", closeWatch{Handler: service.Echo{}, errs: errs})

		type stalled struct {
			c    *net.TCPConn
			sent chan []byte // SHA-256 of what the writer sent, once done
		}
		var cs []stalled
		for i := 0; i < clients; i++ {
			c, err := net.DialTCP("tcp4", nil, addr.(*net.TCPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := errors.Join(c.SetReadBuffer(64<<10), c.SetWriteBuffer(64<<10)); err != nil {
				t.Fatal(err)
			}
			s := stalled{c: c, sent: make(chan []byte, 1)}
			go func(i int) {
				h := sha256.New()
				var err error
				for n := 0; n < each && err == nil; n += 64 << 10 {
					p := pattern(64<<10, i*1000+n>>16)
					_, err = c.Write(p)
					h.Write(p)
				}
				if err == nil {
					err = c.CloseWrite()
				}
				if err != nil {
					h.Write([]byte(err.Error())) // a failed writer never matches
				}
				s.sent <- h.Sum(nil)
			}(i)
			cs = append(cs, s)
		}

		// Wait until the server stops reading: nothing more comes in for a
		// while, because every client's replies have filled its budget
		// share and the kernel buffers behind it.
		var st engine.Stats
		var peak int64
		last, quiet := uint64(0), 0
		for deadline := time.Now().Add(20 * time.Second); quiet < 15; {
			if time.Now().After(deadline) {
				t.Fatalf("input still moving after 20s: %+v", srv.Stats())
			}
			time.Sleep(20 * time.Millisecond) // a poll interval: the condition is checked each round
			st = srv.Stats()
			peak = max(peak, st.Held)
			if st.BytesIn == last {
				quiet++
			} else {
				last, quiet = st.BytesIn, 0
			}
		}
		t.Logf("held %d at the peak, %d when stalled; %d bytes in", peak, st.Held, st.BytesIn)
		// Once the budget is over, a connection reads 4 KiB at a time, so
		// each can add that and a chunk before it pauses; reads already
		// under way when it went over may be whole: one per loop on epoll,
		// one per connection on std, where each blocks in its own read,
		// and on uring, where each has its receive in flight.
		bound := int64(limit + limit/8 + clients*(4<<10+chunk) + runtime.GOMAXPROCS(0)*(cfg.ReadBuffer+chunk))
		if b == engine.BackendStd || b == engine.BackendUring {
			bound = int64(limit + limit/8 + clients*(cfg.ReadBuffer+chunk))
		}
		if peak > bound {
			t.Errorf("the connections held %d bytes at the peak; want at most %d (budget %d, an eighth more, a read and a chunk each)", peak, bound, limit)
		}
		if st.Held < limit {
			t.Errorf("stalled with %d bytes held, below the budget %d: the watermark, not the budget, stopped them", st.Held, limit)
		}
		if st.Active != clients {
			t.Fatalf("%d connections open, want %d: none is cut for being slow", st.Active, clients)
		}

		// A client that reads is served meanwhile.
		fresh, err := net.DialTimeout("tcp4", addr.String(), testkit.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		fresh.SetDeadline(time.Now().Add(testkit.Timeout))
		for i := 0; i < 10; i++ {
			msg := []byte("ping over a full budget")
			if _, err := fresh.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(fresh, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo %d while the budget is full: %q, %v", i, got, err)
			}
		}
		fresh.Close()

		// The stalled clients read at last: everything comes back.
		var wg sync.WaitGroup
		for i, s := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
				h := sha256.New()
				n, err := io.Copy(h, s.c)
				if err != nil || n != each {
					t.Errorf("client %d read %d of %d bytes back: %v", i, n, each, err)
					return
				}
				if sum := <-s.sent; !bytes.Equal(sum, h.Sum(nil)) {
					t.Errorf("client %d: the echo differs from what it sent", i)
				}
			}()
		}
		wg.Wait()
		for i := 0; i < clients+1; i++ {
			if err := testkit.Receive(t, errs, "OnClose"); err != nil {
				t.Errorf("a connection ended with %v", err)
			}
		}
		if held := srv.Stats().Held; held != 0 {
			t.Errorf("%d bytes still counted against the budget with every connection closed", held)
		}
	})
}
