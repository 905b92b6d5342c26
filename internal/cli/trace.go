package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/tcpstate"
)

// TraceOptions are the inputs of `sockit trace`.
type TraceOptions struct {
	IO         IOStreams
	Target     string // PORT or ENDPOINT; "" = every TCP connection
	JSON       bool
	Poll       bool          // poll sock_diag even as root
	Interval   time.Duration // polling interval
	NoSegments bool
	// Write is a file to write the captured segments to, in pcap format
	// (-w, as tcpdump's); "" = none.
	Write string
	// HTML is a file to draw each connection in as a ladder diagram when
	// the trace ends (--html); "" = none.
	HTML string
	// Ready, if set, is called once tracing has started (tests connect
	// only then).
	Ready func()
	// isRoot replaces os.Geteuid() == 0 in tests.
	isRoot func() bool
}

// NewCmdTrace builds `sockit trace`. runF replaces runTrace in tests.
func NewCmdTrace(app *App, runF func(context.Context, *TraceOptions) error) *cobra.Command {
	opts := &TraceOptions{}
	cmd := &cobra.Command{
		Use:   "trace [PORT|ENDPOINT]",
		Short: "Trace the handshake and teardown of each TCP connection on a port, step by step",
		Long: `Show every TCP state change of every connection on a port as it happens, with
the segments behind it, as an annotated timeline per connection: the three-way
handshake (SYN, SYN-ACK, ACK), the four-way teardown (FIN, ACK, FIN, ACK) and
TIME_WAIT for 2MSL, with the time each socket spent in each state. Sequence
numbers are relative to each side's initial sequence number, as tcpdump shows.

As root, the states come from the kernel tracepoint sock:inet_sock_set_state
(through a private tracefs instance) and the segments from an AF_PACKET
capture on every interface. Otherwise trace polls sock_diag every --interval,
which sees only the states a socket is in at those instants, and no segments;
it says so when it starts. Ctrl-C ends the trace (exit 0) and removes the
tracefs instance and the packet socket.

--json prints one JSON object per line (NDJSON), a state change or a segment:
  {"time", "conn" (connection number, 0 for a listener), "kind": "state",
   "local", "remote", "from", "to", "passed" (states gone through unseen,
   polling only), "in_state_ns" (time spent in "from"), "meaning", "polled"}
  {"time", "conn", "kind": "segment", "segment": {"time", "src", "dst",
   "flags" ("SYN-ACK"), "seq", "ack", "window", "len"}, "rel_seq", "rel_ack",
   "rel_known" (seq and ack relative to each side's ISN are known)}
Fields that are zero or empty are left out.

-w FILE also writes the captured segments to FILE in pcap format, for tcpdump -r
or Wireshark: each packet from its IP header, cut after the TCP header and
options (the capture keeps no payload; the length on the wire is kept).`,
		Example: `  sudo sockit trace 7007
  sockit trace :7007 --json
  sockit trace tcp://127.0.0.1:8080 --no-segments
  sudo sockit trace 7007 -w handshake.pcap   # then: tcpdump -r handshake.pcap`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if len(args) == 1 {
				opts.Target = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTrace(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.JSON, "json", false, "print NDJSON: one object per state change or segment")
	fs.BoolVar(&opts.Poll, "poll", false, "poll sock_diag even as root (what a user without root sees)")
	fs.DurationVar(&opts.Interval, "interval", 10*time.Millisecond, "polling interval without root")
	fs.BoolVar(&opts.NoSegments, "no-segments", false, "show state changes only, no packet capture")
	fs.StringVar(&opts.HTML, "html", "", "when the trace ends, draw each connection as a ladder diagram in this HTML file: client and server lifelines, an arrow per segment, the states on each side")
	fs.StringVarP(&opts.Write, "write", "w", "", "also write the captured segments to this pcap file (created or truncated), for tcpdump -r or Wireshark: each packet's headers as captured, without payload (needs root)")
	return cmd
}

// traceItem is a state change or a segment on its way to the printer.
type traceItem struct {
	at  time.Time
	tr  *tcpstate.Transition
	seg *tcpstate.Segment
	pkt *tcpstate.Packet // seg's packet, for -w
}

func runTrace(ctx context.Context, opts *TraceOptions) error {
	f, label, err := tcpTarget(opts.Target)
	if err != nil {
		return err
	}
	if opts.Interval <= 0 {
		return usageErr{fmt.Errorf("--interval must be more than 0, not %s", opts.Interval)}
	}
	ctx, stopSignals := traceSignals(ctx)
	defer stopSignals()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan traceItem, 1024)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	start := func(run func(context.Context, func(traceItem)) error) {
		// A source stops sending once ctx ends: the printer has stopped
		// reading by then.
		emit := func(it traceItem) {
			select {
			case items <- it:
			case <-ctx.Done():
			}
		}
		wg.Go(func() {
			if err := run(ctx, emit); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	if opts.Write != "" && opts.NoSegments {
		return usageErr{errors.New("-w writes the captured segments: leave out --no-segments")}
	}
	sources, err := openTraceSources(opts, f, label)
	if err != nil {
		return unavailable("trace", err)
	}
	defer sources.close()
	if opts.Write != "" && !sources.capture {
		return fmt.Errorf("-w %s: no segments to write: trace is not capturing packets (see above)", opts.Write)
	}
	for _, run := range sources.runs {
		start(run)
	}
	noticeEmpty(opts.IO.ErrOut, f, label)
	if opts.Ready != nil {
		opts.Ready()
	}
	werr := printTraceItems(ctx, opts, items)
	cancel()
	wg.Wait()
	close(errs)
	if errors.Is(werr, syscall.EPIPE) {
		werr = nil // the reader is gone (sockit trace | head): a normal end
	}
	return errors.Join(append(collect(errs), werr)...)
}

// traceSignals makes sure trace ends through its cleanup, which removes
// the tracefs instance, when the terminal goes away (SIGHUP) or the reader
// of its output does (SIGPIPE: sockit trace | head), where by default
// either would kill the process on the spot. With SIGPIPE caught, a write
// to a closed pipe fails with EPIPE instead, and the printer stops on it;
// a SIGPIPE itself is not a reason to stop, since sockets elsewhere in the
// process may raise it. Ctrl-C and SIGTERM already end ctx (see Main). The
// returned function stops catching and waits for the goroutine it started.
func traceSignals(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGPIPE)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == syscall.SIGHUP {
					cancel()
					return
				}
			}
		}
	})
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
		wg.Wait()
	}
}

