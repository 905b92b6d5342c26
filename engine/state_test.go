package engine

import (
	"strings"
	"testing"
)

var liveStates = []connState{stConnecting, stOpen, stFlushing, stHalfClosed, stPeerClosed, stLastFlush, stClosing, stClosingShut}

// The rules every row of the table keeps, whatever its details.
func TestStateTableInvariants(t *testing.T) {
	t.Parallel()
	for _, s := range liveStates {
		for ev, want := range map[event]connState{evAbort: stReset, evFail: stDone, evClosed: stClosed} {
			got := s
			if act := got.on(ev); got != want || act != 0 {
				t.Errorf("%v --%v--> %v (actions %b), want %v and no action", s, ev, got, act, want)
			}
		}
	}
	for s := stConnecting; s < numStates; s++ {
		for ev := event(0); ev < numEvents; ev++ {
			tr := transitions[s][ev]
			if tr.act&actPeerClose != 0 && (ev != evPeerFIN || s.discards()) {
				t.Errorf("%v --%v--> tells the handler of the peer's FIN", s, ev)
			}
			if tr.act&actLinger != 0 && ev != evClose {
				t.Errorf("%v --%v--> starts Linger", s, ev)
			}
			if ev == evPeerFIN && s.live() && s != stConnecting && s.reads() && !s.discards() && tr.act&actPeerClose == 0 {
				t.Errorf("%v --%v--> does not tell the handler of the peer's FIN", s, ev)
			}
			// An orderly end needs both FINs: ours sent, the peer's read.
			if tr.to == stDone && ev != evFail {
				ours := ev == evFINSent || s == stHalfClosed || s == stClosingShut
				theirs := ev == evPeerFIN || s == stLastFlush
				if !ours || !theirs {
					t.Errorf("%v --%v--> done without both FINs", s, ev)
				}
			}
			// FIN is reported only where the state waited for it to be due.
			if ev == evFINSent && tr.to != stNone && !s.flushing() {
				t.Errorf("%v --FIN sent--> %v, but %v does not wait for a FIN", s, tr.to, s)
			}
			if ev == evFINSent && tr.to == stNone && s.flushing() {
				t.Errorf("%v ignores its own FIN", s)
			}
		}
	}
	for _, s := range []connState{stDone, stReset, stClosed} {
		for ev := event(0); ev < numEvents; ev++ {
			tr := transitions[s][ev]
			allowed := ev == evClosed && s != stClosed || ev == evAbort && s == stDone
			if tr.act != 0 || (tr.to != stNone) != allowed {
				t.Errorf("ended state %v --%v--> %v (actions %b)", s, ev, tr.to, tr.act)
			}
		}
	}
}

// What each state lets the backend do agrees with itself.
func TestStateQueries(t *testing.T) {
	t.Parallel()
	for s := stConnecting; s < numStates; s++ {
		switch {
		case s.discards() && !s.reads():
			t.Errorf("%v discards input it does not read", s)
		case s.flushing() && !s.queues():
			t.Errorf("%v waits to flush output it cannot queue", s)
		case s.produces() && !s.queues():
			t.Errorf("%v asks a Drainer for output it cannot queue", s)
		case !s.live() && (s.reads() || s.queues()):
			t.Errorf("ended state %v still does I/O", s)
		case s.ending() && s.live():
			t.Errorf("%v is both ending and live", s)
		}
		if strings.HasPrefix(s.String(), "state(") || s.String() == "" {
			t.Errorf("state %d has no name", s)
		}
	}
}

// Every state can be reached from a new connection, and every state can
// reach closed: there is no trap in the table.
func TestStateTableReach(t *testing.T) {
	t.Parallel()
	reach := func(from connState) map[connState]bool {
		seen := map[connState]bool{from: true}
		for todo := []connState{from}; len(todo) > 0; {
			s := todo[0]
			todo = todo[1:]
			for ev := event(0); ev < numEvents; ev++ {
				if to := transitions[s][ev].to; to != stNone && !seen[to] {
					seen[to] = true
					todo = append(todo, to)
				}
			}
		}
		return seen
	}
	fromNew := reach(stConnecting)
	for s := stConnecting; s < numStates; s++ {
		if !fromNew[s] {
			t.Errorf("%v cannot be reached from a new connection", s)
		}
		if !reach(s)[stClosed] {
			t.Errorf("%v never reaches closed", s)
		}
	}
}

// The lifecycles the package doc promises, event by event.
func TestStateScenarios(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		from   connState
		events []event
		want   connState
		acts   action // all actions along the way
	}{
		{name: "echo after the client's half-close", from: stOpen,
			events: []event{evPeerFIN, evCloseWrite, evFINSent}, want: stDone, acts: actPeerClose},
		{name: "CloseWrite, then the peer's answer and FIN", from: stOpen,
			events: []event{evCloseWrite, evFINSent, evPeerFIN}, want: stDone, acts: actPeerClose},
		{name: "the peer's FIN while flushing", from: stOpen,
			events: []event{evCloseWrite, evPeerFIN, evFINSent}, want: stDone, acts: actPeerClose},
		{name: "Close discards input until the peer's FIN", from: stOpen,
			events: []event{evClose, evFINSent, evPeerFIN}, want: stDone, acts: actLinger},
		{name: "Close after the peer's FIN", from: stOpen,
			events: []event{evPeerFIN, evClose, evFINSent}, want: stDone, acts: actPeerClose | actLinger},
		{name: "Close after CloseWrite's FIN", from: stOpen,
			events: []event{evCloseWrite, evFINSent, evClose, evPeerFIN}, want: stDone, acts: actLinger},
		{name: "half-open stays open", from: stOpen,
			events: []event{evPeerFIN}, want: stPeerClosed, acts: actPeerClose},
		{name: "a second CloseWrite changes nothing", from: stOpen,
			events: []event{evCloseWrite, evCloseWrite}, want: stFlushing},
		{name: "Abort after Close resets", from: stOpen,
			events: []event{evClose, evAbort}, want: stReset, acts: actLinger},
		{name: "Abort wins over a failure not yet closed", from: stOpen,
			events: []event{evFail, evAbort}, want: stReset},
		{name: "a failure after Abort still resets", from: stOpen,
			events: []event{evAbort, evFail}, want: stReset},
		{name: "dial that connects", from: stConnecting,
			events: []event{evConnected}, want: stOpen},
		{name: "dial that fails", from: stConnecting,
			events: []event{evFail, evClosed}, want: stClosed},
		{name: "nothing after closed", from: stClosed,
			events: []event{evPeerFIN, evClose, evAbort, evFail}, want: stClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, acts := tc.from, action(0)
			for _, ev := range tc.events {
				acts |= s.on(ev)
			}
			if s != tc.want || acts != tc.acts {
				t.Errorf("%v then %v: got %v with actions %b, want %v with %b", tc.from, tc.events, s, acts, tc.want, tc.acts)
			}
		})
	}
}
