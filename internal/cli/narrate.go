package cli

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockit/sockit"
)

// lineHandler is a slog.Handler that writes one short line per record:
// "15:04:05.000000 message key=value ...", easy to read while learning.
type lineHandler struct {
	mu    *sync.Mutex
	pool  *sync.Pool // the buffers lines are built in; the writer (an eventWriter) copies what it keeps
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}
	return slog.New(&lineHandler{mu: new(sync.Mutex), pool: pool, w: w, level: level})
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	bp := h.pool.Get().(*[]byte)
	defer h.pool.Put(bp)
	b := r.Time.AppendFormat((*bp)[:0], stampLayout)
	b = append(b, ' ')
	if r.Level >= slog.LevelWarn {
		b = append(append(b, strings.ToLower(r.Level.String())...), ": "...)
	}
	b = append(b, r.Message...)
	write := func(a slog.Attr) bool {
		b = append(append(append(append(b, ' '), a.Key...), '='), a.Value.String()...)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b = append(b, '\n')
	*bp = b
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &h2
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }

// stampLayout is the time of day that starts each line sockit narrates.
const stampLayout = "15:04:05.000000"

// narrator turns socket steps into log lines, the -v narration, and into
// the objects of the --json stream. It is the Observer the library reports
// to; nothing else in sockit logs.
type narrator struct {
	log     *slog.Logger // nil: no narration, only events
	states  *stateNotes  // --states; nil costs one comparison per step
	events  *jsonEvents  // --json; nil costs one comparison per step
	preview bool         // -vv: show the first bytes each transfer moved
}

// observer returns the narrator as an Observer, or nil when not verbose so
// that the engine pays nothing.
func observer(log *slog.Logger, verbose bool) sockit.Observer {
	if !verbose {
		return nil
	}
	return narrator{log: log}
}

// withEvents adds the --json stream to obs, a narrator or nil.
func withEvents(obs sockit.Observer, events *jsonEvents) sockit.Observer {
	if events == nil {
		return obs
	}
	n, _ := obs.(narrator)
	n.events = events
	return n
}

func (n narrator) Observe(e sockit.Event) {
	var note stateNote
	if n.states != nil {
		note = n.states.note(e)
	}
	if n.events != nil {
		n.events.step(e, note)
	}
	if n.log == nil {
		return
	}
	msg := e.String()
	if e.FD >= 0 && e.Step != sockit.StepSocket && e.Step != sockit.StepAccept {
		msg = "[fd " + strconv.Itoa(e.FD) + "] " + msg
	}
	if n.preview && e.N > 0 && e.Data != nil && e.Err == nil {
		msg += " " + preview(e.Data, e.N)
	}
	msg += note.text()
	level := slog.LevelInfo
	if e.Err != nil && e.Step != sockit.StepClosed {
		level = slog.LevelWarn
	}
	// Straight to the handler: Logger.Info would look up its caller's
	// program counter, a third of a step's cost, for a line that never
	// shows it.
	h := n.log.Handler()
	if h.Enabled(context.Background(), level) {
		h.Handle(context.Background(), slog.NewRecord(time.Now(), level, msg, 0))
	}
}

// withStates adds the --states notes to a narrator; other observers (nil
// when neither verbose nor streaming events) are returned as they are.
func withStates(obs sockit.Observer, states bool) sockit.Observer {
	if n, ok := obs.(narrator); ok && states {
		n.states = newStateNotes()
		return n
	}
	return obs
}

// observerLog pairs the logger of a client verb with its Observer, both
// writing through one eventWriter.
type observerLog struct {
	log *slog.Logger
	obs sockit.Observer
	out *eventWriter
}

// newObserverLog starts the verb's eventWriter on w; finish ends it.
func newObserverLog(w io.Writer, verbose bool) observerLog {
	out := newEventWriter(w)
	log := newLogger(out, verbose)
	return observerLog{log: log, obs: observer(log, verbose), out: out}
}

// finish flushes the narration and reports lines dropped on errOut.
func (l observerLog) finish(errOut io.Writer) { l.out.finish(errOut, "narration") }
