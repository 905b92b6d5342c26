package engine_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// The stress tests hold the engine to its contracts under load: a reader
// far slower than the writer, hundreds of resets in the middle of an echo,
// ten thousand connections at once, and thousands opened and closed.

// pendingPeak is service.Echo that records the largest Pending it sees
// after queuing an echo.
type pendingPeak struct {
	service.Echo
	peak atomic.Int64
}

func (p *pendingPeak) OnData(c engine.Conn, in []byte) int {
	n := p.Echo.OnData(c, in)
	pending := int64(c.Pending())
	for old := p.peak.Load(); pending > old && !p.peak.CompareAndSwap(old, pending); old = p.peak.Load() {
	}
	return n
}

// TestStressSlowReader sends 64 MiB to the echo and reads the echo back at
// 1 MiB/s: the server must hold the rest back by backpressure, never in
// its own memory.
func TestStressSlowReader(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB at 1 MiB/s on each backend, about 64 s: skipped in -short mode")
	}
	t.Parallel()
	for _, b := range testkit.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testSlowReader(t, b)
		})
	}
}

func testSlowReader(t *testing.T, b engine.Backend) {
	const (
		total = 64 << 20
		chunk = 64 << 10
		rate  = 1 << 20                                   // bytes per second the client reads
		pace  = time.Second * time.Duration(chunk) / rate // 62.5 ms per chunk
	)
	// The bound under test: the server holds, for this connection, at most
	// its pending output, which Write keeps at or below MaxPending
	// (= 4 × HighWatermark), plus one read buffer of input. Reading pauses
	// above HighWatermark, so in practice pending output stays at or below
	// HighWatermark + ReadBuffer.
	cfg := engine.Config{HighWatermark: 256 << 10, LowWatermark: 128 << 10, MaxPending: 1 << 20, ReadBuffer: 64 << 10}
	srv := newServer(t, b, cfg)
	probe := &pendingPeak{}
	c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", probe))
	start := time.Now()
	if err := c.SetDeadline(start.Add(total/rate*time.Second + testkit.Timeout)); err != nil {
		t.Fatal(err)
	}

	type result struct {
		sum []byte
		err error
	}
	sent := make(chan result, 1)
	go func() {
		h := sha256.New()
		var err error
		for n := 0; n < total && err == nil; n += chunk {
			p := noise[n/chunk*4099%(len(noise)-chunk):][:chunk]
			_, err = c.Write(p)
			h.Write(p)
		}
		if err == nil {
			err = closeWrite(c)
		}
		sent <- result{sum: h.Sum(nil), err: err}
	}()

	h := sha256.New()
	buf := make([]byte, chunk)
	tick := time.NewTicker(pace) // the reader's rate, not a stand-in for a condition
	defer tick.Stop()
	var got int
	var held uint64
	var rerr error
	for got < total {
		n, err := io.ReadFull(c, buf[:min(chunk, total-got)])
		h.Write(buf[:n])
		got += n
		if err != nil {
			rerr = err
			break
		}
		// BytesOut is loaded after BytesIn, so in - out never overstates
		// what the server holds.
		st := srv.Stats()
		held = max(held, st.BytesIn-min(st.BytesOut, st.BytesIn))
		<-tick.C
	}
	if rerr == nil {
		var one [1]byte
		if n, err := c.Read(one[:]); n != 0 || err != io.EOF {
			rerr = fmt.Errorf("after %d bytes: read %d more, %v; want EOF", total, n, err)
		}
	}
	if rerr != nil {
		c.Close() // unblock the writer
	}
	w := testkit.Receive(t, sent, "end of the client's writes")
	elapsed := time.Since(start)
	if w.err != nil || rerr != nil {
		t.Fatalf("write: %v; read %d of %d bytes, then %v", w.err, got, total, rerr)
	}
	if !bytes.Equal(h.Sum(nil), w.sum) {
		t.Fatalf("the echo of %d bytes came back with SHA-256 %x, want %x", total, h.Sum(nil), w.sum)
	}
	peak := int(probe.peak.Load())
	t.Logf("%d MiB echoed in %v; peak Pending %d bytes, peak held %d bytes", total>>20, elapsed.Round(time.Millisecond), peak, held)
	if peak > cfg.MaxPending {
		t.Errorf("Pending reached %d bytes, above MaxPending %d", peak, cfg.MaxPending)
	}
	if limit := cfg.HighWatermark + cfg.ReadBuffer; peak > limit {
		t.Errorf("Pending reached %d bytes, above HighWatermark + ReadBuffer = %d: reading did not pause", peak, limit)
	}
	if limit := uint64(cfg.MaxPending + cfg.ReadBuffer); held > limit {
		t.Errorf("the server held %d bytes read and not yet written; want at most MaxPending + ReadBuffer = %d", held, limit)
	}
}

