package cli

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// eventWriter is the one home for writing Observer output: the -v
// narration and the --json events. An Observer runs on the goroutine doing
// the socket step, for a server an event loop, so it must never wait for a
// terminal or a pipe. Write copies the line into a bounded queue and
// returns at once; one goroutine, started by newEventWriter and ended by
// Close, drains the queue to the real writer in batches. When the queue is
// full the line is dropped and counted, and the verb reports the count when
// it ends (finish).
type eventWriter struct {
	w     io.Writer
	q     chan []byte
	done  chan struct{} // closed when the drainer has returned
	stop  chan struct{} // closed by Close: drain what is queued, then return
	mu    sync.RWMutex  // Write holds it shared; Close exclusively, to end the queue
	ended bool          // under mu: Close ran; Write writes directly
	// dropped counts lines that found the queue full; queued and written
	// the lines queued and the lines the writer took, whose difference
	// when Close gives up on a stuck writer is lost.
	dropped, queued, written, lost atomic.Uint64
	closeOnce                      sync.Once
	flushWait                      time.Duration // how long Close waits for the writer: eventFlushWait
}

// Queue bounds: at most eventQueueLines lines wait for the writer (each a
// line of narration or one JSON object: a few hundred bytes at most, so a
// few MiB in all), written in batches of up to eventBatchBytes; Close waits
// eventFlushWait at most for the last of them.
const (
	eventQueueLines = 8192
	eventBatchBytes = 64 << 10
	eventFlushWait  = 2 * time.Second
	eventTick       = 10 * time.Millisecond // a person sees no lag; the queue holds 800 000 lines a second
)

// newEventWriter starts the goroutine that writes to w; Close ends it.
func newEventWriter(w io.Writer) *eventWriter {
	a := &eventWriter{w: w, q: make(chan []byte, eventQueueLines), done: make(chan struct{}), stop: make(chan struct{}), flushWait: eventFlushWait}
	go a.drain()
	return a
}

// Write queues a copy of p, one whole line or object, without waiting; a
// line that finds the queue full is counted in Dropped. It never fails.
// After Close it writes to the underlying writer directly.
func (a *eventWriter) Write(p []byte) (int, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ended {
		return a.w.Write(p) // the verb is over: no loop left to hold up
	}
	select {
	case a.q <- append([]byte(nil), p...):
		a.queued.Add(1)
	default:
		a.dropped.Add(1)
	}
	return len(p), nil
}

// WriteWait queues a copy of p like Write, but waits for room, up to
// eventFlushWait, rather than dropping it: for the lines a verb writes
// from its own goroutine (a summary), never from a loop's.
func (a *eventWriter) WriteWait(p []byte) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ended {
		a.w.Write(p)
		return
	}
	t := time.NewTimer(a.flushWait)
	defer t.Stop()
	select {
	case a.q <- append([]byte(nil), p...):
		a.queued.Add(1)
	case <-t.C:
		a.dropped.Add(1)
	}
}

// drain writes queued lines every eventTick until stop, batching what is
// waiting into one write, then writes what is left and returns. It polls
// rather than waiting on the queue so that a Write never wakes a
// goroutine: the loop pays for the copy and the channel send only.
func (a *eventWriter) drain() {
	defer close(a.done)
	buf := make([]byte, 0, eventBatchBytes)
	flush := func() {
		for {
			select {
			case p := <-a.q:
				var n uint64
				buf, n = a.batch(append(buf[:0], p...))
				a.w.Write(buf) // an error here (a closed pipe) has nobody to tell
				a.written.Add(n)
			default:
				return
			}
		}
	}
	tick := time.NewTicker(eventTick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			flush()
		case <-a.stop:
			flush()
			return
		}
	}
}

// batch appends to buf the lines already queued, up to eventBatchBytes,
// and returns it with the number of lines in it (one to begin with).
func (a *eventWriter) batch(buf []byte) ([]byte, uint64) {
	n := uint64(1)
	for ; len(buf) < eventBatchBytes; n++ {
		select {
		case p := <-a.q:
			buf = append(buf, p...)
		default:
			return buf, n
		}
	}
	return buf, n
}

// Close writes what is queued, waiting eventFlushWait at most for a writer
// that does not take it (those lines are counted in Dropped), and ends the
// goroutine unless that writer is stuck. Later writes go straight to the
// writer. Close may be called more than once.
func (a *eventWriter) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.ended = true
		a.mu.Unlock()
		close(a.stop)
		t := time.NewTimer(a.flushWait)
		defer t.Stop()
		select {
		case <-a.done:
		case <-t.C:
			a.lost.Store(a.queued.Load() - a.written.Load())
		}
	})
	return nil
}

// Dropped is how many lines were not written: the queue was full, or the
// writer still had not taken them when Close gave up.
func (a *eventWriter) Dropped() uint64 { return a.dropped.Load() + a.lost.Load() }

// finish closes a and, if lines were dropped, says so on errOut, naming
// what was lost: "narration" for -v, "events" for --json.
func (a *eventWriter) finish(errOut io.Writer, what string) {
	if a == nil {
		return
	}
	a.Close()
	if n := a.Dropped(); n > 0 {
		fmt.Fprintf(errOut, "sockit: %s: %s dropped, the output could not keep up (the sockets were never held up for it)\n", what, plural(n, "line"))
	}
}