// noticeEmpty says so when nothing is on the port yet: a trace of a port
// nobody uses waits, silently otherwise.
func noticeEmpty(w io.Writer, f tcpstate.Filter, label string) {
	if f.Port == 0 {
		return
	}
	if socks, err := tcpstate.Snapshot(f); err == nil && len(socks) == 0 {
		fmt.Fprintf(w, "sockit trace: no TCP socket on %s yet (nothing listens or connects there); waiting for one.\n", label)
	}
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// traceSources are the tracer and capture, or the poller, that feed trace.
type traceSources struct {
	runs    []func(context.Context, func(traceItem)) error
	closes  []func() error
	capture bool // segments are captured
}

func (s *traceSources) close() {
	for _, c := range s.closes {
		c()
	}
}

// openTraceSources picks the tracepoint and capture as root, else polling,
// and tells the user on ErrOut which it is and what polling misses.
func openTraceSources(opts *TraceOptions, f tcpstate.Filter, label string) (*traceSources, error) {
	isRoot := opts.isRoot
	if isRoot == nil {
		isRoot = func() bool { return os.Geteuid() == 0 }
	}
	w := opts.IO.ErrOut
	s := &traceSources{}
	why, remedy := "not root", "Run as root (sudo) for every transition as the kernel makes it and the segments behind them."
	if isRoot() && opts.Poll {
		why, remedy = "--poll", "Leave out --poll for every transition as the kernel makes it and the segments behind them."
	}
	if isRoot() && !opts.Poll {
		tr, err := tcpstate.NewStateTracer(f)
		if err == nil {
			s.closes = append(s.closes, tr.Close)
			s.runs = append(s.runs, func(ctx context.Context, emit func(traceItem)) error {
				return tr.Run(ctx, func(t tcpstate.Transition) { emit(traceItem{at: t.Time, tr: &t}) })
			})
			how := "states from the tracepoint sock:inet_sock_set_state"
			if !opts.NoSegments {
				how += "; " + addCapture(s, f, w)
			}
			fmt.Fprintf(w, "sockit trace: TCP connections, %s; %s. Ctrl-C to stop.\n", label, how)
			return s, nil
		}
		fmt.Fprintf(w, "sockit trace: the kernel tracepoint is not usable (%v); polling instead\n", err)
		why, remedy = "without the tracepoint", ""
	}
	p, err := tcpstate.NewPoller(f, opts.Interval)
	if err != nil {
		return nil, err
	}
	s.runs = append(s.runs, func(ctx context.Context, emit func(traceItem)) error {
		return p.Run(ctx, func(t tcpstate.Transition) { emit(traceItem{at: t.Time, tr: &t}) })
	})
	fmt.Fprintf(w, "sockit trace: TCP connections, %s; polling sock_diag every %s. Ctrl-C to stop.\n", label, opts.Interval)
	fmt.Fprintf(w, "  %s, so: states that last less than %s are missed (on loopback a handshake or\n"+
		"  a teardown takes microseconds: states in parentheses were passed through unseen, per the TCP\n"+
		"  state diagram), times are rounded to the interval, and no segments are shown.\n", why, opts.Interval)
	if remedy != "" {
		fmt.Fprintln(w, "  "+remedy)
	}
	return s, nil
}

// addCapture adds the packet capture to s, or says why there is none.
func addCapture(s *traceSources, f tcpstate.Filter, w io.Writer) string {
	c, err := tcpstate.NewCapture(f)
	if err != nil {
		fmt.Fprintf(w, "sockit trace: no segments: %v\n", err)
		return "no segments"
	}
	s.closes = append(s.closes, c.Close)
	s.capture = true
	s.runs = append(s.runs, func(ctx context.Context, emit func(traceItem)) error {
		return c.RunPackets(ctx, func(p tcpstate.Packet) { emit(traceItem{at: p.Time, seg: &p.Segment, pkt: &p}) })
	})
	return "segments from a packet capture on every interface"
}

// reorderDelay is how long an item waits for items of the other source
// with earlier timestamps: the tracepoint and the capture report on their
// own goroutines, a little apart.
const reorderDelay = 30 * time.Millisecond

// printTraceItems prints items in timestamp order until ctx ends, then
// flushes what is left. It stops early, returning the error, when writing
// fails: nobody reads the output any more.
func printTraceItems(ctx context.Context, opts *TraceOptions, items <-chan traceItem) (err error) {
	out := &stickyWriter{w: opts.IO.Out}
	p := &tracePrinter{w: out, json: opts.JSON, shown: map[int]bool{}}
	if opts.Write != "" {
		pw, closePcap, err := createPcap(opts.Write)
		if err != nil {
			return err
		}
		defer func() { err = joinErr(err, closePcap()) }()
		p.pcap = pw
	}
	if opts.HTML != "" {
		p.ladder = new(ladder)
		defer func() { err = joinErr(err, writeLadder(opts, p.ladder)) }()
	}
	var pending []traceItem
	tick := time.NewTicker(reorderDelay / 3)
	defer tick.Stop()
	for out.err == nil && p.pcapErr == nil {
		select {
		case <-ctx.Done():
			p.flush(pending, time.Now().Add(time.Hour))
			return joinErr(out.err, p.pcapErr)
		case it := <-items:
			pending = append(pending, it)
		case now := <-tick.C:
			pending = p.flush(pending, now.Add(-reorderDelay))
		}
	}
	return joinErr(out.err, p.pcapErr)
}

// writeLadder writes the --html page.
func writeLadder(opts *TraceOptions, l *ladder) error {
	f, err := os.Create(opts.HTML)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	command := "sockit trace"
	if opts.Target != "" {
		command += " " + opts.Target
	}
	err = l.write(f, command, time.Now())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "sockit trace: ladder diagrams of %s in %s\n", plural(uint64(l.conns()), "connection"), opts.HTML)
	return nil
}

