package cli

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/tcpstate"
)

// handshakeSteps are the steps trace shows for a connection from
// 127.0.0.1:40000 to 127.0.0.1:7007 that sends 6 bytes each way and
// closes, client first: 9 segments and 10 state changes.
func handshakeSteps() []tcpstate.Step {
	c, s := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:7007")
	at := time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)
	var steps []tcpstate.Step
	state := func(local, remote netip.AddrPort, from, to tcpstate.State) {
		steps = append(steps, tcpstate.Step{Time: at.Add(time.Duration(len(steps)) * 10 * time.Microsecond), Conn: 1, Kind: "state",
			Local: local, Remote: remote, From: from, To: to, Meaning: tcpstate.Meaning(from, to)})
	}
	seg := func(src, dst netip.AddrPort, f tcpstate.Flags, seq, ack uint32, n int) {
		steps = append(steps, tcpstate.Step{Time: at.Add(time.Duration(len(steps)) * 10 * time.Microsecond), Conn: 1, Kind: "segment",
			Segment: &tcpstate.Segment{Src: src, Dst: dst, Flags: f, Seq: 1000 + seq, Ack: 5000 + ack, Window: 64, Len: n},
			RelSeq:  seq, RelAck: ack, RelKnown: true})
	}
	const A, P, S, F = tcpstate.ACK, tcpstate.PSH, tcpstate.SYN, tcpstate.FIN
	state(c, s, tcpstate.Closed, tcpstate.SynSent)
	seg(c, s, S, 0, 0, 0)
	seg(s, c, S|A, 0, 1, 0)
	state(c, s, tcpstate.SynSent, tcpstate.Established)
	seg(c, s, A, 1, 1, 0)
	state(s, c, tcpstate.Listen, tcpstate.SynRecv)
	state(s, c, tcpstate.SynRecv, tcpstate.Established)
	seg(c, s, P|A, 1, 1, 6)
	seg(s, c, P|A, 1, 7, 6)
	seg(c, s, A, 7, 7, 0)
	state(c, s, tcpstate.Established, tcpstate.FinWait1)
	seg(c, s, F|A, 7, 7, 0)
	state(s, c, tcpstate.Established, tcpstate.CloseWait)
	state(s, c, tcpstate.CloseWait, tcpstate.LastAck)
	seg(s, c, F|A, 7, 8, 0)
	state(c, s, tcpstate.FinWait1, tcpstate.FinWait2)
	state(c, s, tcpstate.FinWait2, tcpstate.TimeWait)
	seg(c, s, A, 8, 8, 0)
	state(s, c, tcpstate.LastAck, tcpstate.Closed)
	return steps
}

// TestLadderLayout: the client is on the left; each segment is an arrow
// from its sender, each state a box on its own side.
func TestLadderLayout(t *testing.T) {
	t.Parallel()
	c := ladderOf(1, handshakeSteps())
	if c.Client != "127.0.0.1:40000" || c.Server != "127.0.0.1:7007" {
		t.Fatalf("sides: client %s, server %s; want the SYN's sender on the left", c.Client, c.Server)
	}
	var arrows, boxes int
	for i, r := range c.Rows {
		switch {
		case r.Arrow != nil:
			arrows++
			if r.Arrow.Y2 <= r.Arrow.Y1 {
				t.Errorf("row %d: arrow does not slope down the time axis", i)
			}
		case r.Box != nil:
			boxes++
		}
		if i > 0 && r.Y <= c.Rows[i-1].Y {
			t.Errorf("row %d is not below row %d", i, i-1)
		}
	}
	if arrows != 9 || boxes != 10 {
		t.Errorf("%d arrows and %d boxes, want 9 and 10", arrows, boxes)
	}
	first, second := c.Rows[1].Arrow, c.Rows[2].Arrow
	if first.X1 != ladderLeftX || first.X2 != ladderRightX || first.Label != "SYN seq=0" {
		t.Errorf("the SYN: %+v, want left to right, labelled SYN seq=0", first)
	}
	if second.X1 != ladderRightX || second.X2 != ladderLeftX || second.Label != "SYN-ACK seq=0 ack=1" {
		t.Errorf("the SYN-ACK: %+v, want right to left, labelled SYN-ACK seq=0 ack=1", second)
	}
	if b := c.Rows[0].Box; b.X >= ladderLeftX || b.Text != "SYN_SENT" {
		t.Errorf("the client's SYN_SENT box: %+v, want left of the client's lifeline", b)
	}
	if b := c.Rows[5].Box; b.X <= ladderRightX || b.Text != "SYN_RECV" {
		t.Errorf("the server's SYN_RECV box: %+v, want right of the server's lifeline", b)
	}
}

// TestLadderBounded: past maxLadderSteps the steps are counted, not kept,
// and the page says so; listener steps are left out.
func TestLadderBounded(t *testing.T) {
	t.Parallel()
	var l ladder
	l.add(tcpstate.Step{Conn: 0, Kind: "state", To: tcpstate.Listen})
	st := handshakeSteps()[0]
	for range maxLadderSteps + 5 {
		l.add(st)
	}
	if len(l.steps) != maxLadderSteps || l.dropped != 5 {
		t.Fatalf("kept %d steps and dropped %d, want %d and 5", len(l.steps), l.dropped, maxLadderSteps)
	}
	var b bytes.Buffer
	if err := l.write(&b, "sockit trace 7007", time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "5 later steps were left out") {
		t.Error("the page does not say steps were left out")
	}
}

// TestLadderEscapes: addresses and words reach the page as text, never
// as markup.
func TestLadderEscapes(t *testing.T) {
	t.Parallel()
	var l ladder
	for _, st := range handshakeSteps() {
		l.add(st)
	}
	var b bytes.Buffer
	if err := l.write(&b, `sockit trace <script>alert(1)</script>`, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>alert") {
		t.Error("the command went into the page as markup")
	}
	if n := len(regexp.MustCompile(`<g class="arrow `).FindAllString(page, -1)); n != 9 {
		t.Errorf("%d arrows drawn, want 9", n)
	}
}
