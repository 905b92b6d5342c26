package tcpstate

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
)

// ErrUnsupported is matched (errors.Is) by every error this package returns
// on a platform without sock_diag, TCP_INFO, tracefs or AF_PACKET.
var ErrUnsupported = errors.New("not available on " + runtime.GOOS + ": needs Linux sock_diag")

// State is a TCP state. The values are Linux's (include/net/tcp_states.h),
// so that they can be compared with what sock_diag, TCP_INFO and the
// tracepoint report.
type State uint8

// The TCP states, numbered as Linux numbers them.
const (
	Established State = 1
	SynSent     State = 2
	SynRecv     State = 3
	FinWait1    State = 4
	FinWait2    State = 5
	TimeWait    State = 6
	Closed      State = 7 // Linux's TCP_CLOSE; also a socket not yet connected
	CloseWait   State = 8
	LastAck     State = 9
	Listen      State = 10
	Closing     State = 11 // both sides sent FIN at once (simultaneous close)
	// newSynRecv is Linux's request socket (a SYN answered, the final ACK
	// awaited); sock_diag and ss call it SYN_RECV, and so do we.
	newSynRecv State = 12
)

// AllStates lists the states in the order of a connection's life, the order
// tables and counts use.
var AllStates = []State{Listen, SynSent, SynRecv, Established, FinWait1, FinWait2, Closing, TimeWait, CloseWait, LastAck, Closed}

var stateNames = [...]string{
	Established: "ESTABLISHED", SynSent: "SYN_SENT", SynRecv: "SYN_RECV", FinWait1: "FIN_WAIT_1",
	FinWait2: "FIN_WAIT_2", TimeWait: "TIME_WAIT", Closed: "CLOSED", CloseWait: "CLOSE_WAIT",
	LastAck: "LAST_ACK", Listen: "LISTEN", Closing: "CLOSING", newSynRecv: "SYN_RECV",
}

// String returns the state's name as RFC 9293 writes it, with underscores:
// "SYN_SENT", "FIN_WAIT_1".
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText makes a State a JSON string.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads any name ParseState accepts.
func (s *State) UnmarshalText(b []byte) error {
	st, ok := ParseState(string(b))
	if !ok {
		return errors.New("unknown TCP state " + strconv.Quote(string(b)))
	}
	*s = st
	return nil
}

// normal folds Linux's request-socket state into SYN_RECV.
func (s State) normal() State {
	if s == newSynRecv {
		return SynRecv
	}
	return s
}

// ParseState accepts the names this package prints ("FIN_WAIT_1"), the
// kernel's ("TCP_FIN_WAIT1", "TCP_CLOSE") and ss's ("FIN-WAIT-1", "ESTAB",
// "TIME-WAIT", "UNCONN").
func ParseState(name string) (State, bool) {
	n := strings.ToUpper(strings.TrimPrefix(name, "TCP_"))
	n = strings.NewReplacer("-", "", "_", "").Replace(n)
	switch n {
	case "ESTAB":
		return Established, true
	case "CLOSE", "UNCONN":
		return Closed, true
	case "NEWSYNRECV":
		return SynRecv, true
	}
	for i, s := range stateNames {
		if s != "" && strings.ReplaceAll(s, "_", "") == n {
			return State(i), true
		}
	}
	return 0, false
}

// orderly are the edges of the TCP state diagram (RFC 9293 §3.3.2) that a
// connection follows without a reset, as Linux takes them: a FIN that also
// acknowledges ours moves FIN_WAIT_1 to FIN_WAIT_2 first (the ACK is
// processed before the FIN), so the diagram's direct FIN_WAIT_1 → TIME_WAIT
// edge is left out.
var orderly = map[State][]State{
	Closed:      {SynSent, Listen},
	Listen:      {SynRecv},
	SynSent:     {Established, SynRecv},
	SynRecv:     {Established, FinWait1},
	Established: {FinWait1, CloseWait},
	FinWait1:    {FinWait2, Closing},
	FinWait2:    {TimeWait},
	Closing:     {TimeWait},
	CloseWait:   {LastAck},
	LastAck:     {Closed},
	// TIME_WAIT → CLOSED is left out on purpose: a socket that went that
	// way stays visible for 60s, so one that vanished sooner took another.
}

// Path returns the states a connection passes through to get from one state
// to another, from excluded and to included, along the orderly edges of the
// TCP state diagram: Path(Established, FinWait2) is [FIN_WAIT_1 FIN_WAIT_2].
// It is how a sampled state is explained when the steps between two samples
// took microseconds, as they do on loopback. When no orderly path exists
// (a reset) the answer is just [to]; when from == to it is empty.
func Path(from, to State) []State {
	from, to = from.normal(), to.normal()
	if from == to {
		return nil
	}
	prev := map[State]State{from: from}
	queue := []State{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == to {
			break
		}
		for _, n := range orderly[s] {
			if _, seen := prev[n]; !seen {
				prev[n] = s
				queue = append(queue, n)
			}
		}
	}
	if _, ok := prev[to]; !ok {
		return []State{to}
	}
	var path []State
	for s := to; s != from; s = prev[s] {
		path = append(path, s)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}

// Meaning says in a few words why a connection moves from one state to the
// next, or "" for a move this package has no words for.
func Meaning(from, to State) string {
	from, to = from.normal(), to.normal()
	switch {
	case from == to && (to == FinWait1 || to == FinWait2):
		// tcp_close sets the state it is already in (tcp_close_state)
		// and the kernel reports that as a change.
		return "close() after shutdown(): our FIN went out already; nothing is sent, the state stays, and the kernel owns the socket now"
	case from == to:
		return "the kernel set the state it was already in: nothing changed"
	case to == SynSent:
		return "connect(): our SYN goes out"
	case to == Listen:
		return "listen(): ready to answer SYNs"
	case to == SynRecv && from == Listen:
		return "a SYN came in and was answered with SYN-ACK (Linux makes the full socket when the final ACK arrives)"
	case to == Established && from == SynSent:
		return "the SYN-ACK came back; we ACK it: handshake done"
	case to == Established && from == SynRecv:
		return "the final ACK came back: handshake done"
	case to == FinWait1:
		return "we sent FIN (close or shutdown)"
	case to == FinWait2:
		return "the peer ACKed our FIN; waiting for its FIN"
	case to == CloseWait:
		return "the peer sent FIN; we ACKed it (read returns 0)"
	case to == LastAck:
		return "we sent our FIN too; waiting for its ACK"
	case to == Closing:
		return "both sides sent FIN at once"
	case to == TimeWait:
		return "the peer's FIN came; we ACKed it and wait 2MSL (60s on Linux)"
	case to == Closed && from == LastAck:
		return "our FIN was ACKed: gone"
	case to == Closed && from == TimeWait:
		return "2MSL is over: the kernel forgets the connection"
	case to == Closed && from == SynSent:
		return "the connect failed (refused or timed out)"
	case to == Closed && from == Listen:
		return "the listener closed"
	case to == Closed:
		return "reset or aborted: no orderly close"
	}
	return ""
}