// createPcap creates the -w file; close flushes and closes it.
func createPcap(name string) (*tcpstate.PcapWriter, func() error, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, usageErr{fmt.Errorf("-w: %w", err)}
	}
	bw := bufio.NewWriter(f)
	pw, err := tcpstate.NewPcapWriter(bw, 0)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("-w: %w", err)
	}
	return pw, func() error {
		err := bw.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		return nil
	}, nil
}

// stickyWriter keeps the first write error and writes nothing after it.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(b)
	if err != nil {
		s.err = fmt.Errorf("trace: write output: %w", err)
	}
	return n, err
}

type tracePrinter struct {
	w       io.Writer
	json    bool
	pcap    *tcpstate.PcapWriter // -w; nil = none
	pcapErr error                // the first failed write to it
	ladder  *ladder              // --html; nil = none
	tl      tcpstate.Timeline
	shown   map[int]bool // connections whose heading is printed
}

// flush prints the items older than upTo, in time order, and returns the
// rest.
func (p *tracePrinter) flush(pending []traceItem, upTo time.Time) []traceItem {
	slices.SortStableFunc(pending, func(a, b traceItem) int { return a.at.Compare(b.at) })
	i := 0
	for ; i < len(pending) && !pending[i].at.After(upTo); i++ {
		var steps []tcpstate.Step
		if it := pending[i]; it.tr != nil {
			steps = p.tl.AddTransition(*it.tr)
		} else {
			steps = p.tl.AddSegment(*it.seg)
			if p.pcap != nil && p.pcapErr == nil && it.pkt != nil {
				if err := p.pcap.WritePacket(*it.pkt); err != nil {
					p.pcapErr = fmt.Errorf("-w: %w", err)
				}
			}
		}
		for _, st := range steps {
			p.print(st)
		}
	}
	return pending[i:]
}

