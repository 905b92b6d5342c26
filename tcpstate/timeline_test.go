package tcpstate_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/tcpstate"
)

func TestTimeline(t *testing.T) {
	t.Parallel()
	cli, srv := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:7007")
	noPort := netip.MustParseAddrPort("127.0.0.1:0")
	t0 := time.Unix(1000, 0)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	var tl tcpstate.Timeline
	var steps []tcpstate.Step
	add := func(s []tcpstate.Step) { steps = append(steps, s...) }
	add(tl.AddTransition(tcpstate.Transition{Time: at(0), Local: noPort, Remote: srv, From: tcpstate.Closed, To: tcpstate.SynSent}))
	if len(steps) != 0 {
		t.Fatalf("a connect without its port yet gave %+v, want it held back", steps)
	}
	add(tl.AddSegment(tcpstate.Segment{Time: at(10), Src: cli, Dst: srv, Flags: tcpstate.SYN, Seq: 1000}))
	add(tl.AddSegment(tcpstate.Segment{Time: at(20), Src: srv, Dst: cli, Flags: tcpstate.SYN | tcpstate.ACK, Seq: 5000, Ack: 1001}))
	add(tl.AddTransition(tcpstate.Transition{Time: at(30), Local: cli, Remote: srv, From: tcpstate.SynSent, To: tcpstate.Established}))
	add(tl.AddSegment(tcpstate.Segment{Time: at(40), Src: cli, Dst: srv, Flags: tcpstate.ACK, Seq: 1001, Ack: 5001}))
	add(tl.AddTransition(tcpstate.Transition{Time: at(50), Local: srv, Remote: netip.MustParseAddrPort("0.0.0.0:0"), From: tcpstate.Listen, To: tcpstate.Closed}))

	if len(steps) != 6 {
		t.Fatalf("got %d steps, want 6: %+v", len(steps), steps)
	}
	first := steps[0]
	if first.Kind != "state" || first.Local != cli || first.To != tcpstate.SynSent || first.Conn != 1 || !first.Time.Equal(at(0)) {
		t.Errorf("first step %+v, want the connect, given its port, at its own time", first)
	}
	var rel [][2]uint32
	for _, st := range steps {
		if st.Kind == "segment" {
			if !st.RelKnown {
				t.Errorf("%+v: relative numbers unknown", st)
			}
			rel = append(rel, [2]uint32{st.RelSeq, st.RelAck})
		}
	}
	if want := [][2]uint32{{0, 0}, {0, 1}, {1, 1}}; !slices.Equal(rel, want) {
		t.Errorf("relative seq/ack %v, want %v", rel, want)
	}
	if est := steps[3]; est.InState != 30*time.Microsecond || est.Conn != 1 {
		t.Errorf("SYN_SENT → ESTABLISHED %+v, want 30µs in SYN_SENT on connection 1", est)
	}
	if ln := steps[5]; ln.Conn != 0 {
		t.Errorf("listener step %+v, want connection 0", ln)
	}
}

func TestTimelinePolledFillsPassedStates(t *testing.T) {
	t.Parallel()
	var tl tcpstate.Timeline
	a, b := netip.MustParseAddrPort("[::1]:40000"), netip.MustParseAddrPort("[::1]:7007")
	steps := tl.AddTransition(tcpstate.Transition{Local: a, Remote: b, From: tcpstate.Established, To: tcpstate.TimeWait, Polled: true})
	if len(steps) != 1 || !slices.Equal(steps[0].Passed, []tcpstate.State{tcpstate.FinWait1, tcpstate.FinWait2}) {
		t.Fatalf("steps %+v, want FIN_WAIT_1 and FIN_WAIT_2 passed unseen", steps)
	}
	if want := tcpstate.Meaning(tcpstate.FinWait2, tcpstate.TimeWait); steps[0].Meaning != want {
		t.Errorf("meaning %q, want the last edge's: %q", steps[0].Meaning, want)
	}
}

