package tour

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sockit/sockit/tcpstate"
)

// watch records the TCP state changes (tracepoint) and segments (packet
// capture) of one port while a lesson runs: tcpstate's tracers, which
// need root. Its goroutines end at finish.
type watch struct {
	r      *Run
	port   uint16
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closes []func() error

	mu    sync.Mutex
	trans []tcpstate.Transition
	segs  []tcpstate.Segment
	err   error
}

// watchPort starts recording port, or returns nil, having said what is
// missing and why, when the run may not or cannot (no root, no tracefs).
func (r *Run) watchPort(port uint16) *watch {
	if !r.root {
		if r.opts.NoRoot {
			r.Missing("run without root (as asked): the state changes come from sock_diag snapshots at chosen moments, and no segments are shown")
		} else {
			r.Missing("not root: no tracepoint (sock:inet_sock_set_state) and no packet capture, so no segments and no states that last microseconds; the states come from sock_diag snapshots at chosen moments (run as root to see it all)")
		}
		return nil
	}
	f := tcpstate.Filter{Port: port, Addr: netip.MustParseAddr("127.0.0.1")}
	tr, err := tcpstate.NewStateTracer(f)
	if err != nil {
		r.Missing("the tracepoint is not usable here (%s): the states come from sock_diag snapshots, and no segments are shown", err.Error())
		return nil
	}
	c, err := tcpstate.NewCapture(f)
	if err != nil {
		tr.Close()
		r.Missing("the packet capture is not usable here (%s): the states come from sock_diag snapshots, and no segments are shown", err.Error())
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{r: r, port: port, cancel: cancel, closes: []func() error{tr.Close, c.Close}}
	w.wg.Go(func() {
		w.fail(tr.Run(ctx, func(t tcpstate.Transition) {
			w.mu.Lock()
			w.trans = append(w.trans, t)
			w.mu.Unlock()
		}))
	})
	w.wg.Go(func() {
		w.fail(c.Run(ctx, func(s tcpstate.Segment) {
			w.mu.Lock()
			w.segs = append(w.segs, s)
			w.mu.Unlock()
		}))
	})
	return w
}

func (w *watch) fail(err error) {
	if err != nil {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
}

// until waits, up to d, for cond to hold of what was recorded so far;
// it reports whether it did.
func (w *watch) until(d time.Duration, cond func(trans []tcpstate.Transition, segs []tcpstate.Segment) bool) bool {
	return pollUntil(d, 5*time.Millisecond, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return cond(w.trans, w.segs)
	})
}

// finish stops recording and tells what was recorded, in time order, as
// state and segment records; it returns them for the lesson's checks.
func (w *watch) finish() ([]tcpstate.Transition, []tcpstate.Segment) {
	w.cancel()
	for _, c := range w.closes {
		c()
	}
	w.wg.Wait()
	w.mu.Lock()
	trans, segs, err := w.trans, w.segs, w.err
	w.mu.Unlock()
	if err != nil {
		w.r.Missing("recording stopped early: %s", err.Error())
	}
	type item struct {
		at  time.Time
		tr  *tcpstate.Transition
		seg *tcpstate.Segment
	}
	var items []item
	for i := range trans {
		items = append(items, item{at: trans[i].Time, tr: &trans[i]})
	}
	for i := range segs {
		items = append(items, item{at: segs[i].Time, seg: &segs[i]})
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.at.Compare(b.at) })
	w.r.Say("What the kernel recorded meanwhile, in order (tracepoint and packet capture; seq and ack relative to each side's ISN):")
	var tl tcpstate.Timeline
	for _, it := range items {
		if it.tr != nil {
			for _, st := range tl.AddTransition(*it.tr) {
				w.r.stateStep(w.port, st)
			}
			continue
		}
		for _, st := range tl.AddSegment(*it.seg) {
			if st.Kind == "state" {
				w.r.stateStep(w.port, st)
				continue
			}
			w.r.segmentStep(w.port, st)
		}
	}
	return trans, segs
}

