package relay_test

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/relay"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// closeSeen is an echo target that reports when a connection ends.
type closeSeen struct {
	service.Echo
	closed chan error
}

func (c closeSeen) OnClose(_ engine.Conn, err error) { c.closed <- err }

// reports collects up to n of the relay's reports.
func reports(n int) (chan relay.Report, func(relay.Report)) {
	ch := make(chan relay.Report, n)
	return ch, func(r relay.Report) { ch <- r }
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testkit.Timeout):
		t.Fatalf("no %s within %v", what, testkit.Timeout)
		var zero T
		return zero
	}
}

// A TCP connection with no traffic either way for IdleTimeout is closed on
// both sides, and reported as idle.
func TestRelayIdleStream(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	tgt := closeSeen{closed: make(chan error, 1)}
	to := target(t, "tcp", tgt)
	reps, onConn := reports(1)
	r, from := start(t, "tcp", to, relay.Options{IdleTimeout: idle, OnConn: onConn})
	c, err := net.DialTimeout("tcp", from.Addr, testkit.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	lastTraffic := time.Now() // the relay's last traffic is at or after this
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if n != 0 || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("after the echo: %d more bytes, %v; want the relay to close the idle connection", n, err)
	}
	if quiet := time.Since(lastTraffic); quiet < idle {
		t.Errorf("closed after %v of quiet, before IdleTimeout %v", quiet, idle)
	}
	waitFor(t, tgt.closed, "close of the target's side")
	if rep := waitFor(t, reps, "report"); !errors.Is(rep.Err, relay.ErrIdle) || rep.Up != 2 || rep.Down != 2 {
		t.Errorf("report %+v, want 2 bytes each way and ErrIdle", rep)
	}
	if st := r.Stats(); st.Idle != 1 {
		t.Errorf("Stats().Idle = %d, want 1", st.Idle)
	}
}

// A WebSocket client of an idle connection gets a close frame, 1001.
func TestRelayIdleWebSocket(t *testing.T) {
	t.Parallel()
	to := target(t, "tcp", service.Echo{})
	from := startLayered(t, "ws", to, relay.Options{IdleTimeout: 200 * time.Millisecond})
	c := dialWS(t, from)
	if ce := readClose(t, c); ce.Code != ws.CloseGoingAway {
		t.Errorf("close frame %v, want %v", ce.Code, ws.CloseGoingAway)
	}
}

// slowTarget sends a byte every tick, count times, then nothing: traffic
// one way only.
type slowTarget struct {
	tick  time.Duration
	count int
}

func (s slowTarget) OnOpen(c engine.Conn) {
	c.SetContext(new(int))
	c.SetTimer(time.Now().Add(s.tick))
}
func (slowTarget) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (slowTarget) OnPeerClose(engine.Conn)             {}
func (slowTarget) OnClose(engine.Conn, error)          {}
func (s slowTarget) OnTimer(c engine.Conn) {
	sent := c.Context().(*int)
	c.Write([]byte{'.'})
	if *sent++; *sent < s.count {
		c.SetTimer(time.Now().Add(s.tick))
	}
}

// Traffic in one direction keeps a connection alive: the target talks for
// well over IdleTimeout while the client says nothing, and the relay
// closes the connection only once both have been quiet for IdleTimeout.
func TestRelayIdleEitherWay(t *testing.T) {
	t.Parallel()
	const idle, tick, count = 250 * time.Millisecond, 50 * time.Millisecond, 12
	to := target(t, "tcp", slowTarget{tick: tick, count: count})
	_, from := start(t, "tcp", to, relay.Options{IdleTimeout: idle})
	c, err := net.DialTimeout("tcp", from.Addr, testkit.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	start := time.Now()
	got, err := io.ReadAll(c)
	if len(got) != count {
		t.Errorf("read %d bytes (%v) before the close; want all %d the target sent over %v", len(got), err, count, count*tick)
	}
	if d := time.Since(start); d < count*tick {
		t.Errorf("closed after %v, while the target was still talking", d)
	}
}

// openFDs counts this process's descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors here: %v", err)
	}
	return len(ents)
}

