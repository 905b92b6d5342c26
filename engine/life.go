package engine

import (
	"context"
	"sync"
	"sync/atomic"
)

// lifecycle counts a server's open connections and holds the part of
// Shutdown every backend shares: once it begins no connection is admitted,
// and it waits until every admitted connection has ended, or its context
// ends and the backend closes the rest.
type lifecycle struct {
	active  atomic.Int64 // admitted and not yet gone: Stats.Active
	mu      sync.Mutex
	closing bool
	drained chan struct{} // closed once closing and active == 0
	once    sync.Once
}

func newLifecycle() *lifecycle { return &lifecycle{drained: make(chan struct{})} }

// admit counts a new connection (accepted, or a dial starting), unless
// Shutdown has begun; then the caller closes it without telling a handler
// (an accepted one) or reports ErrShutdown (a dial).
func (l *lifecycle) admit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.active.Add(1)
	return true
}

// unlessClosing runs f, unless Shutdown has begun, and reports whether it
// ran. Shutdown cannot begin while f runs: work f hands to the backend
// (a listener for a loop) is queued ahead of Shutdown's own.
func (l *lifecycle) unlessClosing(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	f()
	return true
}

// closingNow reports whether Shutdown has begun: a connection admitted
// before it but not yet opened is closed without its handler hearing of
// it.
func (l *lifecycle) closingNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

// gone is called once per admitted connection when it has ended, before
// its handler's OnClose, so that Stats agree with what OnClose reports.
func (l *lifecycle) gone() {
	if l.active.Add(-1) == 0 && l.closingNow() {
		l.once.Do(func() { close(l.drained) })
	}
}

// begin starts Shutdown; it reports false if Shutdown had begun already.
func (l *lifecycle) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.closing = true
	return true
}

// wait returns once every admitted connection has gone. If ctx ends first,
// force closes those that remain and reports whether it closed any; wait
// then returns ctx.Err() if it did (nil if they were ending on their own).
func (l *lifecycle) wait(ctx context.Context, force func() bool) error {
	if l.active.Load() == 0 {
		l.once.Do(func() { close(l.drained) })
	}
	select {
	case <-l.drained:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-l.drained: // both were ready: nothing had to be closed
		return nil
	default:
	}
	closed := force()
	<-l.drained
	if !closed {
		return nil
	}
	return ctx.Err()
}
