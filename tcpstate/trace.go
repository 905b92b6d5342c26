package tcpstate

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// Transition is one state change of one socket.
type Transition struct {
	Time          time.Time
	Local, Remote netip.AddrPort // of the socket that changed
	From, To      State
	// Polled is true when the change was inferred by comparing two
	// snapshots: From is the state seen before, and the socket may have
	// passed through other states in between (see Path).
	Polled bool
}

// Key names the connection by the changing socket's two ends.
func (t Transition) Key() Key { return Key{unmap(t.Local), unmap(t.Remote)} }

// ErrNeedRoot is matched by the errors of the tracers that need root
// (CAP_SYS_ADMIN for tracefs, CAP_NET_RAW for AF_PACKET).
var ErrNeedRoot = errors.New("needs root")

// StateTracer reports TCP state changes as the kernel makes them, from the
// tracepoint sock:inet_sock_set_state, read through a private tracefs
// instance. It needs root. Create one with NewStateTracer; once that
// returns, every change is recorded, and Run delivers them.
type StateTracer struct {
	impl *stateTracer
}

// NewStateTracer starts recording the state changes of the TCP sockets f
// selects. Close stops and removes the tracefs instance.
func NewStateTracer(f Filter) (*StateTracer, error) {
	impl, err := newStateTracer(f)
	if err != nil {
		return nil, err
	}
	return &StateTracer{impl: impl}, nil
}

// Run calls fn, on the calling goroutine, for each state change in the
// order the kernel made them, until ctx ends (it then returns nil) or
// reading fails. Transitions to CLOSED of a connection that went on into
// TIME_WAIT are reported as going to TIME_WAIT: the kernel hands such a
// connection to a TIME_WAIT mini-socket, which the tracepoint does not
// show, and Run asks sock_diag.
func (t *StateTracer) Run(ctx context.Context, fn func(Transition)) error {
	return t.impl.run(ctx, fn)
}

// Close stops recording and removes the tracefs instance. It is safe to
// call once Run has returned, or instead of Run.
func (t *StateTracer) Close() error { return t.impl.close() }

// Poller reports TCP state changes by comparing sock_diag snapshots. It
// needs no privilege but misses what happens between two snapshots: on
// loopback a handshake or a teardown takes microseconds.
type Poller struct {
	f        Filter
	interval time.Duration
	last     map[Key]Socket
}

// NewPoller takes a first snapshot at once, so that Run reports only what
// changes after NewPoller returns. interval 0 means 10ms.
func NewPoller(f Filter, interval time.Duration) (*Poller, error) {
	if interval <= 0 {
		interval = 10 * time.Millisecond
	}
	p := &Poller{f: f, interval: interval}
	socks, err := Snapshot(f)
	if err != nil {
		return nil, err
	}
	p.last = indexSockets(socks)
	return p, nil
}

// Initial returns the sockets of the first snapshot.
func (p *Poller) Initial() []Socket {
	out := make([]Socket, 0, len(p.last))
	for _, s := range p.last {
		out = append(out, s)
	}
	return out
}

// Run calls fn on the calling goroutine for each change between snapshots
// until ctx ends (then it returns nil) or a snapshot fails. A socket that
// appears is reported from CLOSED (or LISTEN for a connection accepted from
// a listener on the same port) and one that disappears goes to CLOSED.
func (p *Poller) Run(ctx context.Context, fn func(Transition)) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		socks, err := Snapshot(p.f)
		if err != nil {
			return err
		}
		now := indexSockets(socks)
		for _, tr := range diffSockets(p.last, now, time.Now()) {
			fn(tr)
		}
		p.last = now
	}
}

func indexSockets(socks []Socket) map[Key]Socket {
	m := make(map[Key]Socket, len(socks))
	for _, s := range socks {
		m[s.Key()] = s
	}
	return m
}

// diffSockets lists the transitions that turn before into after, in the
// order of AllStates' life cycle within each connection.
func diffSockets(before, after map[Key]Socket, at time.Time) []Transition {
	var out []Transition
	for k, s := range after {
		old, ok := before[k]
		switch {
		case !ok:
			from := Closed
			if s.State == SynRecv || s.State == Established && hasListener(before, s.Local) {
				from = Listen
			}
			out = append(out, Transition{Time: at, Local: s.Local, Remote: s.Remote, From: from, To: s.State, Polled: true})
		case old.State != s.State:
			out = append(out, Transition{Time: at, Local: s.Local, Remote: s.Remote, From: old.State, To: s.State, Polled: true})
		}
	}
	for k, s := range before {
		if _, ok := after[k]; !ok {
			out = append(out, Transition{Time: at, Local: s.Local, Remote: s.Remote, From: s.State, To: Closed, Polled: true})
		}
	}
	sortTransitions(out)
	return out
}

func hasListener(socks map[Key]Socket, local netip.AddrPort) bool {
	for _, s := range socks {
		if s.State == Listen && s.Local.Port() == local.Port() {
			return true
		}
	}
	return false
}

func sortTransitions(ts []Transition) {
	slices.SortStableFunc(ts, func(a, b Transition) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return a.Remote.Compare(b.Remote)
	})
}
