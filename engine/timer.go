package engine

// timerHeap is a loop's min-heap of deadlines (unix nanoseconds). Entries
// are lazy: a connection whose deadline moved later keeps its old entry, and
// the loop re-arms it when it fires early. An entry is either a connection
// or a listener waiting to accept again.
type timerHeap []timerEntry

type timerEntry struct {
	at int64
	t  timed
}

// timed is what a timer entry points at. fire is called on the loop when
// the deadline passes; it returns the next deadline, or 0 for none. slot
// holds the deadline of the thing's live entry (0 = none); entries whose at
// differs are stale and skipped.
type timed interface {
	fire(now int64) (next int64)
	slot() *int64
}

// arm makes sure t fires at or before at.
func (h *timerHeap) arm(at int64, t timed) {
	if s := t.slot(); *s == 0 || at < *s {
		h.push(at, t)
	}
}

func (h *timerHeap) push(at int64, t timed) {
	*h = append(*h, timerEntry{at: at, t: t})
	h.up(len(*h) - 1)
	*t.slot() = at
}

// next returns the earliest deadline, or 0 when the heap is empty.
func (h timerHeap) next() int64 {
	if len(h) == 0 {
		return 0
	}
	return h[0].at
}

// runDue fires every entry due at now, re-arming those that ask for it.
func (h *timerHeap) runDue(now int64) {
	for len(*h) > 0 && (*h)[0].at <= now {
		e := (*h)[0]
		h.pop()
		if s := e.t.slot(); *s != e.at {
			continue // superseded by an earlier entry
		} else {
			*s = 0
		}
		if next := e.t.fire(now); next > 0 {
			h.push(next, e.t)
		}
	}
}

func (h *timerHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	old[n] = timerEntry{}
	*h = old[:n]
	h.down(0)
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (h timerHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
