package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/tour"
)

// TourOptions are the inputs of `sockit tour`.
type TourOptions struct {
	IO     IOStreams
	Lesson string // number or slug; "" with All false = list the lessons
	All    bool
	JSON   bool
	Lang   string
	NoRoot bool
	Expect []string // CHECK=ANSWER
}

// NewCmdTour builds `sockit tour`. runF replaces runTour in tests.
func NewCmdTour(app *App, runF func(context.Context, *TourOptions) error) *cobra.Command {
	opts := &TourOptions{}
	cmd := &cobra.Command{
		Use:   "tour [LESSON]",
		Short: "Lessons of the socket tutorials, run live on this machine and checked",
		Long: `Run the lessons the socket tutorials draw as pictures — the call sequence, TCP
echo, UDP, the three-way handshake, the four-way teardown and TIME_WAIT,
half-close, the backlog, resets, recv/send flags, Unix domain sockets, the
reactor — on loopback and Unix sockets made for the purpose, narrated step by
step, and check what was observed against what the lesson teaches.

Without LESSON, list the lessons; LESSON is a number or a name; --all runs
them all in order. Each lesson explains itself, narrates each socket call (as
-v does), shows the TCP states sock_diag sees and, as root, every state change
(tracepoint sock:inet_sock_set_state) and segment (packet capture); then its
checks. Without root, lessons that need segments say what is missing.

--lang zh prints the explanations and the narration in Chinese. --json prints
one JSON object per line (NDJSON): {"v", "time", "lesson", "kind" (lesson,
explain, step, note, state, segment, missing, check, error, result), "text",
and by kind "side", "step", "fd", "errno"; "local", "remote", "from", "to",
"expires_ns"; "src", "dst", "flags", "seq", "ack", "len"; "check": {"id",
"what", "want", "got", "ok", "skipped", "note"}; "result": {"lesson",
"passed", "failed", "skipped", "failing"}}.

--expect CHECK=ANSWER replaces the answer a check expects, to test a claim
against the kernel (e.g. a tutorial's "TIME_WAIT lasts 30 s":
--expect time_wait_len=30s). Exit 5 when a check does not match what was
observed.`,
		Example: `  sockit tour
  sockit tour handshake
  sudo sockit tour 5 --lang zh
  sockit tour --all --json
  sockit tour teardown --expect time_wait_len=30s`,
		Args: argsBetween(0, 1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, l := range tour.Lessons() {
				out = append(out, l.Slug+"\t"+l.Title)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if len(args) == 1 {
				opts.Lesson = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTour(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.All, "all", false, "run every lesson, in order")
	fs.BoolVar(&opts.JSON, "json", false, "print NDJSON: one object per step, state, segment, note and check")
	fs.StringVar(&opts.Lang, "lang", "en", "the language of the explanations and the narration: en or zh")
	fs.BoolVar(&opts.NoRoot, "no-root", false, "as root, run as a user without root would: no tracepoint, no packet capture")
	fs.StringArrayVar(&opts.Expect, "expect", nil, "CHECK=ANSWER: expect this answer of a check instead of the lesson's (repeatable)")
	return cmd
}

func runTour(ctx context.Context, opts *TourOptions) error {
	if opts.All && opts.Lesson != "" {
		return usageErr{errors.New("give a LESSON or --all, not both")}
	}
	o := tour.Options{Lang: opts.Lang, NoRoot: opts.NoRoot, Expect: map[string]string{}}
	if err := tour.CheckLang(opts.Lang); err != nil {
		return err // an OptionError: a usage error, told with the flag
	}
	for _, e := range opts.Expect {
		id, want, ok := strings.Cut(e, "=")
		if !ok || id == "" {
			return usageErr{fmt.Errorf("--expect %q: want CHECK=ANSWER, e.g. time_wait_len=30s", e)}
		}
		o.Expect[id] = want
	}
	if !opts.All && opts.Lesson == "" {
		return listLessons(opts)
	}
	var text *tour.TextSink
	var js *tour.JSONSink
	if opts.JSON {
		js = tour.NewJSONSink(opts.IO.Out)
		o.Sink = js
	} else {
		text = &tour.TextSink{W: opts.IO.Out, Lang: o.Lang}
		o.Sink = text
	}
	var err error
	if opts.All {
		_, err = tour.PlayAll(ctx, o)
	} else {
		l, ferr := tour.Find(opts.Lesson)
		if ferr != nil {
			return usageErr{ferr}
		}
		_, err = tour.Play(ctx, l, o)
	}
	if text != nil && text.Err != nil {
		err = errors.Join(err, text.Err)
	}
	if js != nil && js.Err != nil {
		err = errors.Join(err, js.Err)
	}
	return err
}

// listLessons prints the lessons, numbered, with their titles.
func listLessons(opts *TourOptions) error {
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "sockit tour: lessons of the socket tutorials, live on this machine")
	for _, l := range tour.Lessons() {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", l.ID, l.Slug, tour.Title(l, opts.Lang))
	}
	fmt.Fprintln(tw, "run one: sockit tour LESSON (number or name); all: sockit tour --all; as root the segments are shown too")
	return tw.Flush()
}
