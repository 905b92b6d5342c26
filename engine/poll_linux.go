package engine

import (
	"time"

	"github.com/sockit/sockit/internal/sock"
)

// poller is a loop's epoll instance (sock.Epoll, with its eventfd that
// other goroutines write to wake the loop, and its timerfd) and the policy
// of how the loop waits.
//
// How a loop waits matters more than anything else it does. A blocking
// epoll_wait(2) made as an ordinary system call has the Go runtime's
// monitor take the loop's processor away after 20 µs and wake another
// thread to hold it, then hand it back when the call returns: on a loop
// that sleeps between every few messages, that costs more CPU than the echo
// itself (measured: 15–20 % of the server's CPU, see README). So while the
// loop is busy it waits with a raw system call the scheduler does not
// track, and blocks the ordinary way only when it is idle, giving its
// processor back for as long as it sleeps.
//
// Telling busy from idle must not cost a timeout per wait: a timeout arms a
// kernel hrtimer on every sleep and cancels it on every wake-up, which on
// this VM cost about 2 µs per 64-byte echo (server CPU per message at 40 000
// msgs/s: 15.7 µs with a 1 ms timeout on each raw wait, 13.8 µs without).
// Instead, while the loop is busy, the timerfd ticks every quietTick; a
// raw wait has no timeout but a due timer's. When a tick finds that no
// wait since the previous tick returned anything else, the loop has been
// quiet for a whole tick: it is idle, the ticking stops and the next wait
// is the ordinary one. So other goroutines get the processor within one
// to two ticks of a loop going quiet (while it stays busy, within the
// runtime's 10 ms preemption, as with any goroutine that never blocks), and
// an idle loop costs nothing. Signals (the runtime's preemption, the
// garbage collector's) end a raw wait at once with EINTR.
//
// The uring backend waits by the same policy (pacer), with a timeout
// request in its ring for the tick.
type poller struct {
	ep *sock.Epoll
	pacer
}

// pacer is the policy of how a loop waits: raw while busy, the ordinary
// way once a whole tick has passed with nothing but the tick.
type pacer struct {
	busy    bool   // wait raw
	ticking bool   // the tick is armed
	waits   uint64 // waits that returned events or a due timer
	tickAt  uint64 // waits as of the last tick
}

// woke counts a wait that returned: the loop has work.
func (p *pacer) woke() {
	p.waits++
	p.busy = true
}

// ticked counts a tick that came alone or with others in its wait; a tick
// that is alone and the only thing any wait returned since the previous
// tick means the loop is idle.
func (p *pacer) ticked(alone bool) {
	if alone && p.waits == p.tickAt+1 {
		p.busy = false
	}
	p.tickAt = p.waits
}

// quietTick is how long a busy loop must see nothing before it counts as
// idle (at most twice this).
const quietTick = time.Millisecond

// pollEvents is how many events one wait returns at most.
const pollEvents = 256

func newPoller() (*poller, error) {
	ep, err := sock.NewEpoll(pollEvents)
	if err != nil {
		return nil, err
	}
	return &poller{ep: ep}, nil
}

// wait returns the number of ready events, waiting up to timeout (< 0:
// without limit); Event(i) reads them.
func (p *poller) wait(timeout time.Duration) (int, error) {
	if p.busy != p.ticking {
		p.setTicking(p.busy)
	}
	n, err := p.ep.Wait(timeout, p.busy || timeout == 0)
	switch {
	case err == sock.ErrInterrupted:
		return 0, nil
	case err != nil:
		return 0, err
	}
	p.woke() // events, or a timer due
	return n, nil
}

// tick consumes a tick of the timerfd, which came with n events in all
// (itself included).
func (p *poller) tick(n int) {
	p.ep.ConsumeTick()
	p.ticked(n == 1)
}

// setTicking arms the timerfd to tick every quietTick, or disarms it.
func (p *poller) setTicking(on bool) {
	d := time.Duration(0)
	if on {
		d = quietTick
	}
	if p.ep.SetTick(d) != nil {
		p.busy = false // no ticks to end a raw wait: wait the ordinary way
		return
	}
	p.ticking = on
	p.tickAt = p.waits
}
