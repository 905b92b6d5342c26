package tcpstate

import (
	"net/netip"
	"time"
)

// Timeline turns state changes and segments, fed in time order, into an
// annotated story per connection: which connection (numbered from 1 in the
// order they appear), how long a socket stayed in the state it leaves, and
// sequence numbers relative to each side's initial sequence number (ISN),
// as tcpdump shows them. The zero Timeline is ready; it is not safe for
// concurrent use.
type Timeline struct {
	conns map[pair]int
	next  int
	since map[Key]time.Time // when each socket entered its state
	isn   map[Key]uint32    // each direction's ISN, from its SYN
	// pending holds each CLOSED → SYN_SENT, by the address connected to,
	// until the connection's port is known; oldest first, since several
	// clients may connect to one server at once.
	pending map[netip.AddrPort][]Step
}

// pair is a connection's two ends in a fixed order.
type pair struct{ a, b netip.AddrPort }

func pairOf(k Key) pair {
	if k.Local.Compare(k.Remote) < 0 {
		return pair{k.Local, k.Remote}
	}
	return pair{k.Remote, k.Local}
}

// Step is one line of a timeline: a state change or a segment.
type Step struct {
	Time time.Time `json:"time"`
	Conn int       `json:"conn"` // connection number; 0 for a listener
	// Kind is "state" or "segment".
	Kind string `json:"kind"`

	// For a state change: the socket (Local) that changed, and its peer.
	Local  netip.AddrPort `json:"local,omitzero"`
	Remote netip.AddrPort `json:"remote,omitzero"`
	From   State          `json:"from,omitempty"`
	To     State          `json:"to,omitempty"`
	// Passed lists states the socket went through between From and To
	// without being seen (polling only), per the TCP state diagram.
	Passed []State `json:"passed,omitempty"`
	// InState is how long the socket was in From, when its entry was seen.
	InState time.Duration `json:"in_state_ns,omitempty"`
	Meaning string        `json:"meaning,omitempty"`
	Polled  bool          `json:"polled,omitempty"`

	// For a segment: the segment, and its numbers relative to the ISNs
	// (RelKnown false when the connection's SYN was not seen).
	Segment  *Segment `json:"segment,omitempty"`
	RelSeq   uint32   `json:"rel_seq,omitempty"`
	RelAck   uint32   `json:"rel_ack,omitempty"`
	RelKnown bool     `json:"rel_known,omitempty"`
}

func (tl *Timeline) init() {
	if tl.conns == nil {
		tl.conns = map[pair]int{}
		tl.since = map[Key]time.Time{}
		tl.isn = map[Key]uint32{}
		tl.pending = map[netip.AddrPort][]Step{}
	}
}

// conn numbers the connection of k, or 0 for a listener.
func (tl *Timeline) conn(k Key) int {
	if !k.Remote.Addr().IsValid() || k.Remote.Port() == 0 {
		return 0
	}
	p := pairOf(k)
	n, ok := tl.conns[p]
	if !ok {
		tl.next++
		n = tl.next
		tl.conns[p] = n
	}
	return n
}

// AddTransition records a state change and returns the steps to show: none
// while a connect's port is not known yet, two when that becomes known.
func (tl *Timeline) AddTransition(t Transition) []Step {
	tl.init()
	k := t.Key()
	st := Step{Time: t.Time, Kind: "state", Local: k.Local, Remote: k.Remote, From: t.From, To: t.To, Polled: t.Polled}
	last := t.From // the state the last edge leaves, which the meaning explains
	if t.Polled {
		if p := Path(t.From, t.To); len(p) > 1 {
			st.Passed = p[:len(p)-1]
			last = st.Passed[len(st.Passed)-1]
		}
	}
	st.Meaning = Meaning(last, t.To)
	if t.To == SynSent && k.Local.Port() == 0 {
		tl.pending[k.Remote] = append(tl.pending[k.Remote], st) // the kernel picks the port just after
		return nil
	}
	var out []Step
	if t.From.normal() == SynSent {
		out = tl.flushPending(k)
	}
	entered, ok := tl.since[k]
	if ok {
		st.InState = t.Time.Sub(entered)
	}
	if !ok || t.From.normal() != t.To.normal() { // a state set again was not entered anew
		tl.since[k] = t.Time
	}
	st.Conn = tl.conn(k)
	tl.forget(k, t.To)
	return append(out, st)
}

// flushPending gives the oldest pending CLOSED → SYN_SENT to k.Remote the
// port k shows, the first time a connecting socket k shows itself (its SYN
// or its move out of SYN_SENT).
func (tl *Timeline) flushPending(k Key) []Step {
	if _, known := tl.since[k]; known {
		return nil
	}
	q := tl.pending[k.Remote]
	if len(q) == 0 {
		return nil
	}
	st := q[0]
	if len(q) == 1 {
		delete(tl.pending, k.Remote)
	} else {
		tl.pending[k.Remote] = q[1:]
	}
	st.Local = k.Local
	st.Conn = tl.conn(k)
	tl.since[k] = st.Time
	return []Step{st}
}

// forget drops what is kept about a socket that is gone.
func (tl *Timeline) forget(k Key, to State) {
	if to != Closed {
		return
	}
	delete(tl.since, k)
	if _, other := tl.since[Key{k.Remote, k.Local}]; !other {
		// The peer is gone too, or is on another machine: nothing more
		// about this connection is kept.
		delete(tl.conns, pairOf(k))
		delete(tl.isn, k)
		delete(tl.isn, Key{k.Remote, k.Local})
	}
	// Otherwise k's ISN stays while its peer lives: a capture reports on
	// a goroutine of its own and can lag the tracepoint, and a segment of
	// k's that comes after k's CLOSED still reads relative to it.
}

// AddSegment records a segment and returns the steps to show.
func (tl *Timeline) AddSegment(s Segment) []Step {
	tl.init()
	k := s.Key()
	var out []Step
	if s.Flags&(SYN|ACK) == SYN {
		out = tl.flushPending(k)
	}
	if s.Flags&SYN != 0 {
		tl.isn[k] = s.Seq
	}
	st := Step{Time: s.Time, Kind: "segment", Segment: &s, Conn: tl.conn(k)}
	isn, ok1 := tl.isn[k]
	peerISN, ok2 := tl.isn[Key{k.Remote, k.Local}]
	if ok1 && (ok2 || s.Flags&ACK == 0) {
		st.RelKnown = true
		st.RelSeq = s.Seq - isn
		if s.Flags&ACK != 0 {
			st.RelAck = s.Ack - peerISN
		}
	}
	return append(out, st)
}
