package tour

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockit/sockit"
)

// Lesson is one lesson of the tour.
type Lesson struct {
	ID      int    // its number, from 1, in the order of the tour
	Slug    string // its name on the command line: "handshake"
	Title   string // in English; the catalog translates it
	Explain string // what it teaches, in English; the catalog translates it
	// Do makes the lesson's calls on r, and its checks; it returns an
	// error only when the lesson could not be made (a socket that could
	// not be opened), not when a check failed.
	Do func(ctx context.Context, r *Run) error
}

// Lessons returns the lessons in the order of the tour.
func Lessons() []Lesson {
	ls := []Lesson{
		lessonCalls, lessonEcho, lessonUDP, lessonHandshake, lessonTeardown, lessonHalfClose,
		lessonBacklog, lessonReset, lessonFlags, lessonUnix, lessonReactor,
	}
	for i := range ls {
		ls[i].ID = i + 1
	}
	return ls
}

// ErrUnknownLesson is matched by Find's error for a name no lesson has.
var ErrUnknownLesson = errors.New("no such lesson")

// Find returns the lesson named by its number ("4") or its slug
// ("handshake", in any case).
func Find(name string) (Lesson, error) {
	ls := Lessons()
	if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= len(ls) {
		return ls[n-1], nil
	}
	for _, l := range ls {
		if strings.EqualFold(name, l.Slug) {
			return l, nil
		}
	}
	slugs := make([]string, len(ls))
	for i, l := range ls {
		slugs[i] = l.Slug
	}
	return Lesson{}, fmt.Errorf("%w: %q (want 1 to %d, or %s)", ErrUnknownLesson, name, len(ls), strings.Join(slugs, ", "))
}

// Options configure a Run. The zero value runs in English, uses the
// tracepoint and packet capture when the process is root, and writes
// nowhere.
type Options struct {
	// Lang is the language of the explanations and the narration: "" or
	// "en" English, "zh" Chinese.
	Lang string
	// NoRoot runs as a user without root would, even as root: no
	// tracepoint and no packet capture, only sock_diag.
	NoRoot bool
	// Expect replaces the answer a check expects, by the check's ID
	// ("time_wait_len": "30s"), to test a claim against the kernel: a
	// tutorial's, or one's own.
	Expect map[string]string
	// Sink receives the lesson's records; nil = none.
	Sink Sink
}

// Result sums up one lesson's run.
type Result struct {
	Lesson  string   `json:"lesson"`
	Passed  int      `json:"passed"`
	Failed  int      `json:"failed"`
	Skipped int      `json:"skipped"`
	Failing []string `json:"failing,omitempty"` // the IDs of the checks that failed
	// Untranslated lists the sentences the run said that the catalog of
	// its language has no words for (empty in English).
	Untranslated []string `json:"-"`
}

// CheckError is returned by Play when a check of the lesson failed: what
// the kernel did is not what the lesson teaches.
type CheckError struct {
	Lesson string
	Checks []string // the IDs of the checks that failed
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("lesson %s: %d check(s) did not match what the lesson teaches: %s", e.Lesson, len(e.Checks), strings.Join(e.Checks, ", "))
}

// Play runs lesson l with o. It returns a *CheckError when a check failed,
// another error when the lesson could not be made, or o names a language
// the tour does not speak.
func Play(ctx context.Context, l Lesson, o Options) (Result, error) {
	p, err := printerFor(o.Lang)
	if err != nil {
		return Result{}, err
	}
	r := &Run{lesson: l, opts: o, p: p, root: !o.NoRoot && os.Geteuid() == 0, res: Result{Lesson: l.Slug}}
	r.emit(Record{Kind: KindLesson, Text: r.T("Lesson %d · %s", l.ID, r.phrase(l.Title))})
	r.emit(Record{Kind: KindExplain, Text: r.phrase(l.Explain)})
	err = l.Do(ctx, r)
	if err != nil {
		r.emit(Record{Kind: KindError, Text: r.T("the lesson could not be made: %s", err.Error())})
	}
	res := r.result()
	r.emit(Record{Kind: KindResult, Result: &res, Text: r.T("%s: %d passed, %d failed, %d skipped", l.Slug, res.Passed, res.Failed, res.Skipped)})
	if err != nil {
		return res, fmt.Errorf("lesson %s: %w", l.Slug, err)
	}
	if res.Failed > 0 {
		return res, &CheckError{Lesson: l.Slug, Checks: res.Failing}
	}
	return res, nil
}