// closeLog is service.Echo that keeps every OnClose error.
type closeLog struct {
	service.Echo
	mu   sync.Mutex
	errs []error
}

func (h *closeLog) OnClose(_ engine.Conn, err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *closeLog) all() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// TestStressResetMidWrite has 200 clients each write 1 MiB and reset the
// connection (SO_LINGER 0, then close) while the echo is under way. The
// server must drop each one, report the reset, and go on serving.
func TestStressResetMidWrite(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const clients, size = 200, 1 << 20
		// A small send buffer and high watermark: the server has output
		// pending and reading paused when most of the resets arrive.
		cfg := engine.Config{HighWatermark: 256 << 10, SendBuf: 64 << 10}
		srv := newServer(t, b, cfg)
		h := &closeLog{}
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", h)

		errs := make([]error, clients)
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() { errs[i] = resetMidWrite(addr, size, i) })
		}
		wg.Wait()
		if err := firstErrors(errs, 5); err != nil {
			t.Fatalf("clients: %v", err)
		}
		waitIdle(t, srv)

		c := dial(t, addr)
		if err := testkit.RoundTrip(c, []byte("still serving?")); err != nil {
			t.Fatalf("after %d resets: %v", clients, err)
		}
		if st := srv.Stats(); st.Accepted != clients+1 || st.Active != 1 {
			t.Errorf("Stats Accepted %d, Active %d; want %d and 1", st.Accepted, st.Active, clients+1)
		}
		closes := h.all()
		if len(closes) != clients {
			t.Fatalf("OnClose called %d times, want %d", len(closes), clients)
		}
		for _, err := range closes {
			if sockit.KindOf(err) != sockit.KindReset {
				t.Errorf("OnClose after a peer reset: %v (kind %v), want a reset", err, sockit.KindOf(err))
				break
			}
		}
		st := srv.Stats()
		t.Logf("server read %d MiB and wrote %d MiB before the resets", st.BytesIn>>20, st.BytesOut>>20)
		if err := closeWrite(c); err != nil {
			t.Fatal(err)
		}
		readEOF(t, c)
		c.Close()
		waitIdle(t, srv)
	})
}

// resetMidWrite writes size bytes to the echo at addr from one goroutine
// and, once a quarter of the echo has come back on this one, resets the
// connection while the rest is still in flight.
func resetMidWrite(addr net.Addr, size, seed int) error {
	const chunk = 64 << 10
	c, err := dialConn(addr)
	if err != nil {
		return err
	}
	// Per socket(7) and tcp(7): with SO_LINGER 0, close sends RST.
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		c.Close()
		return err
	}
	wrote := make(chan error, 1)
	go func() {
		var err error
		for n := 0; n < size && err == nil; n += chunk {
			_, err = c.Write(noise[(seed+n)*4099%(len(noise)-chunk):][:chunk])
		}
		wrote <- err
	}()
	_, rerr := io.ReadFull(c, make([]byte, size/4))
	cerr := c.Close()
	werr := <-wrote // our Close ends a Write still blocked
	if errors.Is(werr, net.ErrClosed) {
		werr = nil
	}
	if rerr != nil {
		rerr = fmt.Errorf("reading the echo: %w", rerr)
	}
	return errors.Join(rerr, werr, cerr)
}

// firstErrors joins the first n non-nil errors of errs and says how many
// there were in all.
func firstErrors(errs []error, n int) error {
	var first []error
	count := 0
	for _, err := range errs {
		if err != nil {
			count++
			if len(first) < n {
				first = append(first, err)
			}
		}
	}
	if count == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d failed, the first: %w", count, len(errs), errors.Join(first...))
}