func (p *tracePrinter) print(st tcpstate.Step) {
	if p.ladder != nil {
		p.ladder.add(st)
	}
	if p.json {
		json.NewEncoder(p.w).Encode(st)
		return
	}
	if st.Conn > 0 && !p.shown[st.Conn] {
		p.shown[st.Conn] = true
		fmt.Fprintf(p.w, "── connection #%d: %s\n", st.Conn, connName(st))
	}
	fmt.Fprintln(p.w, st.Time.Format(stampLayout)+" "+connTag(st.Conn)+" "+stepText(st))
}

func connTag(n int) string {
	if n == 0 {
		return "listen"
	}
	return fmt.Sprintf("#%-5d", n)
}

func connName(st tcpstate.Step) string {
	if st.Segment != nil {
		return st.Segment.Src.String() + " ⇄ " + st.Segment.Dst.String()
	}
	return st.Local.String() + " ⇄ " + st.Remote.String()
}

func stepText(st tcpstate.Step) string {
	if st.Segment != nil {
		return segmentText(st)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %s", st.Local, st.From)
	for _, s := range st.Passed {
		b.WriteString(" → (" + s.String() + ")")
	}
	if st.To == st.From && len(st.Passed) == 0 {
		b.WriteString(" (stays)")
	} else {
		b.WriteString(" → " + st.To.String())
	}
	if st.InState > 0 && !st.Polled {
		fmt.Fprintf(&b, " after %s in %s", fmtDur(st.InState), st.From)
	}
	if st.Meaning != "" {
		b.WriteString(": " + st.Meaning)
	}
	return b.String()
}

func segmentText(st tcpstate.Step) string {
	s := st.Segment
	var b strings.Builder
	fmt.Fprintf(&b, "  %s → %s  %s", s.Src, s.Dst, s.Flags)
	seq, ack := s.Seq, s.Ack
	if st.RelKnown {
		seq, ack = st.RelSeq, st.RelAck
	}
	fmt.Fprintf(&b, " seq=%d", seq)
	if s.Flags&tcpstate.ACK != 0 {
		fmt.Fprintf(&b, " ack=%d", ack)
	}
	fmt.Fprintf(&b, " win=%d", s.Window)
	if s.Len > 0 {
		fmt.Fprintf(&b, " len=%d", s.Len)
	}
	switch {
	case s.Flags&tcpstate.SYN != 0:
		fmt.Fprintf(&b, " (ISN %d)", s.Seq)
	case !st.RelKnown:
		b.WriteString(" (absolute: the SYN was not seen)")
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
