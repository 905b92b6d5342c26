package program

import (
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// proc is the one home of how a program is stopped, for Run and Service
// alike: asked first (SIGTERM to its process group), killed grace later
// (SIGKILL to the group), and never signalled once it is being reaped,
// when its process id, the group's, may go to another process. On Linux
// its exit is seen before it is reaped (peekExit), so that what it
// started and left holding its output can still be killed by the group's
// id; elsewhere it is reaped as it exits and signalled no more after.
type proc struct {
	grace   time.Duration  // from SIGTERM to SIGKILL
	stopped *atomic.Uint64 // counts programs asked to stop; may be nil

	mu       sync.Mutex
	cmd      *exec.Cmd // once started
	stopWhy  string    // why a stop was asked; "" = none
	exitSeen bool      // it has exited (Linux, not yet reaped)
	termed   bool      // SIGTERM went to it while it ran
	reaping  bool      // no signal from now on: it is being reaped
	timers   []*time.Timer
}

// start records the started cmd, and asks it to stop at once if that was
// asked before it started.
func (p *proc) start(cmd *exec.Cmd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = cmd
	if p.stopWhy != "" {
		p.termLocked()
	}
}

// stop asks the program to stop (SIGTERM), and kills it (SIGKILL) grace
// later; the first reason given is the one reported.
func (p *proc) stop(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopWhy != "" || p.reaping {
		return
	}
	p.stopWhy = why
	p.termLocked()
	p.timers = append(p.timers, time.AfterFunc(p.grace, func() { p.signal(killGroup) }))
}

// stopLater stops the program after d, unless it is being reaped by then.
func (p *proc) stopLater(d time.Duration, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaping || p.stopWhy != "" {
		return
	}
	p.timers = append(p.timers, time.AfterFunc(d, func() { p.stop(why) }))
}

// termLocked sends the program's group SIGTERM, if the program runs, and
// counts it stopped; p.mu is held.
func (p *proc) termLocked() {
	if p.cmd == nil || p.exitSeen || p.reaping || p.termed {
		return
	}
	p.termed = true
	if p.stopped != nil {
		p.stopped.Add(1)
	}
	termGroup(p.cmd)
}

// signal sends the program's group a signal, unless it is being reaped.
func (p *proc) signal(send func(*exec.Cmd) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.reaping {
		send(p.cmd)
	}
}

// await waits for the started program to exit and reaps it, returning
// Wait's error. On Linux it waits without reaping first, then gives its
// output (outDone closes as the output ends) killWait to end, and kills
// the process group if it has not (what the program started holds it),
// while the group's id is still the program's.
func (p *proc) await(outDone <-chan struct{}, killWait time.Duration) error {
	cmd := p.cmd
	peeked := peekExit(cmd.Process) == nil
	if peeked {
		p.mu.Lock()
		p.exitSeen = true
		p.mu.Unlock()
		t := time.NewTimer(killWait)
		select {
		case <-outDone:
		case <-t.C:
			p.signal(killGroup)
		}
		t.Stop()
		p.noMoreSignals()
	}
	err := cmd.Wait()
	if !peeked {
		p.noMoreSignals()
	}
	return err
}

// noMoreSignals ends signalling: the program is being reaped.
func (p *proc) noMoreSignals() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reaping = true
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
}

// killed is why the program was asked to stop while it ran, or "".
func (p *proc) killed() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.termed {
		return p.stopWhy
	}
	return ""
}