// PlayAll plays every lesson in order, going on after one that fails,
// and returns their results and the errors joined.
func PlayAll(ctx context.Context, o Options) ([]Result, error) {
	var out []Result
	var errs []error
	for _, l := range Lessons() {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		res, err := Play(ctx, l, o)
		out = append(out, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Run is a lesson being played: what it says goes through it, in the
// run's language, to the sink. Its methods may be called from any
// goroutine.
type Run struct {
	lesson Lesson
	opts   Options
	p      *xprinter // nil = English
	root   bool

	mu  sync.Mutex
	res Result
}

// Root reports whether the run may use what needs root: the tracepoint
// and the packet capture.
func (r *Run) Root() bool { return r.root }

// T is format and its arguments in the run's language.
func (r *Run) T(format string, a ...any) string {
	if r.p == nil {
		return fmt.Sprintf(format, a...)
	}
	if _, ok := lookup(r.opts.Lang, format); !ok {
		r.untranslated(format)
	}
	return r.p.Translate(format, a...)
}

// phrase is a fixed sentence (a title, a question) in the run's language.
func (r *Run) phrase(s string) string {
	if r.p == nil {
		return s
	}
	if t, ok := lookup(r.opts.Lang, s); ok {
		return t
	}
	r.untranslated(s)
	return s
}

// words is a fixed phrase (a check's answer: "yes", "ESTABLISHED") in the
// run's language; phrases the catalog does not know stay as they are.
func (r *Run) words(s string) string {
	if r.p == nil {
		return s
	}
	if t, ok := lookup(r.opts.Lang, s); ok {
		return t
	}
	return s
}

func (r *Run) untranslated(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.res.Untranslated, s) {
		r.res.Untranslated = append(r.res.Untranslated, s)
	}
}

// Say narrates a step the lesson takes or a note about what it sees.
func (r *Run) Say(format string, a ...any) {
	r.emit(Record{Kind: KindNote, Text: r.T(format, a...)})
}

// Missing says what a user without root does not see in this lesson, and
// why.
func (r *Run) Missing(format string, a ...any) {
	r.emit(Record{Kind: KindMissing, Text: r.T(format, a...)})
}

// Observer narrates the socket steps of one side ("client", "server") as
// the -v narration does, in the run's language.
func (r *Run) Observer(side string) sockit.Observer {
	return sockit.ObserverFunc(func(e sockit.Event) {
		msg := e.Narrate(translator{r})
		if e.FD >= 0 && e.Step != sockit.StepSocket && e.Step != sockit.StepAccept {
			msg = "[fd " + strconv.Itoa(e.FD) + "] " + msg
		}
		rec := Record{Kind: KindStep, Side: side, Step: e.Step.String(), Text: msg}
		if e.FD >= 0 {
			fd := e.FD
			rec.FD = &fd
		}
		if e.Err != nil {
			rec.Errno = sockit.ErrnoName(e.Err)
		}
		r.emit(rec)
	})
}

// translator is the run's Printer for sockit.Event.Narrate, which notes
// what the catalog lacks.
type translator struct{ r *Run }

func (t translator) Translate(format string, a ...any) string { return t.r.T(format, a...) }

// Phrase translates a narrated step's detail. The details that carry
// numbers ("datagram 1 of 2", "SCM_RIGHTS fd 9 (regular file, 28 bytes)")
// name things rather than say a sentence: they stay as they are when the
// catalog has no words for them, and are not counted as untranslated.
func (t translator) Phrase(s string) string {
	if strings.ContainsAny(s, "0123456789") {
		return t.r.words(s)
	}
	return t.r.phrase(s)
}

// Check compares what the lesson observed, got, with what it teaches,
// want (or what Options.Expect says instead), and records the answer.
// what is the question, in English; note adds what was seen besides
// (translated by the caller). id names the check in Options.Expect and
// the NDJSON records. It reports whether the check passed.
func (r *Run) Check(id, what, want, got, note string) bool {
	if w, ok := r.opts.Expect[id]; ok {
		want = w
	}
	c := Check{ID: id, What: r.phrase(what), Want: want, Got: got, OK: want == got, Note: note}
	var text string
	if c.OK {
		text = r.T("✓ %s: %s", c.What, r.words(got))
	} else {
		text = r.T("✗ %s: expected %s, observed %s", c.What, r.words(want), r.words(got))
	}
	if note != "" {
		text += " (" + note + ")"
	}
	r.mu.Lock()
	if c.OK {
		r.res.Passed++
	} else {
		r.res.Failed++
		r.res.Failing = append(r.res.Failing, id)
	}
	r.mu.Unlock()
	r.emit(Record{Kind: KindCheck, Check: &c, Text: text})
	return c.OK
}

// Skip records a check that cannot be made here, and why (in English;
// translated here).
func (r *Run) Skip(id, what, why string) {
	c := Check{ID: id, What: r.phrase(what), Skipped: true, Note: r.phrase(why)}
	r.mu.Lock()
	r.res.Skipped++
	r.mu.Unlock()
	r.emit(Record{Kind: KindCheck, Check: &c, Text: r.T("– %s: not checked: %s", c.What, c.Note)})
}

func (r *Run) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Failing = slices.Clone(res.Failing)
	res.Untranslated = slices.Clone(res.Untranslated)
	return res
}

func (r *Run) emit(rec Record) {
	if r.opts.Sink == nil {
		return
	}
	rec.V = 1
	rec.Lesson = r.lesson.Slug
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Sink.Record(rec)
}
