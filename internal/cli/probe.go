package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/tcpstate"
)

// ProbeOptions are the inputs of `sockit probe`.
type ProbeOptions struct {
	IO             IOStreams
	Endpoint       string
	JSON           bool
	Wait           time.Duration
	ConnectTimeout time.Duration
}

// NewCmdProbe builds `sockit probe`. runF replaces runProbe in tests.
func NewCmdProbe(app *App, runF func(context.Context, *ProbeOptions) error) *cobra.Command {
	opts := &ProbeOptions{}
	cmd := &cobra.Command{
		Use:   "probe ENDPOINT",
		Short: "Test how a TCP peer handles the end of a connection, and say it in plain words",
		Long: `Connect to a TCP ENDPOINT four times and test how the peer ends a connection:

  1. half-close: send a message, shutdown(SHUT_WR); does the peer drain it and
     answer before its FIN (an echo server does), or close at our EOF?
  2. close with unread data: leave the peer's answer unread and close(2); the
     kernel sends RST instead of FIN (RFC 2525 §2.17), and no TIME_WAIT stays.
  3. SO_LINGER 0: close(2) resets at once.
  4. TIME_WAIT: who holds it (the side that sends FIN first), and how long.

Each wait for the peer is bounded by --wait, so a probe takes a few times
--wait at most. The states come from TCP_INFO and sock_diag (Linux); a peer on
this machine is observed from its side too. Exit 3 when it cannot connect.

--json prints the findings: {"addr", "half_close": {"local", "remote", "sent",
"received", "outcome" (answered, closed, reset or quiet), "after_shutdown",
"after_peer_fin", "peer_state", "took_ns"}, "unread_close": {"local",
"remote", "unread", "outcome" (reset, fin or skipped), "after", "peer_state",
"reason"}, "linger0": {"local", "remote", "outcome", "after", "peer_state"},
"time_wait": {"ours_after_half_close", "left_ns", "peer_closes_first",
"peer_resets", "conn": {"local", "remote"}, "holder" (us, peer or none),
"peer_state", "peer_left_ns"}}. peer_state is left out when the peer is on
another machine.`,
		Example: `  sockit probe 127.0.0.1:7007
  sockit probe tcp6://[::1]:8080 --json`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			opts.Endpoint = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProbe(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.JSON, "json", false, "print the findings as JSON")
	fs.DurationVar(&opts.Wait, "wait", time.Second, "how long each test waits for the peer")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 5*time.Second, "give up connecting after this long")
	return cmd
}

