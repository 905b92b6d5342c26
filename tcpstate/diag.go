package tcpstate

import (
	"net/netip"
	"slices"
)

// Snapshot lists the TCP sockets, IPv4 and IPv6, that f selects: listeners,
// request sockets (SYN_RECV), connections in every state and TIME_WAIT,
// what ss -tan lists (not sockets that are only bound). It needs no
// privilege: sock_diag shows every process's sockets, as ss does. The list
// is sorted by local and then remote address.
func Snapshot(f Filter) ([]Socket, error) {
	all, err := snapshot()
	if err != nil {
		return nil, err
	}
	var out []Socket
	for _, s := range all {
		if f.Match(s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, compareSockets)
	return out, nil
}

func compareSockets(a, b Socket) int {
	if c := a.Local.Compare(b.Local); c != 0 {
		return c
	}
	return a.Remote.Compare(b.Remote)
}

// Lookup finds the socket with these two ends, in any state, TIME_WAIT
// included. found is false when the kernel has no such socket, that is, the
// connection is CLOSED.
func Lookup(local, remote netip.AddrPort) (s Socket, found bool, err error) {
	return lookup(unmap(local), unmap(remote))
}

// StateOf reads the state of one's own socket fd with getsockopt(TCP_INFO),
// per tcp(7). A socket that has handed its connection to a TIME_WAIT
// mini-socket reads as CLOSED here; Lookup finds the TIME_WAIT.
func StateOf(fd int) (State, error) { return stateOf(fd) }
