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
	// The rest may alias the buffer it is kept in.
	left := []byte("xyz123")
	left = keepInput(left, left[3:])
	if string(left) != "123" {
		t.Fatalf("keepInput over itself = %q, want 123", left)
	}
	if got := joinInput(&left, []byte("45")); string(got) != "12345" {
		t.Fatalf("joinInput = %q, want 12345", got)
	}
	var none []byte
	fresh := []byte("new")
	if got := joinInput(&none, fresh); &got[0] != &fresh[0] {
		t.Fatal("joinInput with nothing left over copied the fresh bytes")
	}
}

func TestBackpressureHysteresis(t *testing.T) {
	t.Parallel()
	cfg := (&Config{HighWatermark: 100, LowWatermark: 40}).withDefaults()
	paused := false
	for _, step := range []struct {
		pending int
		want    bool
	}{
		{pending: 100, want: false}, // at the high watermark, not above it
		{pending: 101, want: true},
		{pending: 60, want: true}, // between the marks: stays paused
		{pending: 40, want: false},
		{pending: 60, want: false}, // between the marks: stays reading
		{pending: 0, want: false},
	} {
		paused = cfg.paused(paused, step.pending)
		if paused != step.want {
			t.Fatalf("pending %d: paused %v, want %v", step.pending, paused, step.want)
		}
	}
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	const s = int64(time.Second)
	cfg := (&Config{IdleTimeout: 10 * time.Second, WriteTimeout: 3 * time.Second}).withDefaults()
	d := cfg.deadlines(stOpen, 100*s, 105*s, true, 0)
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
	d = cfg.deadlines(stClosing, 100*s, 105*s, false, 104*s)
	if d.idle != 0 || d.write != 0 || d.reading() != 104*s || d.writing() != 104*s {
		t.Fatalf("closing: %+v", d)
	}
	d = cfg.deadlines(stClosing, 100*s, 0, true, 200*s)
	if got := d.expired(300 * s); got != expLinger {
		t.Fatalf("all past: %v, want linger (it resets first)", got)
	}
	// After the peer's FIN nothing more is read: no idle deadline.
	if d := cfg.deadlines(stPeerClosed, 100*s, 0, false, 0); d.next() != 0 {
		t.Fatalf("peer closed, nothing pending: %+v", d)
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
	var q outq
	q.push([]byte("hello "), false)
	q.push([]byte("world"), false)
	if got := string(q.chunk(false)); got != "hello world" {
		t.Fatalf("chunk %q", got)
	}
	q.advance(6, false)
	if q.len() != 5 || string(q.chunk(false)) != "world" {
		t.Fatalf("after a partial write: len %d chunk %q", q.len(), q.chunk(false))
	}
	q.advance(5, false)
	if q.buf != nil || q.len() != 0 {
		t.Fatal("an empty queue kept its buffer")
	}
	// Messages come out one at a time.
	q.push([]byte("one"), true)
	q.push([]byte("three"), true)
	if got := string(q.chunk(true)); got != "one" {
		t.Fatalf("first message %q", got)
	}
	q.advance(3, true)
	if got := string(q.chunk(true)); got != "three" {
		t.Fatalf("second message %q", got)
	}
	q.drop()
	if q.len() != 0 || q.buf != nil || len(q.msgs) != 0 {
		t.Fatalf("drop left %d bytes, %d messages", q.len(), len(q.msgs))
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
