package tcpstate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// collector gathers what a tracer reports, for a test to wait on.
type collector[T any] struct {
	mu    sync.Mutex
	items []T
	more  chan struct{}
}

func newCollector[T any]() *collector[T] { return &collector[T]{more: make(chan struct{}, 1)} }

func (c *collector[T]) add(x T) {
	c.mu.Lock()
	c.items = append(c.items, x)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// waitUntil waits until done(items) is true and fails after waitLimit.
func (c *collector[T]) waitUntil(t *testing.T, what string, done func([]T) bool) []T {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for range 100000 {
		c.mu.Lock()
		items := append([]T(nil), c.items...)
		c.mu.Unlock()
		if done(items) {
			return items
		}
		select {
		case <-c.more:
		case <-timer.C:
			t.Fatalf("no %s after %s; got:\n%v", what, waitLimit, items)
		}
	}
	t.Fatalf("no %s", what)
	return nil
}

// run starts run in the background and stops it when the test ends.
func runInBackground(t *testing.T, run func(ctx context.Context) error, closeFn func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := closeFn(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// echoOnce runs one connection the way sockit send and the echo service
// do: the client sends, half-closes, reads the answer and closes; the
// server echoes and closes after the client's FIN. The client closes first.
func echoOnce(t *testing.T, ln *net.TCPListener) (client, server net.Conn) {
	t.Helper()
	c, s := connect(t, ln)
	c.Write([]byte("hello\n"))
	c.CloseWrite()
	buf := make([]byte, 64)
	s.SetReadDeadline(time.Now().Add(waitLimit))
	n, _ := s.Read(buf)
	s.Write(buf[:n])
	s.Read(buf) // EOF: the client's FIN
	s.Close()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	readAll(c)
	c.Close()
	return c, s
}

func TestStateTracerSeesEveryState(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "the tracepoint (tracefs) and AF_PACKET")
	for _, host := range loopbacks {
		ln := listen(t, host, nil)
		tr, err := tcpstate.NewStateTracer(tcpstate.Filter{Port: portOf(ln.Addr())})
		if err != nil {
			t.Fatal(err)
		}
		got := newCollector[tcpstate.Transition]()
		runInBackground(t, func(ctx context.Context) error { return tr.Run(ctx, got.add) }, tr.Close)

		c, _ := echoOnce(t, ln)
		cl, cr := ends(c)
		client := tcpstate.Key{Local: cl, Remote: cr}
		server := tcpstate.Key{Local: cr, Remote: cl}
		want := map[tcpstate.Key][]string{
			// The port is chosen just after CLOSED → SYN_SENT, so that
			// transition is matched by the server end alone below.
			client: {"SYN_SENT→ESTABLISHED", "ESTABLISHED→FIN_WAIT_1", "FIN_WAIT_1→FIN_WAIT_2", "FIN_WAIT_2→TIME_WAIT"},
			server: {"LISTEN→SYN_RECV", "SYN_RECV→ESTABLISHED", "ESTABLISHED→CLOSE_WAIT", "CLOSE_WAIT→LAST_ACK", "LAST_ACK→CLOSED"},
		}
		items := got.waitUntil(t, "full lifecycle", func(ts []tcpstate.Transition) bool {
			return hasAll(ts, client, want[client]) && hasAll(ts, server, want[server]) && hasConnect(ts, cr)
		})
		for _, tr := range items {
			if tr.Polled && tr.To != tcpstate.Closed {
				t.Errorf("%+v: polled, want from the tracepoint", tr)
			}
		}
		// TIME_WAIT is on the side that closed first, the client, only.
		if hasAll(items, server, []string{"FIN_WAIT_2→TIME_WAIT"}) {
			t.Errorf("the server, which closed second, went to TIME_WAIT: %v", items)
		}
	}
}

func hasAll(ts []tcpstate.Transition, k tcpstate.Key, want []string) bool {
	have := map[string]bool{}
	for _, tr := range ts {
		if tr.Key() == k {
			have[fmt.Sprintf("%s→%s", tr.From, tr.To)] = true
		}
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func hasConnect(ts []tcpstate.Transition, server netip.AddrPort) bool {
	for _, tr := range ts {
		if tr.From == tcpstate.Closed && tr.To == tcpstate.SynSent && tr.Remote == server {
			return true
		}
	}
	return false
}

func TestCaptureSeesHandshakeAndTeardown(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "the tracepoint (tracefs) and AF_PACKET")
	for _, host := range loopbacks {
		ln := listen(t, host, nil)
		cp, err := tcpstate.NewCapture(tcpstate.Filter{Port: portOf(ln.Addr())})
		if err != nil {
			t.Fatal(err)
		}
		got := newCollector[tcpstate.Segment]()
		runInBackground(t, func(ctx context.Context) error { return cp.Run(ctx, got.add) }, cp.Close)

		echoOnce(t, ln)
		// SYN, SYN-ACK, ACK; data both ways; FIN, ACK, FIN, ACK: each once.
		segs := got.waitUntil(t, "the final ACK", func(ss []tcpstate.Segment) bool {
			return len(flagsOf(ss)) >= 3 && countFIN(ss) == 2 && lastIsPureACK(ss)
		})
		var tl tcpstate.Timeline
		var lines []string
		for _, s := range segs {
			for _, st := range tl.AddSegment(s) {
				lines = append(lines, fmt.Sprintf("%s seq=%d ack=%d len=%d", s.Flags, st.RelSeq, st.RelAck, s.Len))
			}
		}
		want := []string{"SYN seq=0 ack=0 len=0", "SYN-ACK seq=0 ack=1 len=0", "ACK seq=1 ack=1 len=0"}
		for i, w := range want {
			if i >= len(lines) || lines[i] != w {
				t.Fatalf("%s: handshake:\n%s\nwant it to begin:\n%s", host, strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
		}
		if segs[0].Seq+1 != segs[1].Ack {
			t.Errorf("SYN-ACK ack=%d, want the SYN's seq+1 = %d", segs[1].Ack, segs[0].Seq+1)
		}
	}
}

func flagsOf(ss []tcpstate.Segment) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Flags.String())
	}
	return out
}

func countFIN(ss []tcpstate.Segment) int {
	n := 0
	for _, s := range ss {
		if s.Flags&tcpstate.FIN != 0 {
			n++
		}
	}
	return n
}

func lastIsPureACK(ss []tcpstate.Segment) bool {
	return len(ss) > 0 && ss[len(ss)-1].Flags == tcpstate.ACK && countFIN(ss) == 2
}

func TestTracersNeedRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("runs as a user without root; here we are root")
	}
	if _, err := tcpstate.NewStateTracer(tcpstate.Filter{}); !errors.Is(err, tcpstate.ErrNeedRoot) {
		t.Errorf("NewStateTracer: %v, want ErrNeedRoot", err)
	}
	if _, err := tcpstate.NewCapture(tcpstate.Filter{}); !errors.Is(err, tcpstate.ErrNeedRoot) {
		t.Errorf("NewCapture: %v, want ErrNeedRoot", err)
	}
}

