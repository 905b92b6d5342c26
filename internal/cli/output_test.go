package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// gateWriter holds every Write until open is called, as a terminal that
// is scrolled back or a pipe nobody reads does; it then passes writes on.
type gateWriter struct {
	gate chan struct{}
	once sync.Once
	buf  testkit.Buffer
}

func newGateWriter() *gateWriter { return &gateWriter{gate: make(chan struct{})} }

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.gate
	return g.buf.Write(p)
}

func (g *gateWriter) open() { g.once.Do(func() { close(g.gate) }) }

func TestEventWriterKeepsOrder(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	w := newEventWriter(&buf)
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		fmt.Fprint(w, line)
	}
	w.finish(&buf, "narration")
	if got := buf.String(); got != want.String() {
		t.Fatalf("written lines differ from the lines given: got %d bytes, want %d", len(got), want.Len())
	}
	if w.Dropped() != 0 {
		t.Errorf("Dropped() = %d, want 0 with a writer that keeps up", w.Dropped())
	}
}

// TestEventWriterNeverBlocks: with the writer stuck, every Write still
// returns at once; what does not fit is counted and reported at the end.
func TestEventWriterNeverBlocks(t *testing.T) {
	t.Parallel()
	g := newGateWriter()
	defer g.open()
	w := newEventWriter(g)
	// The queue holds eventQueueLines, and the stuck write at most one
	// batch of eventBatchBytes: twice the queue is sure to overflow.
	const total = 2*eventQueueLines + 100
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range total {
			fmt.Fprintf(w, "line %d\n", i)
		}
	}()
	select {
	case <-written:
	case <-time.After(testkit.Timeout):
		t.Fatalf("%d writes to an eventWriter over a stuck writer did not return in %s", total, testkit.Timeout)
	}
	if d := w.Dropped(); d == 0 {
		t.Errorf("Dropped() = 0 after %d lines over a stuck writer and a queue of %d", total, eventQueueLines)
	}
	g.open()
	var errOut testkit.Buffer
	w.finish(&errOut, "narration")
	testkit.MustContain(t, "the drop report", errOut.String(), "sockit: narration:", "lines dropped")
	if got, want := strings.Count(g.buf.String(), "\n"), total-int(w.Dropped()); got != want {
		t.Errorf("%d lines reached the writer, want %d (all that were not dropped)", got, want)
	}
}

// TestEventWriterCloseGivesUp: Close does not wait forever for a writer
// that never takes its lines; the lines left are counted as dropped.
func TestEventWriterCloseGivesUp(t *testing.T) {
	t.Parallel()
	g := newGateWriter()
	defer g.open() // ends the drainer, which Close had to leave behind
	w := newEventWriter(g)
	w.flushWait = 50 * time.Millisecond
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > testkit.Timeout {
		t.Fatalf("Close took %s over a stuck writer", d)
	}
	if d := w.Dropped(); d < 9 {
		t.Errorf("Dropped() = %d after Close gave up on 10 queued lines, want at least 9", d)
	}
}

// TestServeNarrationNeverBlocksLoop: with -v narrating to a standard error
// that nobody reads, the server still answers every round trip, many more
// than the narration queue holds, and reports the lines it dropped.
func TestServeNarrationNeverBlocksLoop(t *testing.T) {
	t.Parallel()
	g := newGateWriter()
	defer g.open()
	out := new(testkit.Buffer)
	ready := make(chan []net.Addr, 1)
	opts := &ServeOptions{
		IO:        IOStreams{In: strings.NewReader(""), Out: out, ErrOut: g},
		Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Engine: string(engine.DefaultBackend),
		Grace: testkit.Timeout, Verbose: true, Ready: func(a []net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, opts) }()
	var addrs []net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("runServe: %v", err)
	case <-time.After(testkit.Timeout):
		t.Fatalf("runServe not listening after %s", testkit.Timeout)
	}
	c := testkit.Dial(t, "tcp", addrs[0].String())
	msg := []byte("0123456789abcdef")
	for i := range eventQueueLines { // two narrated steps each: read and write
		if err := testkit.RoundTrip(c, msg); err != nil {
			t.Fatalf("round trip %d with narration stuck: %v", i, err)
		}
	}
	c.Close()
	g.open()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runServe: %v", err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatalf("runServe did not return %s after cancel", testkit.Timeout)
	}
	testkit.MustContain(t, "stderr", g.buf.String(), "sockit: narration:", "lines dropped")
}

// BenchmarkNarration measures what -v costs the event loop: echo round
// trips of 64 bytes through one engine server, without an Observer, with
// the narration written through the eventWriter (to a writer as slow as a
// terminal), and, for comparison, with it written synchronously from the
// loop as before. Each round trip is two narrated steps (read, write).
func BenchmarkNarration(b *testing.B) {
	slow := func() io.Writer { return slowWriter{d: 20 * time.Microsecond} }
	for _, bc := range []struct {
		name string
		w    func() io.Writer
	}{
		{name: "quiet"},
		{name: "async", w: func() io.Writer { return newEventWriter(slow()) }},
		{name: "sync", w: slow},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := &engine.Config{Loops: 1}
			if bc.w != nil {
				w := bc.w()
				if ew, ok := w.(*eventWriter); ok {
					defer ew.Close()
				}
				cfg.Observer = observer(newLogger(w, true), true)
			}
			h, _, _ := service.Lookup("echo")
			_, ep := testkit.ServeEngine(b, cfg, "tcp", h)
			c := testkit.Dial(b, "tcp", ep.Addr)
			testkit.RoundTrips(b, c, make([]byte, 64))
		})
	}
}

// slowWriter takes d per write, as a terminal scrolling does.
type slowWriter struct{ d time.Duration }

func (s slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.d)
	return len(p), nil
}

// BenchmarkObserve is the loop's share of one narrated step: formatting
// the line and queueing it (the eventWriter's goroutine writes it later).
func BenchmarkObserve(b *testing.B) {
	w := newEventWriter(io.Discard)
	defer w.Close()
	obs := observer(newLogger(w, true), true)
	e := sockit.Event{Step: sockit.StepRead, FD: 7, Net: "tcp", N: 64}
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(e)
	}
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
}
