package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sockit/sockit/tcpstate"
)

// WatchOptions are the inputs of `sockit watch`.
type WatchOptions struct {
	IO       IOStreams
	Target   string // PORT or ENDPOINT; "" = every TCP socket
	JSON     bool
	Once     bool
	Interval time.Duration
	// States keeps only the sockets in these states (--state); nil = all.
	States []string
	// Rows bounds the table's rows (a terminal's height); 0 = all.
	Rows int
	// Live redraws the table every Interval; NewCmdWatch sets it when
	// standard output is a terminal and --once is not given.
	Live bool
}

// NewCmdWatch builds `sockit watch`. runF replaces runWatch in tests.
func NewCmdWatch(app *App, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [PORT|ENDPOINT]",
		Short: "Show the TCP sockets on a port and their states, live",
		Long: `Show the TCP sockets on a port (local or remote) with their state, addresses,
send and receive queues, round-trip time and time in state, and how many are in
each state. A listener's row says what its queues are: "accept queue N of
backlog M", the connections completed and waiting for accept(2) against
listen(2)'s backlog (see it fill: sockit serve --accept-delay 1m). On a
terminal the table refreshes every --interval until Ctrl-C; otherwise, or
with --once, it is printed once. --json prints one snapshot.

The data comes from the kernel's sock_diag, as ss(8) gets it: no root needed.
Time in state is exact for TIME_WAIT (from its timer) and counted from when
watch first saw the socket otherwise (shown as ≥). A PORT selects sockets
with that local or remote port; an ENDPOINT with an address (127.0.0.1:8080,
tcp://[::1]:8080) also requires that address on that side, and includes a
listener bound to the wildcard address on the port. Ctrl-C ends a live table
(exit 0).

The summary comes first: how many sockets are in each state, each
listener's accept queue (connections waiting for accept(2), of the backlog),
and how long the TIME_WAIT sockets have left, in 10-second bins. The table's
rows are grouped by peer address, and on a terminal each group is cut to fit
the screen ("… and 24 more"). PROCESS is the pid and name of the process
holding the socket, read from /proc as ss -p does (another user's only as
root; TIME_WAIT sockets belong to no process). --state keeps only sockets in
the states named (repeatable or comma-separated: --state time-wait,established).

--json prints a snapshot every --interval as one line of JSON (NDJSON) until
Ctrl-C; with --once, one:
  {"time", "port" (0 = every port), "addr" (when one was given),
   "sockets": [{"state" ("TIME_WAIT"), "local", "remote" ("0.0.0.0:0" or
     "[::]:0" for a listener), "send_q", "recv_q" (as ss shows them),
     "rtt_us", "rttvar_us", "timer_left_ms", "in_state_ms" (TIME_WAIT only),
     "uid", "inode", "pid", "process"}],
   "counts": {"ESTABLISHED": 2, ...}, "total",
   "time_wait_left": [{"from_s": 0, "to_s": 10, "count": 3}, ...]}
Fields that are zero are left out, except state, local, remote, the queues
and uid. With nothing on the port, "sockets" is [] and "total" 0.`,
		Example: `  sockit watch 7007
  sockit watch tcp://127.0.0.1:8080 --interval 200ms
  sockit watch :7007 --state time-wait
  sockit watch :7007 --json --interval 500ms`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if len(args) == 1 {
				opts.Target = args[0]
			}
			opts.Live = !opts.Once && !opts.JSON && isTerminal(app.IO.Out)
			if opts.Live {
				if f, ok := app.IO.Out.(*os.File); ok {
					if _, h, err := term.GetSize(int(f.Fd())); err == nil {
						opts.Rows = h
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWatch(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.JSON, "json", false, "print a snapshot as one line of JSON every --interval (NDJSON), until Ctrl-C; with --once, one")
	fs.BoolVar(&opts.Once, "once", false, "print the table (or the JSON snapshot) once, even on a terminal")
	fs.DurationVar(&opts.Interval, "interval", time.Second, "how often the live table refreshes, or a JSON snapshot is printed")
	fs.StringSliceVar(&opts.States, "state", nil, "show only sockets in these states (repeatable, or comma-separated: time-wait,established)")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runWatch(ctx context.Context, opts *WatchOptions) error {
	f, label, err := tcpTarget(opts.Target)
	if err != nil {
		return err
	}
	if opts.Interval <= 0 {
		return usageErr{fmt.Errorf("--interval must be more than 0, not %s", opts.Interval)}
	}
	keep, err := stateFilter(opts.States)
	if err != nil {
		return err
	}
	ages := newStateAges()
	for {
		socks, err := tcpstate.Snapshot(f)
		if err != nil {
			return unavailable("watch", err)
		}
		socks = slices.DeleteFunc(socks, func(s tcpstate.Socket) bool { return !keep(s.State) })
		owners, _ := tcpstate.Owners() // without them (elsewhere, or no /proc) the column says "-"
		now := time.Now()
		ages.update(socks, now)
		if opts.JSON {
			if err := writeWatchJSON(opts.IO.Out, f, now, socks, owners); err != nil || opts.Once {
				return err
			}
		} else {
			if opts.Live {
				io.WriteString(opts.IO.Out, "\x1b[H\x1b[2J") // cursor home, clear screen
				fmt.Fprintf(opts.IO.Out, "TCP sockets, %s — %s (every %s; Ctrl-C to stop)\n\n", label, now.Format("15:04:05"), opts.Interval)
			}
			writeWatchSummary(opts.IO.Out, socks, label)
			rows := 0
			if opts.Live && opts.Rows > 0 {
				rows = max(opts.Rows-watchSummaryLines(socks)-5, 4) // the heading, the table's head and a line to spare
			}
			writeWatchTable(opts.IO.Out, socks, ages, owners, now, rows)
			if !opts.Live {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is how a live table ends
		case <-time.After(opts.Interval):
		}
	}
}

// stateAges remembers when each socket was first seen in its state.
type stateAges struct {
	first bool
	seen  map[tcpstate.Key]stateAge
}

type stateAge struct {
	state tcpstate.State
	since time.Time
	lower bool // it was already in the state when watching began
}

func newStateAges() *stateAges { return &stateAges{first: true, seen: map[tcpstate.Key]stateAge{}} }

func (a *stateAges) update(socks []tcpstate.Socket, now time.Time) {
	next := make(map[tcpstate.Key]stateAge, len(socks))
	for _, s := range socks {
		k := s.Key()
		old, ok := a.seen[k]
		switch {
		case s.State == tcpstate.TimeWait && s.Expires > 0:
			next[k] = stateAge{state: s.State, since: now.Add(s.Expires - tcpstate.TimeWaitLen)}
		case ok && old.state == s.State:
			next[k] = old
		default:
			next[k] = stateAge{state: s.State, since: now, lower: a.first}
		}
	}
	a.seen, a.first = next, false
}

// writeWatchTable writes the sockets grouped by peer address (listeners
// first), each group in a row per socket; with rows > 0 the table keeps to
// about that many rows, cutting each group short with "… and N more".
func writeWatchTable(w io.Writer, socks []tcpstate.Socket, ages *stateAges, owners map[uint64]tcpstate.Process, now time.Time, rows int) {
	if len(socks) == 0 {
		return
	}
	groups := peerGroups(socks)
	per := len(socks) // rows per group
	if rows > 0 && len(socks)+len(groups) > rows {
		per = max((rows-len(groups))/len(groups), 1)
	}
	// Columns are aligned over the rows of every group; a group's title
	// and its "… and N more" stand on lines of their own.
	var lines [][]string // nil: the title or note in notes at the same index
	var notes []string
	add := func(cells []string, note string) { lines, notes = append(lines, cells), append(notes, note) }
	add([]string{"STATE", "LOCAL", "REMOTE", "SEND-Q", "RECV-Q", "RTT", "IN STATE", "PROCESS"}, "")
	for _, g := range groups {
		if len(groups) > 1 {
			add(nil, g.title())
		}
		for i, s := range g.socks {
			if i == per && len(g.socks) > per+1 {
				add(nil, fmt.Sprintf("  … and %d more", len(g.socks)-per))
				break
			}
			add([]string{s.State.String(), s.Local.String(), remoteText(s), strconv.Itoa(int(s.SendQ)), strconv.Itoa(int(s.RecvQ)),
				rttText(s), ageText(s, ages.seen[s.Key()], now), processText(s, owners)}, "")
		}
	}
	widths := make([]int, len(lines[0]))
	for _, cells := range lines {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for i, cells := range lines {
		if cells == nil {
			fmt.Fprintln(w, notes[i])
			continue
		}
		var b strings.Builder
		for j, c := range cells {
			b.WriteString(c)
			if j < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// peerGroup is the sockets with one peer address.
type peerGroup struct {
	peer  string // "" for listeners
	socks []tcpstate.Socket
}

func (g peerGroup) title() string {
	if g.peer == "" {
		return "listening:"
	}
	return "peer " + g.peer + ": " + countsText(g.socks)
}

// peerGroups groups socks by peer address, listeners first, then by the
// most sockets; within a group the order is kept.
func peerGroups(socks []tcpstate.Socket) []peerGroup {
	idx := map[string]int{}
	var groups []peerGroup
	for _, s := range socks {
		peer := ""
		if s.State != tcpstate.Listen {
			peer = s.Remote.Addr().Unmap().String()
		}
		i, ok := idx[peer]
		if !ok {
			i = len(groups)
			idx[peer] = i
			groups = append(groups, peerGroup{peer: peer})
		}
		groups[i].socks = append(groups[i].socks, s)
	}
	slices.SortStableFunc(groups, func(a, b peerGroup) int {
		switch {
		case a.peer == "" || b.peer == "":
			return strings.Compare(a.peer, b.peer)
		case len(a.socks) != len(b.socks):
			return len(b.socks) - len(a.socks)
		}
		return strings.Compare(a.peer, b.peer)
	})
	return groups
}

// processText is the PROCESS column: "1234/sockit", or "-".
func processText(s tcpstate.Socket, owners map[uint64]tcpstate.Process) string {
	if p, ok := owners[s.Inode]; ok && s.Inode != 0 {
		return strconv.Itoa(p.PID) + "/" + p.Name
	}
	return "-"
}

// writeWatchSummary writes what comes before the table: the counts per
// state, the listeners' accept queues and the TIME_WAIT time left.
func writeWatchSummary(w io.Writer, socks []tcpstate.Socket, label string) {
	fmt.Fprintln(w, countsLine(socks, label))
	for _, s := range socks {
		if s.State == tcpstate.Listen {
			fmt.Fprintf(w, "  %s: %s\n", s.Local, queueText(s))
		}
	}
	if bins := timeWaitLeft(socks); bins != nil {
		var parts []string
		for _, b := range bins {
			parts = append(parts, fmt.Sprintf("%d–%ds %d", b.From, b.To, b.Count))
		}
		fmt.Fprintln(w, "  TIME_WAIT left: "+strings.Join(parts, "  "))
	}
	fmt.Fprintln(w)
}

// watchSummaryLines is how many lines writeWatchSummary writes.
func watchSummaryLines(socks []tcpstate.Socket) int {
	n := 2
	for _, s := range socks {
		if s.State == tcpstate.Listen {
			n++
		}
	}
	if timeWaitLeft(socks) != nil {
		n++
	}
	return n
}

// timeWaitBin counts the TIME_WAIT sockets with From to To seconds left.
type timeWaitBin struct {
	From  int `json:"from_s"`
	To    int `json:"to_s"`
	Count int `json:"count"`
}

// timeWaitLeft bins the TIME_WAIT sockets by the time they have left, in
// 10-second bins over TIME_WAIT's 60 seconds; nil when there is none.
func timeWaitLeft(socks []tcpstate.Socket) []timeWaitBin {
	const width = 10 * time.Second
	n := int(tcpstate.TimeWaitLen / width)
	var bins []timeWaitBin
	for _, s := range socks {
		if s.State != tcpstate.TimeWait {
			continue
		}
		if bins == nil {
			for i := range n {
				bins = append(bins, timeWaitBin{From: i * int(width.Seconds()), To: (i + 1) * int(width.Seconds())})
			}
		}
		bins[min(max(int(s.Expires/width), 0), n-1)].Count++
	}
	return bins
}

func remoteText(s tcpstate.Socket) string {
	if s.State == tcpstate.Listen {
		return "*:*"
	}
	return s.Remote.String()
}

// queueText labels a listener's queues, which ss(8) shows as its RECV-Q
// and SEND-Q, for the summary: the connections the kernel has completed
// and that wait for accept(2), against the backlog listen(2) allowed.
// Other sockets get "".
func queueText(s tcpstate.Socket) string {
	if s.State != tcpstate.Listen {
		return ""
	}
	text := fmt.Sprintf("accept queue %d of backlog %d", s.RecvQ, s.SendQ)
	if s.RecvQ > s.SendQ {
		text += " (full: new SYNs are dropped)"
	}
	return text
}

func rttText(s tcpstate.Socket) string {
	if s.RTT == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fms", float64(s.RTT)/float64(time.Millisecond))
}

func ageText(s tcpstate.Socket, a stateAge, now time.Time) string {
	d := now.Sub(a.since).Round(100 * time.Millisecond)
	text := d.String()
	if a.lower {
		text = "≥" + text
	}
	if s.State == tcpstate.TimeWait && s.Expires > 0 {
		text += fmt.Sprintf(" (%.1fs left)", s.Expires.Seconds())
	}
	return text
}

// countsLine answers "how many in TIME_WAIT?": "5 sockets: 1 LISTEN, 2
// ESTABLISHED, 2 TIME_WAIT", or says that nothing is there.
func countsLine(socks []tcpstate.Socket, label string) string {
	switch {
	case len(socks) == 0 && label == allTCP:
		return "no TCP sockets"
	case len(socks) == 0:
		return "no TCP sockets on " + label + " (nothing listens or connects there)"
	}
	return countsText(socks)
}

// countsText is "5 sockets: 1 LISTEN, 2 ESTABLISHED, 2 TIME_WAIT".
func countsText(socks []tcpstate.Socket) string {
	counts := stateCounts(socks)
	var parts []string
	for _, st := range tcpstate.AllStates {
		if n := counts[st.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return fmt.Sprintf("%s: %s", plural(uint64(len(socks)), "socket"), strings.Join(parts, ", "))
}

// stateFilter is the test of --state: every state passes without one; an
// unknown name is a usage error naming the states there are.
func stateFilter(names []string) (func(tcpstate.State) bool, error) {
	if len(names) == 0 {
		return func(tcpstate.State) bool { return true }, nil
	}
	want := map[tcpstate.State]bool{}
	for _, n := range names {
		st, ok := tcpstate.ParseState(strings.TrimSpace(n))
		if !ok {
			var all []string
			for _, s := range tcpstate.AllStates {
				all = append(all, s.String())
			}
			return nil, usageErr{fmt.Errorf("--state %q is not a TCP state (want one of %s; case, - and _ do not matter)", n, strings.Join(all, ", "))}
		}
		want[st] = true
	}
	return func(s tcpstate.State) bool { return want[s] }, nil
}

func stateCounts(socks []tcpstate.Socket) map[string]int {
	m := map[string]int{}
	for _, s := range socks {
		m[s.State.String()]++
	}
	return m
}

// watchJSON is `sockit watch --json`: one snapshot.
type watchJSON struct {
	Time    time.Time      `json:"time"`
	Port    uint16         `json:"port,omitempty"`
	Addr    string         `json:"addr,omitempty"`
	Sockets []watchSocket  `json:"sockets"`
	Counts  map[string]int `json:"counts"`
	Total   int            `json:"total"`
	// TimeWaitLeft bins the TIME_WAIT sockets by the time they have left.
	TimeWaitLeft []timeWaitBin `json:"time_wait_left,omitempty"`
}

type watchSocket struct {
	State       tcpstate.State `json:"state"`
	Local       netip.AddrPort `json:"local"`
	Remote      netip.AddrPort `json:"remote"`
	SendQ       uint32         `json:"send_q"`
	RecvQ       uint32         `json:"recv_q"`
	RTTMicros   int64          `json:"rtt_us,omitempty"`
	RTTVarMicro int64          `json:"rttvar_us,omitempty"`
	TimerMillis int64          `json:"timer_left_ms,omitempty"`
	InStateMs   int64          `json:"in_state_ms,omitempty"` // TIME_WAIT only: the one state whose age the kernel tells
	UID         uint32         `json:"uid"`
	Inode       uint64         `json:"inode,omitempty"`
	PID         int            `json:"pid,omitempty"`     // the process holding the socket, when known
	Process     string         `json:"process,omitempty"` // its command name
}

// writeWatchJSON writes one snapshot as a line of JSON.
func writeWatchJSON(w io.Writer, f tcpstate.Filter, now time.Time, socks []tcpstate.Socket, owners map[uint64]tcpstate.Process) error {
	out := watchJSON{Time: now, Port: f.Port, Sockets: make([]watchSocket, 0, len(socks)), Counts: stateCounts(socks), Total: len(socks),
		TimeWaitLeft: timeWaitLeft(socks)}
	if f.Addr.IsValid() {
		out.Addr = f.Addr.String()
	}
	for _, s := range socks {
		ws := watchSocket{State: s.State, Local: s.Local, Remote: s.Remote, SendQ: s.SendQ, RecvQ: s.RecvQ,
			RTTMicros: s.RTT.Microseconds(), RTTVarMicro: s.RTTVar.Microseconds(), TimerMillis: s.Expires.Milliseconds(),
			UID: s.UID, Inode: s.Inode}
		if s.State == tcpstate.TimeWait && s.Expires > 0 {
			ws.InStateMs = (tcpstate.TimeWaitLen - s.Expires).Milliseconds()
		}
		if p, ok := owners[s.Inode]; ok && s.Inode != 0 {
			ws.PID, ws.Process = p.PID, p.Name
		}
		out.Sockets = append(out.Sockets, ws)
	}
	return json.NewEncoder(w).Encode(out)
}