// Two clients connect to one server at once: the kernel reports both
// CLOSED → SYN_SENT before their ports are known, and each must end up
// on its own connection, in the order the SYNs went out.
func TestTimelineConcurrentConnects(t *testing.T) {
	t.Parallel()
	srv, noPort := netip.MustParseAddrPort("[::1]:7007"), netip.MustParseAddrPort("[::1]:0")
	c1, c2 := netip.MustParseAddrPort("[::1]:40001"), netip.MustParseAddrPort("[::1]:40002")
	t0 := time.Unix(1000, 0)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	var tl tcpstate.Timeline
	var steps []tcpstate.Step
	add := func(s []tcpstate.Step) { steps = append(steps, s...) }
	add(tl.AddTransition(tcpstate.Transition{Time: at(0), Local: noPort, Remote: srv, From: tcpstate.Closed, To: tcpstate.SynSent}))
	add(tl.AddTransition(tcpstate.Transition{Time: at(1), Local: noPort, Remote: srv, From: tcpstate.Closed, To: tcpstate.SynSent}))
	add(tl.AddSegment(tcpstate.Segment{Time: at(2), Src: c1, Dst: srv, Flags: tcpstate.SYN, Seq: 100}))
	add(tl.AddSegment(tcpstate.Segment{Time: at(3), Src: c2, Dst: srv, Flags: tcpstate.SYN, Seq: 200}))
	add(tl.AddSegment(tcpstate.Segment{Time: at(4), Src: c1, Dst: srv, Flags: tcpstate.SYN, Seq: 100})) // a retransmission
	add(tl.AddTransition(tcpstate.Transition{Time: at(10), Local: c2, Remote: srv, From: tcpstate.SynSent, To: tcpstate.Established}))
	add(tl.AddTransition(tcpstate.Transition{Time: at(20), Local: c1, Remote: srv, From: tcpstate.SynSent, To: tcpstate.Established}))

	var connects []string
	for _, st := range steps {
		if st.Kind == "state" && st.To == tcpstate.SynSent {
			connects = append(connects, st.Local.String()+"@"+st.Time.Sub(t0).String())
		}
	}
	if want := []string{"[::1]:40001@0s", "[::1]:40002@1µs"}; !slices.Equal(connects, want) {
		t.Errorf("connects %v, want %v", connects, want)
	}
	for _, st := range steps {
		if st.Kind == "state" && st.To == tcpstate.Established {
			want := map[netip.AddrPort]time.Duration{c1: 20 * time.Microsecond, c2: 9 * time.Microsecond}[st.Local]
			if st.InState != want {
				t.Errorf("%v: %v in SYN_SENT, want %v", st.Local, st.InState, want)
			}
		}
	}
	if steps[0].Conn == steps[len(steps)-1].Conn && steps[0].Local != steps[len(steps)-1].Local {
		t.Errorf("two connections share number %d", steps[0].Conn)
	}
}

// A telnet that calls shutdown and then close: the kernel reports
// FIN_WAIT_1 → FIN_WAIT_1 at the close (tcp_close sets the state it is
// in). The step says the state stays, and the time in FIN_WAIT_1 still
// counts from the shutdown.
func TestTimelineStateSetAgain(t *testing.T) {
	t.Parallel()
	var tl tcpstate.Timeline
	a, b := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:7007")
	t0 := time.Unix(1000, 0)
	tr := func(ms int, from, to tcpstate.State) []tcpstate.Step {
		return tl.AddTransition(tcpstate.Transition{Time: t0.Add(time.Duration(ms) * time.Millisecond), Local: a, Remote: b, From: from, To: to})
	}
	tr(0, tcpstate.Established, tcpstate.FinWait1)
	again := tr(5, tcpstate.FinWait1, tcpstate.FinWait1)
	if len(again) != 1 || !strings.Contains(again[0].Meaning, "state stays") {
		t.Fatalf("FIN_WAIT_1 → FIN_WAIT_1 gave %+v, want one step whose meaning says the state stays", again)
	}
	next := tr(8, tcpstate.FinWait1, tcpstate.FinWait2)
	if len(next) != 1 || next[0].InState != 8*time.Millisecond {
		t.Errorf("FIN_WAIT_1 → FIN_WAIT_2 gave %+v, want 8ms in FIN_WAIT_1 (from the shutdown, not the close)", next)
	}
}

// A capture can lag the tracepoint: the server's last segment may come
// after its LAST_ACK → CLOSED, while the client is in TIME_WAIT. It still
// reads relative to both ISNs, on the same connection.
func TestTimelineSegmentAfterClosed(t *testing.T) {
	t.Parallel()
	var tl tcpstate.Timeline
	cli, srv := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:7007")
	tl.AddSegment(tcpstate.Segment{Src: cli, Dst: srv, Flags: tcpstate.SYN, Seq: 1000})
	tl.AddSegment(tcpstate.Segment{Src: srv, Dst: cli, Flags: tcpstate.SYN | tcpstate.ACK, Seq: 5000, Ack: 1001})
	tl.AddTransition(tcpstate.Transition{Local: cli, Remote: srv, From: tcpstate.FinWait2, To: tcpstate.TimeWait})
	first := tl.AddTransition(tcpstate.Transition{Local: srv, Remote: cli, From: tcpstate.LastAck, To: tcpstate.Closed})
	steps := tl.AddSegment(tcpstate.Segment{Src: srv, Dst: cli, Flags: tcpstate.FIN | tcpstate.ACK, Seq: 5007, Ack: 1008})
	if len(steps) != 1 || !steps[0].RelKnown || steps[0].RelSeq != 7 || steps[0].RelAck != 8 || steps[0].Conn != first[0].Conn {
		t.Errorf("steps %+v; want seq 7, ack 8 relative, on connection %d", steps, first[0].Conn)
	}
}
