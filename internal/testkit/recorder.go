package testkit

import (
	"sync"

	"github.com/sockit/sockit"
)

// Recorder is a sockit.Observer that keeps every event it is told of. It
// is safe for the concurrent calls of a server's loops and a client's
// goroutines. The zero value is ready to use.
type Recorder struct {
	mu  sync.Mutex
	evs []sockit.Event
}

// Observe records e, with a copy of its Data (valid only during the call).
func (r *Recorder) Observe(e sockit.Event) {
	if e.Data != nil {
		e.Data = append([]byte(nil), e.Data...)
	}
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []sockit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sockit.Event(nil), r.evs...)
}

// Steps returns the steps of the events recorded so far, in order.
func (r *Recorder) Steps() []sockit.Step {
	var s []sockit.Step
	for _, e := range r.Events() {
		s = append(s, e.Step)
	}
	return s
}

// Has reports whether an event of step s was recorded.
func (r *Recorder) Has(s sockit.Step) bool {
	for _, e := range r.Events() {
		if e.Step == s {
			return true
		}
	}
	return false
}

// Texts returns the narration of the events recorded so far
// (Event.String), in order.
func (r *Recorder) Texts() []string {
	var s []string
	for _, e := range r.Events() {
		s = append(s, e.String())
	}
	return s
}
