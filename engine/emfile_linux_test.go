package engine_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// resumeWithin bounds, per backend, how long a connection waiting in the
// backlog waits after a descriptor frees. Both backends accept again at
// once when one of their connections closes (the epoll backend whichever
// loop freed it; the std backend's accept loop is woken from its backoff);
// the bound only leaves room for a busy machine.
var resumeWithin = map[engine.Backend]time.Duration{
	engine.BackendEpoll: 500 * time.Millisecond,
	engine.BackendStd:   500 * time.Millisecond,
	engine.BackendUring: 500 * time.Millisecond,
}

// TestAcceptEMFILE starves a server of descriptors: accept(2) fails with
// EMFILE while connections wait in the listen backlog. The server must stay
// up without spinning on the listener (it backs off, 5 ms doubling to 1 s),
// say so at most once a second, and serve the waiting connections once
// descriptors free up. The server runs in a helper process whose soft
// RLIMIT_NOFILE is nofile.
func TestAcceptEMFILE(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const (
			nofile = 64
			conns  = 100 // well beyond nofile: the rest wait in the backlog
			single = 8   // closed one at a time, each letting one more in
			closed = 50  // closed in all, to free descriptors
			window = time.Second
		)
		h := startHelper(t, "emfile-"+string(b), 2*time.Minute, helperNofile+"="+strconv.Itoa(nofile))

		// One after another, so that the backlog (FIFO) holds the last ones.
		cs := make([]net.Conn, conns)
		t.Cleanup(func() {
			for _, c := range cs {
				if c != nil {
					c.Close()
				}
			}
		})
		for i := range cs {
			c, err := dialConn(h.addr)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			cs[i] = c
		}

		var w helperWindow
		h.ask("window "+window.String(), "window", &w)
		accepted := int(w.Stats.Accepted)
		t.Logf("over %v of EMFILE with %d of %d connections accepted: %d accept errors, %d logged, %v CPU",
			w.Wall.Round(time.Millisecond), accepted, conns, w.AcceptErrors, w.AcceptLogs, w.CPU)
		if accepted < single || conns-accepted < single || w.Stats.Active != int64(accepted) {
			t.Fatalf("helper Stats %+v: want %d to %d connections accepted, all of them active", w.Stats, single, conns-single)
		}
		// A loop retrying accept at once fails thousands of times a second
		// and burns a CPU; the backoff makes about ten failures in the
		// first second, then one a second.
		if w.AcceptErrors >= 100 {
			t.Errorf("accept failed %d times in %v: the server spins on EMFILE", w.AcceptErrors, w.Wall)
		}
		if w.CPU > w.Wall/4 {
			t.Errorf("the server used %v of CPU in %v of EMFILE: it spins", w.CPU, w.Wall)
		}
		if w.LoggedEver == 0 {
			t.Errorf("accept failed %d times and the observer heard of none", w.Stats.AcceptErrors)
		}
		if w.AcceptLogs > 2 {
			t.Errorf("%d failed accepts reported to the observer in %v, want at most one a second", w.AcceptLogs, w.Wall)
		}

		// The server stays up: an accepted connection is still served.
		var sent atomic.Uint64
		trip := func(i int) error {
			msg := fmt.Appendf(nil, "connection %d of %d", i, conns)
			if err := testkit.RoundTrip(cs[i], msg); err != nil {
				return fmt.Errorf("connection %d (accepted before the window: %v): %w", i, i < accepted, err)
			}
			sent.Add(uint64(len(msg)))
			return nil
		}
		if err := trip(0); err != nil {
			t.Fatalf("an accepted connection while accept fails: %v", err)
		}

		// Each descriptor freed lets the oldest waiting connection in.
		for i := range single {
			cs[i].Close()
			cs[i] = nil
			start := time.Now()
			if err := trip(accepted + i); err != nil {
				t.Fatalf("after closing connection %d: %v", i, err)
			}
			if d := time.Since(start); d > resumeWithin[b] {
				t.Errorf("a waiting connection was served %v after a descriptor freed, want within %v", d, resumeWithin[b])
			}
		}

		// Free more: every remaining connection must now be served, each
		// closing after its round trip so that all fit.
		for i := single; i < closed; i++ {
			cs[i].Close()
			cs[i] = nil
		}
		errs := make([]error, conns)
		var wg sync.WaitGroup
		for i := closed; i < conns; i++ {
			wg.Go(func() {
				if errs[i] = trip(i); errs[i] != nil {
					return
				}
				if errs[i] = closeWrite(cs[i]); errs[i] == nil {
					var one [1]byte
					if n, err := cs[i].Read(one[:]); n != 0 || err != io.EOF {
						errs[i] = fmt.Errorf("connection %d: read after half-close: %d bytes, %v; want EOF", i, n, err)
					}
				}
			})
		}
		wg.Wait()
		if err := firstErrors(errs, 5); err != nil {
			t.Fatalf("after freeing %d descriptors: %v", closed, err)
		}
		for i := closed; i < conns; i++ {
			cs[i].Close()
			cs[i] = nil
		}

		// Those closed while waiting are accepted and finished too.
		h.waitStats(fmt.Sprintf("all %d connections accepted and finished", conns), func(st engine.Stats) bool {
			return st.Accepted == conns && st.Active == 0
		})
		f := h.finish()
		if f.Shutdown != "" {
			t.Errorf("helper Shutdown: %s", f.Shutdown)
		}
		if st := f.Stats; st.BytesIn != sent.Load() || st.BytesOut != sent.Load() {
			t.Errorf("helper's final Stats %+v; want BytesIn and BytesOut %d", st, sent.Load())
		}
	})
}