func runProbe(ctx context.Context, opts *ProbeOptions) error {
	ep, err := endpoint.Parse(opts.Endpoint)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(ep.Scheme, "tcp") {
		return usageErr{fmt.Errorf("%q: probe tests how a TCP connection ends (want host:port or tcp://host:port, not %s)", opts.Endpoint, ep.Scheme)}
	}
	if opts.Wait <= 0 {
		return usageErr{fmt.Errorf("--wait must be more than 0, not %s", opts.Wait)}
	}
	r, err := tcpstate.Probe(ctx, ep.Network(), ep.Addr, tcpstate.ProbeOptions{Wait: opts.Wait, ConnectTimeout: opts.ConnectTimeout})
	if err != nil {
		return unavailable("probe", err)
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	writeProbe(opts.IO.Out, ep, r, opts.Wait)
	return nil
}

func writeProbe(w io.Writer, ep endpoint.Endpoint, r *tcpstate.ProbeReport, wait time.Duration) {
	fmt.Fprintf(w, "sockit probe %s\n\n", ep)
	writeHalfClose(w, r.HalfClose, wait)
	writeUnreadClose(w, r.UnreadClose)
	writeLinger0(w, r.Linger0)
	writeTimeWait(w, r, wait)
}

func writeHalfClose(w io.Writer, h tcpstate.HalfClose, wait time.Duration) {
	fmt.Fprintf(w, "1. Half-close: we sent %s, then FIN with shutdown(SHUT_WR)   [%s → %s]\n", bytesText(h.Sent), h.Local, h.Remote)
	switch h.Outcome {
	case tcpstate.OutcomeAnswered:
		fmt.Fprintf(w, "   ✓ the peer drained it and answered after our FIN: %s back, then its own FIN (in %s).\n", bytesText(h.Received), fmtDur(h.Took))
	case tcpstate.OutcomeClosed:
		fmt.Fprintf(w, "   ✗ the peer closed at our FIN without answering: it treats EOF as the end of the\n     conversation, so a client that half-closes gets nothing back.\n")
	case tcpstate.OutcomeQuiet:
		fmt.Fprintf(w, "   … nothing ended within %s: the peer keeps its side open after our FIN (%s received).\n", wait, bytesText(h.Received))
	default:
		fmt.Fprintf(w, "   ✗ the peer reset the connection (RST) after our FIN (%s received before).\n", bytesText(h.Received))
	}
	walk, inferred := stateWalk(tcpstate.Established, h.AfterShutdown, h.AfterPeerFIN)
	fmt.Fprintf(w, "   our socket: %s", walk)
	if inferred {
		fmt.Fprint(w, " (in parentheses: passed between two looks)")
	}
	if h.PeerState != 0 {
		fmt.Fprintf(w, "; the peer's socket (on this machine): %s", h.PeerState)
	}
	fmt.Fprintln(w, ".")
}

func writeUnreadClose(w io.Writer, u tcpstate.UnreadClose) {
	fmt.Fprintf(w, "2. Close with unread data   [%s → %s]\n", u.Local, u.Remote)
	switch u.Outcome {
	case tcpstate.OutcomeSkipped:
		fmt.Fprintf(w, "   – not tested: %s.\n", u.Reason)
		return
	case tcpstate.OutcomeReset:
		fmt.Fprintf(w, "   we closed with %s of the peer's answer unread: our kernel sent RST, not FIN\n"+
			"   (tcp(7), RFC 2525 §2.17); the connection ended at once, with no TIME_WAIT on our side.\n", bytesText(u.Unread))
	default:
		fmt.Fprintf(w, "   we closed with %s unread, and the connection still closed in order (%s).\n", bytesText(u.Unread), u.After)
	}
	writePeerAfter(w, u.PeerState)
}

func writeLinger0(w io.Writer, l tcpstate.Linger0) {
	fmt.Fprintf(w, "3. SO_LINGER 0, then close(2)   [%s → %s]\n", l.Local, l.Remote)
	if l.Outcome == tcpstate.OutcomeReset {
		fmt.Fprintln(w, "   RST at once: no FIN, no FIN_WAIT, no TIME_WAIT; unsent data is thrown away, and the peer\n   reads \"connection reset by peer\".")
	} else {
		fmt.Fprintf(w, "   the connection still closed in order (%s).\n", l.After)
	}
	writePeerAfter(w, l.PeerState)
}

func writePeerAfter(w io.Writer, st tcpstate.State) {
	switch st {
	case 0:
	case tcpstate.Closed:
		fmt.Fprintln(w, "   the peer's socket (on this machine) is gone too: it took the reset.")
	default:
		fmt.Fprintf(w, "   the peer's socket (on this machine) is in %s.\n", st)
	}
}

func writeTimeWait(w io.Writer, r *tcpstate.ProbeReport, wait time.Duration) {
	t := r.TimeWait
	fmt.Fprintln(w, "4. TIME_WAIT: the side that sends FIN first holds it, for 2MSL (60s on Linux)")
	if t.OursAfterHalfClose == tcpstate.TimeWait {
		fmt.Fprintf(w, "   after test 1, where we closed first, we hold it: %s → %s in TIME_WAIT, %.1fs of 60s left.\n",
			r.HalfClose.Local, r.HalfClose.Remote, t.Left.Seconds())
	} else {
		fmt.Fprintf(w, "   after test 1 our side is %s, not TIME_WAIT.\n", t.OursAfterHalfClose)
	}
	if t.PeerResets {
		fmt.Fprintf(w, "   the peer reset a connection on its own (%s → %s), without FIN: nobody holds TIME_WAIT for it.\n", t.Conn.Local, t.Conn.Remote)
		return
	}
	if !t.PeerClosesFirst {
		fmt.Fprintf(w, "   the peer did not close a connection on its own within %s: it leaves closing to the\n"+
			"   client, so its clients hold TIME_WAIT and the server keeps none.\n", wait)
		return
	}
	fmt.Fprintf(w, "   the peer closed first on its own (%s → %s), so it holds TIME_WAIT", t.Conn.Local, t.Conn.Remote)
	switch t.PeerState {
	case 0:
		fmt.Fprintln(w, " (it is on another machine: not visible from here).")
	case tcpstate.TimeWait:
		fmt.Fprintf(w, ": %.1fs of 60s left on its side.\n", t.PeerLeft.Seconds())
	default:
		fmt.Fprintf(w, "; its socket is in %s.\n", t.PeerState)
	}
}

func bytesText(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

// stateWalk writes the states a socket went through from one state via
// each state seen, filling in those passed between two looks from the TCP
// state diagram, in parentheses.
func stateWalk(from tcpstate.State, seen ...tcpstate.State) (walk string, inferred bool) {
	parts := []string{from.String()}
	for _, st := range seen {
		path := tcpstate.Path(from, st)
		for i, p := range path {
			if i < len(path)-1 {
				parts = append(parts, "("+p.String()+")")
				inferred = true
			} else {
				parts = append(parts, p.String())
			}
		}
		from = st
	}
	return strings.Join(parts, " → "), inferred
}
