package engine

// timerHeap is a loop's min-heap of deadlines (unix nanoseconds). Each
// timed thing has at most one entry, found through its slot, so that a
// connection that closes takes its entry out at once and a deadline that
// moves earlier moves its entry up. A deadline that moves later keeps the
// entry where it is: fire re-arms for the new time when the old one passes.
type timerHeap []timed

// timed is what the heap holds. fire is called on the loop when the
// deadline passes; it returns the next deadline, or 0 for none.
type timed interface {
	fire(now int64) (next int64)
	slot() *timerSlot
}

// timerSlot is a timed thing's place in the heap.
type timerSlot struct {
	at  int64 // the deadline of the entry, 0 = not in the heap
	idx int   // its index in the heap while at != 0
}

// arm makes sure t fires at or before at.
func (h *timerHeap) arm(at int64, t timed) {
	s := t.slot()
	switch {
	case s.at == 0:
		s.at, s.idx = at, len(*h)
		*h = append(*h, t)
		h.up(s.idx)
	case at < s.at:
		s.at = at
		h.up(s.idx)
	}
}

// remove takes t's entry out, if it has one.
func (h *timerHeap) remove(t timed) {
	s := t.slot()
	if s.at == 0 {
		return
	}
	i, last := s.idx, len(*h)-1
	h.swap(i, last)
	(*h)[last] = nil
	*h = (*h)[:last]
	s.at = 0
	if i < last {
		h.down(i)
		h.up(i)
	}
}

// next returns the earliest deadline, or 0 when the heap is empty.
func (h timerHeap) next() int64 {
	if len(h) == 0 {
		return 0
	}
	return h[0].slot().at
}

// runDue fires every entry due at now, re-arming those that ask for it.
func (h *timerHeap) runDue(now int64) {
	for len(*h) > 0 && (*h)[0].slot().at <= now {
		t := (*h)[0]
		h.remove(t)
		if next := t.fire(now); next > 0 {
			h.arm(next, t)
		}
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot().idx = i
	h[j].slot().idx = j
}

func (h timerHeap) less(i, j int) bool { return h[i].slot().at < h[j].slot().at }

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
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
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}