// The poller sees states that last: here FIN_WAIT_2 and CLOSE_WAIT.
func TestPollerSeesLastingStates(t *testing.T) {
	t.Parallel()
	ln := listen(t, "127.0.0.1", nil)
	p, err := tcpstate.NewPoller(tcpstate.Filter{Port: portOf(ln.Addr())}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := newCollector[tcpstate.Transition]()
	runInBackground(t, func(ctx context.Context) error { return p.Run(ctx, got.add) }, func() error { return nil })
	c, _ := connect(t, ln)
	cl, cr := ends(c)
	client := tcpstate.Key{Local: cl, Remote: cr}
	got.waitUntil(t, "ESTABLISHED", func(ts []tcpstate.Transition) bool { return reached(ts, client, tcpstate.Established) })
	c.CloseWrite()
	items := got.waitUntil(t, "FIN_WAIT_2 and CLOSE_WAIT", func(ts []tcpstate.Transition) bool {
		return reached(ts, client, tcpstate.FinWait2) && reached(ts, tcpstate.Key{Local: cr, Remote: cl}, tcpstate.CloseWait)
	})
	for _, tr := range items {
		if !tr.Polled {
			t.Errorf("%+v: Polled false from a poller", tr)
		}
	}
}

func reached(ts []tcpstate.Transition, k tcpstate.Key, st tcpstate.State) bool {
	for _, tr := range ts {
		if tr.Key() == k && tr.To == st {
			return true
		}
	}
	return false
}
