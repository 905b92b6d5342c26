package engine

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestCausePrecedence(t *testing.T) {
	t.Parallel()
	reset := errors.New("reset")
	late := errors.New("late")
	for _, tc := range []struct {
		name string
		do   func(c *cause)
		want error
	}{
		{name: "clean", do: func(*cause) {}, want: nil},
		{name: "first error wins", do: func(c *cause) { c.fail(reset); c.fail(late) }, want: reset},
		{name: "idle alone", do: func(c *cause) { c.idled() }, want: ErrIdle},
		{name: "an error after idle wins", do: func(c *cause) { c.idled(); c.fail(reset) }, want: reset},
		{name: "idle after an error does not", do: func(c *cause) { c.fail(reset); c.idled() }, want: reset},
		{name: "nil is no error", do: func(c *cause) { c.fail(nil); c.fail(late) }, want: late},
	} {
		var c cause
		tc.do(&c)
		if got := c.result(); got != tc.want {
			t.Errorf("%s: result %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLeftoverInput(t *testing.T) {
	t.Parallel()
	data := []byte("abcdef")
	for _, tc := range []struct {
		k     int
		limit int
		want  string
		err   error
	}{
		{k: 6, limit: 0, want: ""},
		{k: 2, limit: 10, want: "cdef"},
		{k: -3, limit: 10, want: "abcdef"}, // clamped
		{k: 99, limit: 10, want: ""},       // clamped
		{k: 1, limit: 4, err: ErrInputTooLarge},
	} {
		rest, err := unconsumed(data, tc.k, tc.limit)
		if err != tc.err || string(rest) != tc.want {
			t.Errorf("unconsumed(k=%d, limit=%d) = %q, %v; want %q, %v", tc.k, tc.limit, rest, err, tc.want, tc.err)
		}
	}
	// The rest may alias the buffer it is kept in; memory is counted in
	// whole units, not doubled.
	var b budget
	in := input{budget: &b}
	if got := in.join([]byte("fresh")); string(got) != "fresh" || in.len() != 0 {
		t.Fatalf("join with nothing left over = %q (kept %d)", got, in.len())
	}
	in.keep([]byte("xyz123"))
	if in.len() != 6 || b.used.Load() != inputUnit {
		t.Fatalf("kept %d bytes, budget %d; want 6 and one unit", in.len(), b.used.Load())
	}
	in.keep(in.b[3:])
	if string(in.b) != "123" {
		t.Fatalf("keep over itself = %q, want 123", in.b)
	}
	if got := in.join([]byte("45")); string(got) != "12345" {
		t.Fatalf("join = %q, want 12345", got)
	}
	in.join(make([]byte, 3*inputUnit))
	if c := cap(in.b); c != 4*inputUnit || b.used.Load() != int64(c) {
		t.Fatalf("after growing to %d bytes: cap %d, budget %d; want %d both", in.len(), c, b.used.Load(), 4*inputUnit)
	}
	in.release()
	if b.used.Load() != 0 {
		t.Fatalf("budget %d after release", b.used.Load())
	}
}

func TestBackpressureHysteresis(t *testing.T) {
	t.Parallel()
	cfg := (&Config{HighWatermark: 100, LowWatermark: 40}).withDefaults()
	paused := false
	for _, step := range []struct {
		pending int
		lvl     pressure
		want    bool
	}{
		{pending: 100, want: false}, // at the high watermark, not above it
		{pending: 101, want: true},
		{pending: 60, want: true}, // between the marks: stays paused
		{pending: 40, want: false},
		{pending: 60, want: false}, // between the marks: stays reading
		{pending: 60, lvl: budgetReached, want: true},
		{pending: 40, lvl: budgetReached, want: false}, // at the low watermark the budget lets it read
		{pending: 10, lvl: budgetOver, want: true},     // over: anything pending pauses
		{lvl: budgetOver, want: false},                 // nothing pending: it reads
		{pending: 0, want: false},
	} {
		paused = cfg.paused(paused, step.pending, step.lvl)
		if paused != step.want {
			t.Fatalf("pending %d level %d: paused %v, want %v", step.pending, step.lvl, paused, step.want)
		}
	}
}

func TestBudgetLevels(t *testing.T) {
	relaxed := 0
	b := budget{limit: 800, relax: func() { relaxed++ }}
	for _, step := range []struct {
		add  int64
		want pressure
	}{
		{add: 799, want: budgetOK},
		{add: 1, want: budgetReached},
		{add: 99, want: budgetReached},
		{add: 1, want: budgetOver}, // 900 = 800 + 800/8
		{add: -50, want: budgetReached},
		{add: -850, want: budgetOK},
	} {
		b.add(step.add)
		if got := b.level(); got != step.want {
			t.Fatalf("at %d: level %d, want %d", b.used.Load(), got, step.want)
		}
	}
	if relaxed != 1 {
		t.Fatalf("relaxed %d times, want once (leaving over)", relaxed)
	}
	var none *budget
	none.add(5) // a queue outside a server counts nothing
	if none.level() != budgetOK {
		t.Fatal("no budget is not OK")
	}
	if (&budget{limit: -1}).levelOf(1<<40) != budgetOK {
		t.Fatal("a negative limit is no budget")
	}
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	const s = int64(time.Second)
	cfg := (&Config{IdleTimeout: 10 * time.Second, WriteTimeout: 3 * time.Second}).withDefaults()
	d := cfg.deadlines(stOpen, false, 100*s, 105*s, true, 0)
	if d.idle != 110*s || d.write != 108*s || d.linger != 0 || d.next() != 108*s {
		t.Fatalf("open with output pending: %+v, next %d", d, d.next())
	}
	if got := d.expired(107 * s); got != expNone {
		t.Fatalf("expired before any deadline: %v", got)
	}
	if got := d.expired(108 * s); got != expWrite {
		t.Fatalf("at the write deadline: %v, want write", got)
	}
	if d.reading() != 110*s || d.writing() != 108*s {
		t.Fatalf("reading %d writing %d", d.reading(), d.writing())
	}
	// Nothing pending: no write deadline. Closing: no idle one, linger
	// bounds both directions and goes first.
	d = cfg.deadlines(stClosing, false, 100*s, 105*s, false, 104*s)
	if d.idle != 0 || d.write != 0 || d.reading() != 104*s || d.writing() != 104*s {
		t.Fatalf("closing: %+v", d)
	}
	d = cfg.deadlines(stClosing, false, 100*s, 0, true, 200*s)
	if got := d.expired(300 * s); got != expLinger {
		t.Fatalf("all past: %v, want linger (it resets first)", got)
	}
	// After the peer's FIN nothing more is read: no idle deadline.
	if d := cfg.deadlines(stPeerClosed, false, 100*s, 0, false, 0); d.next() != 0 {
		t.Fatalf("peer closed, nothing pending: %+v", d)
	}
	// Reading paused by the handler: not idle, whatever the last input.
	if d := cfg.deadlines(stOpen, true, 100*s, 0, false, 0); d.next() != 0 {
		t.Fatalf("reading paused, nothing pending: %+v", d)
	}
}

func TestTimeoutError(t *testing.T) {
	t.Parallel()
	err := timeoutError(opWrite)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("%v is not both a deadline and ETIMEDOUT", err)
	}
	cerr := connectError("tcp", "127.0.0.1:1", errDialTimeout)
	if !errors.Is(cerr, os.ErrDeadlineExceeded) {
		t.Fatalf("a dial timeout %v is not a deadline", cerr)
	}
}

func TestAcceptBackoff(t *testing.T) {
	t.Parallel()
	var b acceptBackoff
	now := int64(10 * time.Second)
	var waits []time.Duration
	reports := 0
	for i := 0; i < 10; i++ {
		w, report := b.failed(now + int64(i)*int64(time.Millisecond))
		waits = append(waits, w)
		if report {
			reports++
		}
	}
	if waits[0] != 5*time.Millisecond || waits[1] != 10*time.Millisecond || waits[9] != time.Second {
		t.Fatalf("waits %v: want 5ms doubling up to 1s", waits)
	}
	if reports != 1 {
		t.Fatalf("%d reports within 10ms, want 1", reports)
	}
	if _, report := b.failed(now + int64(2*time.Second)); !report {
		t.Fatal("no report a second later")
	}
	b.ok()
	if w, _ := b.failed(now); w != 5*time.Millisecond {
		t.Fatalf("after ok the wait starts again at %v, want 5ms", w)
	}
}

func TestOutq(t *testing.T) {
	t.Parallel()
	var b budget
	q := outq{budget: &b}
	join := func(v [][]byte) string {
		var s []byte
		for _, p := range v {
			s = append(s, p...)
		}
		return string(s)
	}
	q.push([]byte("hello "), false)
	q.push([]byte("world"), false)
	if got := join(q.vectors(false)); got != "hello world" || b.used.Load() != chunkSize {
		t.Fatalf("vectors %q, budget %d", got, b.used.Load())
	}
	q.advance(6, false)
	if q.len() != 5 || join(q.vectors(false)) != "world" {
		t.Fatalf("after a partial write: len %d vectors %q", q.len(), join(q.vectors(false)))
	}
	q.advance(5, false)
	if len(q.chunks) != 0 || q.len() != 0 || b.used.Load() != 0 {
		t.Fatalf("an empty queue kept %d chunks, budget %d", len(q.chunks), b.used.Load())
	}
	// A megabyte is held in a megabyte: whole chunks, not a doubled slice.
	big := make([]byte, 1<<20+1)
	for i := range big {
		big[i] = byte(i)
	}
	q.push(big, false)
	if q.held() != (1<<20)+chunkSize || int(b.used.Load()) != q.held() {
		t.Fatalf("1 MiB + 1 held in %d bytes, budget %d", q.held(), b.used.Load())
	}
	var out []byte
	for q.len() > 0 {
		v := q.vectors(false)
		if len(v) > maxVectors {
			t.Fatalf("%d vectors", len(v))
		}
		k := min(len(v[0]), 1000) // the kernel takes a part
		out = append(out, v[0][:k]...)
		q.advance(k, false)
	}
	if string(out) != string(big) || b.used.Load() != 0 {
		t.Fatalf("read back %d bytes (equal %v), budget %d", len(out), string(out) == string(big), b.used.Load())
	}
	// Messages come out one at a time, whole, even across chunks.
	q.push([]byte("one"), true)
	long := make([]byte, chunkSize+10)
	q.push(long, true)
	if got := join(q.vectors(true)); got != "one" {
		t.Fatalf("first message %q", got)
	}
	q.advance(3, true)
	if got := q.vectors(true); len(got) != 2 || len(got[0])+len(got[1]) != len(long) {
		t.Fatalf("second message in %d vectors", len(got))
	}
	q.drop()
	if q.len() != 0 || len(q.chunks) != 0 || len(q.msgs) != 0 || b.used.Load() != 0 {
		t.Fatalf("drop left %d bytes, %d messages, budget %d", q.len(), len(q.msgs), b.used.Load())
	}
}

// A loan goes out first, ahead of what was copied after it, costs the
// budget nothing, and is handed back exactly once: when written, or when
// the queue is dropped.
func TestOutqLoan(t *testing.T) {
	t.Parallel()
	var b budget
	q := outq{budget: &b}
	var repaid []int32
	repay := func(id int32) { repaid = append(repaid, id) }
	lent := []byte("echo ")
	q.lend(lent, 7, repay)
	q.push([]byte("and more"), false)
	if q.len() != 13 || b.used.Load() != chunkSize {
		t.Fatalf("len %d, budget %d: want 13 and one chunk (the loan is not the budget's)", q.len(), b.used.Load())
	}
	if v := q.vectors(false); len(v) != 2 || &v[0][0] != &lent[0] || string(v[1]) != "and more" {
		t.Fatalf("vectors %q: want the lent bytes themselves, then the copy", v)
	}
	q.advance(3, false) // part of the loan
	if len(repaid) != 0 || string(q.vectors(false)[0]) != "o " {
		t.Fatalf("after 3 bytes: repaid %v, next %q", repaid, q.vectors(false)[0])
	}
	q.advance(4, false) // the rest of the loan and 2 bytes of the chunk
	if len(repaid) != 1 || repaid[0] != 7 || string(q.vectors(false)[0]) != "d more" {
		t.Fatalf("after the loan: repaid %v, next %q", repaid, q.vectors(false)[0])
	}
	q.advance(6, false)
	if q.len() != 0 || b.used.Load() != 0 || len(repaid) != 1 {
		t.Fatalf("emptied: len %d, budget %d, repaid %v", q.len(), b.used.Load(), repaid)
	}
	q.release()
	q.lend([]byte("never sent"), 8, repay)
	q.drop()
	q.release()
	if len(repaid) != 2 || repaid[1] != 8 || q.len() != 0 {
		t.Fatalf("a dropped loan: repaid %v, len %d; want 8 given back once", repaid, q.len())
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	l := newLifecycle()
	for i := 0; i < 2; i++ {
		if !l.admit() {
			t.Fatalf("admit %d refused before Shutdown", i)
		}
	}
	if first := l.begin(); !first {
		t.Fatal("the first begin reported false")
	}
	if again := l.begin(); again {
		t.Fatal("a second begin reported true")
	}
	if l.admit() {
		t.Fatal("admitted after Shutdown began")
	}
	if l.unlessClosing(func() { t.Fatal("ran after Shutdown began") }) {
		t.Fatal("unlessClosing reported running")
	}
	// One ends on its own; the other is forced when the context ends.
	l.gone()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	forced := 0
	err := l.wait(ctx, func() bool { forced++; l.gone(); return true })
	if forced != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("wait: forced %d times, err %v; want 1, context.Canceled", forced, err)
	}
	if l.active.Load() != 0 {
		t.Fatalf("active %d after wait", l.active.Load())
	}
	// Nothing open: wait returns at once without forcing.
	l2 := newLifecycle()
	l2.begin()
	if err := l2.wait(ctx, func() bool { t.Fatal("forced with nothing open"); return false }); err != nil {
		t.Fatal(err)
	}
}
