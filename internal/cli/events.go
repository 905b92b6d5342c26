package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sockit/sockit"
)

// eventsVersion is the version of the --json event stream's schema, the
// "v" of every object. It changes when a field is renamed or removed or
// changes meaning; new fields and new event names do not change it. The
// schema is described in README.md ("Events as NDJSON").
const eventsVersion = 1

// eventHead begins every object of the event stream.
type eventHead struct {
	V     int    `json:"v"`
	Time  string `json:"time"` // RFC 3339, UTC, nanoseconds
	Verb  string `json:"verb"`
	Event string `json:"event"`
}

// stepObject is one socket step (sockit.Event) as JSON: the one mapping
// from the Observer's events to the stream. Units are in the names.
type stepObject struct {
	eventHead
	FD           *int   `json:"fd,omitempty"`
	Net          string `json:"net,omitempty"`
	Local        string `json:"local,omitempty"`
	Peer         string `json:"peer,omitempty"`
	SizeBytes    *int   `json:"size_bytes,omitempty"` // read, write, recvfrom, sendto; 0 on a read is the peer's FIN
	Backlog      int    `json:"backlog,omitempty"`    // listen
	InBytes      *int64 `json:"in_bytes,omitempty"`   // closed: the connection's totals
	OutBytes     *int64 `json:"out_bytes,omitempty"`
	DurationUS   *int64 `json:"duration_us,omitempty"`
	Detail       string `json:"detail,omitempty"`
	TCPState     string `json:"tcp_state,omitempty"`      // --states: the state after the step
	TCPStateFrom string `json:"tcp_state_from,omitempty"` // --states: the state at the socket's previous step, when it changed
	Error        string `json:"error,omitempty"`
	ErrorKind    string `json:"error_kind,omitempty"`
}

// jsonEvents writes the --json stream of one verb through an eventWriter,
// so that a loop reporting a step never waits for it.
type jsonEvents struct {
	verb string
	w    *eventWriter
	file *os.File // --events FILE, closed by finish
	// summarized: the verb emitted its summary, which carries its error
	// (only the verb's own goroutine touches it)
	summarized bool
}

// errorObject is the event of a verb that failed without a summary to
// say so: a connection refused, an address in use.
type errorObject struct {
	eventHead
	Error     string `json:"error"`
	ErrorKind string `json:"error_kind"`
}

func (j *jsonEvents) head(event string) eventHead {
	return eventHead{V: eventsVersion, Time: time.Now().UTC().Format(time.RFC3339Nano), Verb: j.verb, Event: event}
}

// step writes e (and its --states note) as one object, without waiting.
func (j *jsonEvents) step(e sockit.Event, note stateNote) {
	o := stepObject{eventHead: j.head(e.Step.String()), Net: e.Net, Detail: e.Detail}
	if e.FD >= 0 {
		o.FD = &e.FD
	}
	if e.Local != nil {
		o.Local = e.Local.String()
	}
	if e.Peer != nil {
		o.Peer = e.Peer.String()
	}
	switch e.Step {
	case sockit.StepRead, sockit.StepWrite, sockit.StepRecvFrom, sockit.StepSendTo:
		o.SizeBytes = &e.N
	case sockit.StepListen:
		o.Backlog = e.N
	case sockit.StepClosed:
		us := e.Dur.Microseconds()
		o.InBytes, o.OutBytes, o.DurationUS = &e.In, &e.Out, &us
	}
	if note.State != 0 {
		o.TCPState = note.State.String()
		if len(note.Path) > 0 {
			o.TCPStateFrom = note.From.String()
		}
	}
	o.Error, o.ErrorKind = errorFields(e.Err)
	j.write(o, false)
}

// errorFields are an error's "error" and "error_kind" (sockit.Kind in
// snake case: "connection_refused"), both "" for nil.
func errorFields(err error) (string, string) {
	if err == nil {
		return "", ""
	}
	return err.Error(), strings.ReplaceAll(sockit.KindOf(err).String(), " ", "_")
}

// emit writes one object the verb itself reports (listening, a summary),
// waiting for room in the queue rather than dropping it: the verb's own
// goroutine calls it, never a loop.
func (j *jsonEvents) emit(v any) { j.write(v, true) }

// post writes one object like a step, dropping it rather than waiting:
// for the goroutines that carry connections.
func (j *jsonEvents) post(v any) { j.write(v, false) }

func (j *jsonEvents) write(v any, wait bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return // our own structs of strings and numbers: cannot happen
	}
	b = append(b, '\n')
	if wait {
		j.w.WriteWait(b)
		return
	}
	j.w.Write(b)
}

// summary emits the verb's last event, which carries its error.
func (j *jsonEvents) summary(v any) {
	j.summarized = true
	j.emit(v)
}

// finish ends the stream of a verb that returns verbErr: an "error" event
// unless the summary told it, then flushes, reports dropped objects on
// errOut and closes --events FILE.
func (j *jsonEvents) finish(errOut io.Writer, verbErr error) error {
	if j == nil {
		return nil
	}
	if verbErr != nil && !j.summarized {
		o := errorObject{eventHead: j.head("error")}
		o.Error, o.ErrorKind = errorFields(verbErr)
		j.emit(o)
	}
	j.w.finish(errOut, "events")
	if j.file != nil {
		if err := j.file.Close(); err != nil {
			return fmt.Errorf("--events: %w", err)
		}
	}
	return nil
}

// eventFlags are --json and --events FILE, for the verbs whose events
// stream (serve, relay, send, connect).
type eventFlags struct {
	JSON   bool
	Events string // a file for the stream; implies JSON
}

func (f *eventFlags) register(fs *pflag.FlagSet, where string) {
	fs.BoolVar(&f.JSON, "json", false, "stream NDJSON events, one object per socket step (schema v1, see README), to "+where)
	fs.StringVar(&f.Events, "events", "", "with or without --json: write the NDJSON events to this file instead (created or truncated)")
}

// open starts the event stream of verb, nil when neither flag is given:
// to --events FILE, else to stdout, unless stdout carries the peer's data
// (dataOnStdout), then to stderr.
func (f *eventFlags) open(verb string, streams IOStreams, dataOnStdout bool) (*jsonEvents, error) {
	j := &jsonEvents{verb: verb}
	switch {
	case f.Events != "":
		file, err := os.Create(f.Events)
		if err != nil {
			return nil, usageErr{fmt.Errorf("--events: %w", err)}
		}
		j.file, j.w = file, newEventWriter(file)
	case !f.JSON:
		return nil, nil
	case dataOnStdout:
		j.w = newEventWriter(streams.ErrOut)
	default:
		j.w = newEventWriter(streams.Out)
	}
	return j, nil
}

// onStdout reports whether the stream replaces the verb's human output on
// standard output.
func (f *eventFlags) onStdout(dataOnStdout bool) bool {
	return f.JSON && f.Events == "" && !dataOnStdout
}

// joinErr is err with also added, err itself when also is nil: an error
// the CLI puts in its own words (describe) must stay itself.
func joinErr(err, also error) error {
	if also == nil {
		return err
	}
	return errors.Join(err, also)
}
