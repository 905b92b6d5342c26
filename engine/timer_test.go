package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type fakeTimed struct {
	id    int
	s     timerSlot
	fired []int64
	again int64 // fire returns this
}

func (f *fakeTimed) slot() *timerSlot { return &f.s }
func (f *fakeTimed) fire(now int64) int64 {
	f.fired = append(f.fired, now)
	next := f.again
	f.again = 0
	return next
}

// The heap fires in deadline order, moves an entry up when its deadline
// comes earlier, removes entries at once, and re-arms what fire asks for.
func TestTimerHeap(t *testing.T) {
	t.Parallel()
	var h timerHeap
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]*fakeTimed, 200)
	for i := range items {
		items[i] = &fakeTimed{id: i}
		h.arm(int64(1000+r.IntN(1000)), items[i])
	}
	// Arming later keeps the earlier deadline; arming earlier moves it.
	h.arm(5000, items[0])
	h.arm(1, items[1])
	if got := h.next(); got != 1 {
		t.Fatalf("next() = %d after arming item 1 at 1, want 1", got)
	}
	// Removing takes entries out at once, wherever they are.
	for i := 100; i < 200; i++ {
		h.remove(items[i])
		if items[i].s.at != 0 {
			t.Fatalf("item %d still has a deadline after remove", i)
		}
	}
	if len(h) != 100 {
		t.Fatalf("len = %d after removing 100 of 200, want 100", len(h))
	}
	h.remove(items[150]) // not in the heap: nothing happens
	items[2].again = 3000
	for now := int64(0); now <= 4000; now += 7 {
		h.runDue(now)
	}
	for i, it := range items {
		switch {
		case i >= 100:
			if len(it.fired) != 0 {
				t.Errorf("removed item %d fired %d times", i, len(it.fired))
			}
		case i == 2:
			if len(it.fired) != 2 {
				t.Errorf("re-armed item 2 fired %d times, want 2", len(it.fired))
			}
		default:
			if len(it.fired) != 1 {
				t.Errorf("item %d fired %d times, want 1", i, len(it.fired))
			}
		}
	}
	if len(h) != 0 {
		t.Errorf("len = %d after everything fired, want 0", len(h))
	}
	// Heap order: run a fresh heap and check fire times never decrease.
	var h2 timerHeap
	var fires []int64
	for i := 0; i < 300; i++ {
		h2.arm(int64(1+r.IntN(10000)), &fakeTimed{id: i})
	}
	for len(h2) > 0 {
		at := h2.next()
		fires = append(fires, at)
		h2.runDue(at)
	}
	if !slices.IsSorted(fires) {
		t.Errorf("deadlines fired out of order")
	}
}