// side names the end of a connection at ap: "server" on the lesson's
// port, else "client".
func side(port uint16, ap netip.AddrPort) string {
	if ap.Port() == port {
		return "server"
	}
	return "client"
}

func (r *Run) stateStep(port uint16, st tcpstate.Step) {
	text := fmt.Sprintf("%s  %s → %s", st.Local, st.From, st.To)
	if len(st.Passed) > 0 {
		text += " (" + r.T("passed through %s unseen", statesString(st.Passed)) + ")"
	}
	if st.InState > 0 {
		text += "  " + r.T("after %s", st.InState.Round(time.Microsecond))
	}
	if st.Meaning != "" {
		text += ": " + r.phrase(st.Meaning)
	}
	r.emit(Record{Kind: KindState, Time: st.Time, Side: side(port, st.Local), Local: st.Local.String(), Remote: st.Remote.String(),
		From: st.From.String(), To: st.To.String(), Text: text})
}

func (r *Run) segmentStep(port uint16, st tcpstate.Step) {
	s := st.Segment
	from, to := side(port, s.Src), side(port, s.Dst)
	text := SideName(from, r.opts.Lang) + " → " + SideName(to, r.opts.Lang) + "  " + fmt.Sprintf("%-8s", s.Flags)
	rec := Record{Kind: KindSegment, Time: st.Time, Side: from, Src: s.Src.String(), Dst: s.Dst.String(), Flags: s.Flags.String(), Len: s.Len}
	if st.RelKnown {
		text += fmt.Sprintf(" seq %d", st.RelSeq)
		rec.Seq = st.RelSeq
		if s.Flags&tcpstate.ACK != 0 {
			text += fmt.Sprintf(" ack %d", st.RelAck)
			rec.Ack = st.RelAck
		}
	}
	text += " " + r.T("len %d", s.Len)
	rec.Text = text
	r.emit(rec)
}

// seen tells a socket's state as sock_diag shows it now, and returns it
// (found false: the kernel has no such socket, it is CLOSED).
func (r *Run) seen(sideName string, local, remote net.Addr) (tcpstate.Socket, bool) {
	l, rm := addrPort(local), addrPort(remote)
	s, found, err := tcpstate.Lookup(l, rm)
	if err != nil {
		r.Missing("sock_diag: %s", err.Error())
		return s, false
	}
	rec := Record{Kind: KindState, Side: sideName, Local: l.String(), Remote: rm.String()}
	if !found {
		rec.To = tcpstate.Closed.String()
		rec.Text = r.T("%s  now: %s (the kernel has no such socket)", l, "CLOSED")
		r.emit(rec)
		return s, false
	}
	rec.To = s.State.String()
	rec.Expires = s.Expires
	rec.Text = r.T("%s  now: %s", l, s.State)
	if s.State == tcpstate.TimeWait && s.Expires > 0 {
		rec.Text += " " + r.T("(%.1f s left on its timer)", s.Expires.Seconds())
	}
	if s.RecvQ > 0 || s.SendQ > 0 {
		rec.Text += fmt.Sprintf("  Recv-Q %d Send-Q %d", s.RecvQ, s.SendQ)
	}
	r.emit(rec)
	return s, true
}

// lookupUntil polls sock_diag, up to d, until the socket local–remote is
// in a state cond accepts (found false: CLOSED), then tells it; it
// returns the last socket seen either way.
func (r *Run) lookupUntil(sideName string, local, remote net.Addr, d time.Duration, cond func(s tcpstate.Socket, found bool) bool) (tcpstate.Socket, bool) {
	l, rm := addrPort(local), addrPort(remote)
	pollUntil(d, 2*time.Millisecond, func() bool {
		s, found, err := tcpstate.Lookup(l, rm)
		return err != nil || cond(s, found)
	})
	return r.seen(sideName, local, remote)
}

func statesString(ss []tcpstate.State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// addrPort is a TCP or UDP address as a netip.AddrPort, unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return netip.AddrPortFrom(addrOf(a.IP), uint16(a.Port))
	case *net.UDPAddr:
		return netip.AddrPortFrom(addrOf(a.IP), uint16(a.Port))
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
