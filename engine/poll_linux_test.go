package engine

import (
	"testing"
	"time"
)

// waitOnce is one pass of the loop's wait as loop.run makes it: wait, then
// consume the ticks and wake-ups it returned. A busy wait is a raw system
// call, which the runtime's preemption signal can interrupt (EINTR): the
// wait then returns nothing and the loop waits again, as this does. A wait
// without a timeout returns nothing only so.
func waitOnce(t *testing.T, p *poller, timeout time.Duration) int {
	t.Helper()
	for range 100 {
		n, err := p.wait(timeout)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && timeout < 0 {
			continue // interrupted
		}
		for i := 0; i < n; i++ {
			switch fd, _ := p.ep.Event(i); {
			case p.ep.IsTick(fd):
				p.tick(n)
			case p.ep.IsWake(fd):
				p.ep.ConsumeWake()
			}
		}
		return n
	}
	t.Fatal("100 waits without a timeout in a row were interrupted")
	return 0
}

func firstFD(p *poller) int {
	fd, _ := p.ep.Event(0)
	return fd
}

// A busy poller that hears nothing for a whole tick turns idle and stops
// ticking; the next event makes it busy again and the ticks resume.
func TestPollerGoesIdleWhenQuiet(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.ep.Close()

	p.ep.Wake()
	waitOnce(t, p, -1) // the ordinary wait ends with the wake-up: busy
	if !p.busy {
		t.Fatal("not busy after a wait that returned an event")
	}
	// Busy waits have no timeout; only the ticks end them. The first tick
	// may still count the wake-up's wait, the second cannot.
	for i := 0; p.busy; i++ {
		if i == 3 {
			t.Fatalf("still busy after %d quiet ticks", i)
		}
		n := waitOnce(t, p, -1)
		for tries := 0; n == 0 && tries < 10; tries++ {
			n = waitOnce(t, p, -1) // a signal ended the raw wait: it saw nothing
		}
		if n != 1 || !p.ep.IsTick(firstFD(p)) {
			t.Fatalf("a quiet busy wait returned %d events, first fd %d; want only the tick", n, firstFD(p))
		}
		if !p.ticking {
			t.Fatal("busy without ticking")
		}
	}

	// Idle: the next wait disarms the ticks, so with a timer's timeout it
	// returns nothing rather than a tick.
	if n := waitOnce(t, p, 3*quietTick); n != 0 {
		t.Fatalf("idle wait returned %d events, want 0 (the ticks should be off)", n)
	}
	if p.ticking {
		t.Fatal("still ticking while idle")
	}
	// A due timer is work: the loop counts as busy again and ticks.
	waitOnce(t, p, 0)
	if !p.busy || !p.ticking {
		t.Fatalf("busy %v ticking %v after a due timer, want both", p.busy, p.ticking)
	}
}

// While something happens more often than every tick, the poller stays busy.
func TestPollerStaysBusyUnderLoad(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.ep.Close()
	p.ep.Wake()
	waitOnce(t, p, -1)
	deadline := time.Now().Add(20 * quietTick)
	for time.Now().Before(deadline) {
		p.ep.Wake()
		waitOnce(t, p, -1)
		if !p.busy {
			t.Fatal("went idle while woken on every wait")
		}
	}
}
