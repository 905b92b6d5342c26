package tour

import (
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what a Record is.
type Kind string

// The kinds of records, in the order a lesson usually sends them.
const (
	KindLesson  Kind = "lesson"  // the lesson begins: Text is its number and title
	KindExplain Kind = "explain" // what it teaches
	KindStep    Kind = "step"    // a socket step, narrated: Side, Step, FD, Errno
	KindNote    Kind = "note"    // what the lesson does or sees
	KindState   Kind = "state"   // a TCP state change (tracepoint) or a state seen (sock_diag): Side, Local, Remote, From, To
	KindSegment Kind = "segment" // a TCP segment (packet capture): Side (the sender), Src, Dst, Flags, Seq, Ack, Len
	KindMissing Kind = "missing" // what a run without root cannot see here
	KindCheck   Kind = "check"   // a check: Check
	KindError   Kind = "error"   // the lesson could not be made
	KindResult  Kind = "result"  // the lesson ended: Result
)

// Record is one thing a lesson says. Text is it in the run's language;
// the other fields are the same in every language. Its JSON form is one
// NDJSON line, fields that do not apply left out.
type Record struct {
	V      int       `json:"v"` // the schema version, 1
	Time   time.Time `json:"time"`
	Lesson string    `json:"lesson"`
	Kind   Kind      `json:"kind"`
	Text   string    `json:"text"`

	Side  string `json:"side,omitempty"`  // "client", "server", ...
	Step  string `json:"step,omitempty"`  // KindStep: the sockit step ("accept", "read", "poll")
	FD    *int   `json:"fd,omitempty"`    // KindStep: the descriptor, when known
	Errno string `json:"errno,omitempty"` // KindStep: the errno of a failed step ("ECONNRESET")

	Local   string        `json:"local,omitempty"`      // KindState
	Remote  string        `json:"remote,omitempty"`     // KindState
	From    string        `json:"from,omitempty"`       // KindState: "" when only the state now was seen
	To      string        `json:"to,omitempty"`         // KindState
	Expires time.Duration `json:"expires_ns,omitempty"` // KindState: the time left on the socket's timer (TIME_WAIT)

	Src   string `json:"src,omitempty"`   // KindSegment
	Dst   string `json:"dst,omitempty"`   // KindSegment
	Flags string `json:"flags,omitempty"` // KindSegment: "SYN-ACK"
	Seq   uint32 `json:"seq,omitempty"`   // KindSegment: relative to the sender's ISN
	Ack   uint32 `json:"ack,omitempty"`   // KindSegment: relative to the receiver's ISN
	Len   int    `json:"len,omitempty"`   // KindSegment: payload bytes

	Check  *Check  `json:"check,omitempty"`  // KindCheck
	Result *Result `json:"result,omitempty"` // KindResult
}

// Check is one check of a lesson: a question, the answer the lesson
// teaches and the one observed.
type Check struct {
	ID      string `json:"id"`             // unique in the tour: "time_wait_len"
	What    string `json:"what"`           // the question, in the run's language
	Want    string `json:"want,omitempty"` // the answer the lesson teaches (or Options.Expect's)
	Got     string `json:"got,omitempty"`  // the answer observed
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Note    string `json:"note,omitempty"` // what was seen besides; for a skipped check, why
}

// Sink receives a run's records, one call at a time.
type Sink interface {
	Record(Record)
}

// TextSink writes records for a person: a heading per lesson, the
// explanation, then one line per step, state, segment, note and check.
type TextSink struct {
	W    io.Writer
	Lang string // the language of the run, for the sides' names ("" = English)
	Err  error  // the first write error; nothing is written after it
}

// Record writes rec.
func (s *TextSink) Record(rec Record) {
	var b strings.Builder
	switch rec.Kind {
	case KindLesson:
		b.WriteString("\n== " + rec.Text + " ==\n")
	case KindExplain:
		b.WriteString(wrap(rec.Text, 96) + "\n")
	case KindStep, KindState, KindSegment:
		b.WriteString("  " + pad(SideName(rec.Side, s.Lang), 7) + " " + rec.Text + "\n")
	case KindNote:
		b.WriteString("  » " + rec.Text + "\n")
	case KindMissing:
		b.WriteString("  ! " + rec.Text + "\n")
	case KindCheck:
		b.WriteString("  " + rec.Text + "\n")
	case KindError:
		b.WriteString("  error: " + rec.Text + "\n")
	case KindResult:
		b.WriteString("-- " + rec.Text + "\n")
	}
	s.write(b.String())
}

func (s *TextSink) write(str string) {
	if s.Err != nil {
		return
	}
	_, s.Err = io.WriteString(s.W, str)
}

// pad fills s with spaces to n columns.
func pad(s string, n int) string {
	if c := columns(s); c < n {
		return s + strings.Repeat(" ", n-c)
	}
	return s
}

// wrap breaks text into lines of at most width columns at spaces, keeping
// its own line breaks; text without spaces (Chinese) is broken by runes.
func wrap(text string, width int) string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		var line []rune
		cols := 0
		flush := func() {
			out = append(out, strings.TrimRight(string(line), " "))
			line, cols = line[:0], 0
		}
		for _, word := range splitWords(para) {
			w := columns(word)
			if cols > 0 && cols+w > width {
				flush()
				word = strings.TrimLeft(word, " ")
				w = columns(word)
			}
			line = append(line, []rune(word)...)
			cols += w
		}
		flush()
	}
	return strings.Join(out, "\n")
}

// splitWords cuts a paragraph before each space and around each wide
// rune, so that both English and Chinese can break, but never before a
// closing mark nor after an opening one: a line does not begin with "，"
// or "）", nor end with "（" (the rule Chinese typesetting calls 避头尾).
func splitWords(s string) []string {
	var words []string
	start := 0
	for i, r := range s {
		if i > start && (r == ' ' || wide(r)) && !closing(r) && !opening(lastRune(s[:i])) {
			words = append(words, s[start:i])
			start = i
		}
		if wide(r) {
			end := i + len(string(r))
			if next := firstRune(s[end:]); !opening(r) && (next == 0 || !closing(next)) {
				words = append(words, s[start:end])
				start = end
			}
		}
	}
	if start < len(s) {
		words = append(words, s[start:])
	}
	return words
}

// closing reports a mark that may not begin a line.
func closing(r rune) bool {
	return strings.ContainsRune("，。、；：？！）」』】〉》”’…,.;:?!)]}", r)
}

// opening reports a mark that may not end a line.
func opening(r rune) bool { return strings.ContainsRune("（「『【〈《“‘([{", r) }

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// wide reports whether r takes two columns in a terminal (CJK and
// full-width punctuation).
func wide(r rune) bool {
	return r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 || r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6
}

func columns(s string) int {
	n := 0
	for _, r := range s {
		n++
		if wide(r) {
			n++
		}
	}
	return n
}

// JSONSink writes each record as one line of JSON (NDJSON).
type JSONSink struct {
	enc *json.Encoder
	Err error // the first write error; nothing is written after it
}

// NewJSONSink writes to w.
func NewJSONSink(w io.Writer) *JSONSink { return &JSONSink{enc: json.NewEncoder(w)} }

// Record writes rec.
func (s *JSONSink) Record(rec Record) {
	if s.Err == nil {
		s.Err = s.enc.Encode(rec)
	}
}