// A flood of client addresses (each datagram from a new socket, as one
// client spraying source ports, or forged sources, would send) never
// takes the relay past MaxSessions sessions: in descriptors and in
// goroutines. The least recently used session makes room for each new
// client, and the new client is answered.
func TestRelayMaxSessions(t *testing.T) {
	// Not parallel: it counts the process's descriptors and goroutines.
	const maxSessions, clients = 8, 200
	to := target(t, "udp", service.Echo{})
	reps, onConn := reports(clients)
	r, from := start(t, "udp", to, relay.Options{MaxSessions: maxSessions, OnConn: onConn})
	baseFDs, baseGs := openFDs(t), runtime.NumGoroutine()
	maxFDs, maxGs := 0, 0
	buf := make([]byte, 64)
	// The clients' sockets stay open to the end, so that each has a port
	// of its own; the relay's descriptors are those beyond them.
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.Dial("udp", from.Addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		c.Write([]byte("hello"))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("client %d: %q, %v; want the echo", i, buf[:n], err)
		}
		for deadline := time.Now().Add(testkit.Timeout); r.Stats().Active > maxSessions; {
			if time.Now().After(deadline) {
				t.Fatalf("client %d: %d sessions alive, want at most %d", i, r.Stats().Active, maxSessions)
			}
			runtime.Gosched()
		}
		maxFDs, maxGs = max(maxFDs, openFDs(t)-baseFDs-len(cs)), max(maxGs, runtime.NumGoroutine()-baseGs)
	}
	// A session is a descriptor and a goroutine; evicted ones may take a
	// moment to be gone, hence the slack of a few.
	const slack = 4
	if maxFDs > maxSessions+slack || maxGs > maxSessions+slack {
		t.Errorf("%d clients: at most %d more descriptors and %d more goroutines; want at most %d (MaxSessions) + %d",
			clients, maxFDs, maxGs, maxSessions, slack)
	}
	if st := r.Stats(); st.Conns != clients || st.Evicted != clients-maxSessions {
		t.Errorf("Stats %+v, want %d sessions, %d of them evicted", st, clients, clients-maxSessions)
	}
	if rep := waitFor(t, reps, "report"); !errors.Is(rep.Err, relay.ErrEvicted) || rep.Up != 5 || rep.Down != 5 {
		t.Errorf("first report %+v, want 5 bytes each way and ErrEvicted", rep)
	}
}

// Sessions waiting for their target's answers hold no buffer of their
// own: a few hundred of them cost far less than 64 KiB each.
func TestRelaySessionsShareBuffers(t *testing.T) {
	// Not parallel: it measures the heap.
	const sessions = 300
	to := target(t, "udp", service.Discard{})
	r, from := start(t, "udp", to, relay.Options{MaxSessions: sessions})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := range sessions {
		c, err := net.Dial("udp", from.Addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		c.Write([]byte("x"))
		// One at a time, so that none is dropped on a busy machine.
		for deadline := time.Now().Add(testkit.Timeout); r.Stats().Active <= int64(i); {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions after %v, want %d", r.Stats().Active, testkit.Timeout, i+1)
			}
			runtime.Gosched()
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	if perSession := grew / sessions; perSession > 16<<10 {
		t.Errorf("%d idle sessions grew the heap by %d KiB, %d bytes each; want well under a 64 KiB buffer each", sessions, grew>>10, perSession)
	}
	t.Logf("%d idle sessions: heap in use grew %d KiB", sessions, grew>>10)
}

// A flood of stream clients costs at most MaxConns forwarded connections:
// one beyond them is reset at once, without a connection to the target,
// reported with ErrRefused and counted; once one ends, a new client is
// forwarded again.
func TestRelayMaxConns(t *testing.T) {
	t.Parallel()
	const maxConns = 2
	to := target(t, "tcp", service.Echo{})
	reps, onConn := reports(16)
	r, from := start(t, "tcp", to, relay.Options{MaxConns: maxConns, OnConn: onConn})
	var held []net.Conn
	for i := range maxConns {
		c := testkit.Dial(t, "tcp", from.Addr)
		if err := testkit.RoundTrip(c, []byte("hello")); err != nil { // forwarded
			t.Fatalf("client %d: %v", i, err)
		}
		held = append(held, c)
	}
	extra := testkit.Dial(t, "tcp", from.Addr)
	extra.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if n, err := extra.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a client beyond MaxConns read %d bytes, %v; want a reset (ECONNRESET)", n, err)
	}
	if rep := waitFor(t, reps, "report"); !errors.Is(rep.Err, relay.ErrRefused) || rep.Client == nil {
		t.Errorf("report %+v, want ErrRefused with the client's address", rep)
	}
	if st := r.Stats(); st.Refused != 1 || st.Conns != maxConns {
		t.Errorf("Stats %+v, want %d forwarded and 1 refused", st, maxConns)
	}
	held[0].Close()
	if rep := waitFor(t, reps, "report"); rep.Err != nil || rep.Up != 5 {
		t.Errorf("report of the closed one %+v, want 5 bytes up and no error", rep)
	}
	again := testkit.Dial(t, "tcp", from.Addr)
	if err := testkit.RoundTrip(again, []byte("again")); err != nil {
		t.Errorf("after one ended, a new client is not forwarded: %v", err)
	}
}