// TestStressConcurrent10k holds 10 000 connections open at once against
// the epoll backend, each after one round trip, then closes them all.
// The server runs in a helper process: server and clients in one process
// would need 20 000 descriptors and more, beyond what this machine allows
// a process.
//
// It does not run in parallel with other tests: it raises the process's
// descriptor limit and uses most of it.
func TestStressConcurrent10k(t *testing.T) {
	const conns, workers = 10000, 500
	limit := raiseNofile(t)
	if open := openFDCount(t); uint64(open+conns+256) > limit {
		t.Skipf("needs %d descriptors, and RLIMIT_NOFILE allows %d with %d open", conns+256, limit, open)
	}
	h := startHelper(t, "server-"+string(engine.BackendEpoll), 3*time.Minute)
	srcs := sourceAddrs(t, conns)

	cs := make([]net.Conn, conns)
	errs := make([]error, conns)
	t.Cleanup(func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	})
	var next atomic.Int64
	var sent atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < conns; i = int(next.Add(1) - 1) {
				c, err := dialFrom(srcs[i%len(srcs)], h.addr)
				if err != nil {
					errs[i] = err
					continue
				}
				cs[i] = c
				msg := fmt.Appendf(nil, "connection %d of %d", i, conns)
				if errs[i] = testkit.RoundTrip(c, msg); errs[i] == nil {
					sent.Add(uint64(len(msg)))
				}
			}
		})
	}
	wg.Wait()
	opened := time.Since(start)
	if err := firstErrors(errs, 5); err != nil {
		t.Fatalf("round trips on %d concurrent connections from %v: %v", conns, srcs, err)
	}
	if st := h.stats(); st.Accepted != conns || st.Active != conns {
		t.Errorf("with %d connections open: helper Stats Accepted %d, Active %d; want %d and %d", conns, st.Accepted, st.Active, conns, conns)
	}
	for i, c := range cs {
		c.Close()
		cs[i] = nil
	}
	h.waitStats("no active connections", func(st engine.Stats) bool { return st.Active == 0 })
	f := h.finish()
	t.Logf("%d connections opened with a round trip each in %v from %d source address(es), all closed after %v",
		conns, opened.Round(time.Millisecond), len(srcs), time.Since(start).Round(time.Millisecond))
	if f.Shutdown != "" {
		t.Errorf("helper Shutdown: %s", f.Shutdown)
	}
	if st := f.Stats; st.Accepted != conns || st.Active != 0 || st.BytesIn != sent.Load() || st.BytesOut != sent.Load() {
		t.Errorf("helper's final Stats %+v; want Accepted %d, Active 0, BytesIn and BytesOut %d", st, conns, sent.Load())
	}
}

// sourceAddrs returns the loopback addresses to connect from so that
// conns connections to one server do not use up the ephemeral ports
// (ip_local_port_range, per ip(7)): one address per half range of
// connections, so other tests keep ports to spare.
func sourceAddrs(t *testing.T, conns int) []net.IP {
	t.Helper()
	ports := 60999 - 32768 + 1 // Linux's default range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				ports = hi - lo + 1
			}
		}
	}
	n := min(max((conns+ports/2-1)/(ports/2), 1), 254)
	ips := make([]net.IP, n)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, 0, byte(i+1)) // all of 127/8 is loopback
	}
	return ips
}

// dialFrom connects from src to addr. IP_BIND_ADDRESS_NO_PORT (per ip(7))
// lets connect choose the source port by the whole 4-tuple, so that
// binding the address does not take a port for itself.
func dialFrom(src net.IP, addr net.Addr) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   testkit.Timeout,
		LocalAddr: &net.TCPAddr{IP: src},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			return errors.Join(err, os.NewSyscallError("setsockopt", serr))
		},
	}
	c, err := d.Dial("tcp4", addr.String())
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(testkit.Timeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestStressChurn opens, uses and closes 5 000 connections, 50 at a time:
// afterwards no server socket may sit in CLOSE_WAIT (the peer's FIN seen,
// our close never made) and no connection may be left open.
func TestStressChurn(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const conns, workers = 5000, 50
		srv := newServer(t, b, engine.Config{})
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", service.Echo{})
		port := addr.(*net.TCPAddr).Port

		errs := make([]error, conns)
		var next atomic.Int64
		var sent atomic.Uint64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < conns; i = int(next.Add(1) - 1) {
					c, err := dialConn(addr)
					if err != nil {
						errs[i] = err
						continue
					}
					msg := fmt.Appendf(nil, "churn %d of %d", i, conns)
					if errs[i] = testkit.RoundTrip(c, msg); errs[i] == nil {
						sent.Add(uint64(len(msg)))
					}
					c.Close()
				}
			})
		}
		wg.Wait()
		if err := firstErrors(errs, 5); err != nil {
			t.Fatalf("churning %d connections: %v", conns, err)
		}
		waitIdle(t, srv)
		testkit.Eventually(t, fmt.Sprintf("no socket in CLOSE_WAIT on the server's port %d", port), func() bool {
			n, err := closeWaitOn(port)
			if err != nil {
				t.Fatalf("reading TCP states: %v", err)
			}
			return n == 0
		})
		if st := srv.Stats(); st.Accepted != conns || st.Active != 0 || st.BytesIn != sent.Load() || st.BytesOut != sent.Load() {
			t.Errorf("Stats %+v; want Accepted %d, Active 0, BytesIn and BytesOut %d", st, conns, sent.Load())
		}
	})
}

// closeWaitOn counts the sockets in CLOSE_WAIT whose local port is port.
// Per proc(5), /proc/net/tcp and /proc/net/tcp6 list one socket a line:
// "sl local_address rem_address st ...", each address as hex IP:port and st
// as the hex TCP state, where 08 is CLOSE_WAIT (include/net/tcp_states.h).
func closeWaitOn(port int) (int, error) {
	n := 0
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) && name == "/proc/net/tcp6" {
			continue // no IPv6
		}
		if err != nil {
			return 0, err
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "08" {
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(p) == port {
				n++
			}
		}
	}
	return n, nil
}
