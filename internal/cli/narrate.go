package cli

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/sockit/sockit"
)

// lineHandler is a slog.Handler that writes one short line per record:
// "15:04:05.000000 message key=value ...", easy to read while learning.
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(&lineHandler{mu: new(sync.Mutex), w: w, level: level})
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format(stampLayout))
	b.WriteByte(' ')
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()) + ": ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
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

// narrator turns socket steps into log lines: the -v narration. It is the
// Observer the library reports to; nothing else in sockit logs.
type narrator struct {
	log     *slog.Logger
	states  *stateNotes // --states; nil costs one comparison per step
	preview bool        // -vv: show the first bytes each transfer moved
}

// observer returns the narrator as an Observer, or nil when not verbose so
// that the engine pays nothing.
func observer(log *slog.Logger, verbose bool) sockit.Observer {
	if !verbose {
		return nil
	}
	return narrator{log: log}
}

func (n narrator) Observe(e sockit.Event) {
	msg := e.String()
	if e.FD >= 0 && e.Step != sockit.StepSocket && e.Step != sockit.StepAccept {
		msg = "[fd " + strconv.Itoa(e.FD) + "] " + msg
	}
	if n.preview && e.N > 0 && e.Data != nil && e.Err == nil {
		msg += " " + preview(e.Data, e.N)
	}
	if n.states != nil {
		msg += n.states.note(e)
	}
	if e.Err != nil && e.Step != sockit.StepClosed {
		n.log.Warn(msg)
		return
	}
	n.log.Info(msg)
}

// withStates adds the --states notes to a narrator; other observers (nil
// when not verbose) are returned as they are.
func withStates(obs sockit.Observer, states bool) sockit.Observer {
	if n, ok := obs.(narrator); ok && states {
		n.states = newStateNotes()
		return n
	}
	return obs
}

// observerLog pairs the logger of a client verb with its Observer.
type observerLog struct {
	log *slog.Logger
	obs sockit.Observer
}

func newObserverLog(w io.Writer, verbose bool) observerLog {
	log := newLogger(w, verbose)
	return observerLog{log: log, obs: observer(log, verbose)}
}
