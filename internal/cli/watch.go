package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

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

--json prints one snapshot:
  {"time", "port" (0 = every port), "addr" (when one was given),
   "sockets": [{"state" ("TIME_WAIT"), "local", "remote" ("0.0.0.0:0" or
     "[::]:0" for a listener), "send_q", "recv_q" (as ss shows them),
     "rtt_us", "rttvar_us", "timer_left_ms", "in_state_ms" (TIME_WAIT only),
     "uid", "inode"}],
   "counts": {"ESTABLISHED": 2, ...}, "total"}
Fields that are zero are left out, except state, local, remote, the queues
and uid. With nothing on the port, "sockets" is [] and "total" 0.`,
		Example: `  sockit watch 7007
  sockit watch tcp://127.0.0.1:8080 --interval 200ms
  sockit watch :7007 --json`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if len(args) == 1 {
				opts.Target = args[0]
			}
			opts.Live = !opts.Once && !opts.JSON && isTerminal(app.IO.Out)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWatch(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.JSON, "json", false, "print one snapshot as JSON")
	fs.BoolVar(&opts.Once, "once", false, "print the table once, even on a terminal")
	fs.DurationVar(&opts.Interval, "interval", time.Second, "how often the live table refreshes")
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
	ages := newStateAges()
	for {
		socks, err := tcpstate.Snapshot(f)
		if err != nil {
			return unavailable("watch", err)
		}
		now := time.Now()
		ages.update(socks, now)
		if opts.JSON {
			return writeWatchJSON(opts.IO.Out, f, now, socks)
		}
		if opts.Live {
			io.WriteString(opts.IO.Out, "\x1b[H\x1b[2J") // cursor home, clear screen
			fmt.Fprintf(opts.IO.Out, "TCP sockets, %s — %s (every %s; Ctrl-C to stop)\n\n", label, now.Format("15:04:05"), opts.Interval)
		}
		writeWatchTable(opts.IO.Out, socks, ages, now, label)
		if !opts.Live {
			return nil
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

func writeWatchTable(w io.Writer, socks []tcpstate.Socket, ages *stateAges, now time.Time, label string) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tLOCAL\tREMOTE\tSEND-Q\tRECV-Q\tRTT\tIN STATE")
	for _, s := range socks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s%s\n", s.State, s.Local, remoteText(s), s.SendQ, s.RecvQ,
			rttText(s), ageText(s, ages.seen[s.Key()], now), queueText(s))
	}
	tw.Flush()
	fmt.Fprintln(w, countsLine(socks, label))
}

func remoteText(s tcpstate.Socket) string {
	if s.State == tcpstate.Listen {
		return "*:*"
	}
	return s.Remote.String()
}

// queueText labels a listener's queues, which ss(8) shows as its RECV-Q
// and SEND-Q: the connections the kernel has completed and that wait for
// accept(2), against the backlog listen(2) allowed. Other sockets get "".
func queueText(s tcpstate.Socket) string {
	if s.State != tcpstate.Listen {
		return ""
	}
	text := fmt.Sprintf("\taccept queue %d of backlog %d", s.RecvQ, s.SendQ)
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
	counts := stateCounts(socks)
	var parts []string
	for _, st := range tcpstate.AllStates {
		if n := counts[st.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	switch {
	case len(parts) == 0 && label == allTCP:
		return "no TCP sockets"
	case len(parts) == 0:
		return "no TCP sockets on " + label + " (nothing listens or connects there)"
	}
	return fmt.Sprintf("%s: %s", plural(uint64(len(socks)), "socket"), strings.Join(parts, ", "))
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
}

func writeWatchJSON(w io.Writer, f tcpstate.Filter, now time.Time, socks []tcpstate.Socket) error {
	out := watchJSON{Time: now, Port: f.Port, Sockets: make([]watchSocket, 0, len(socks)), Counts: stateCounts(socks), Total: len(socks)}
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
		out.Sockets = append(out.Sockets, ws)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
