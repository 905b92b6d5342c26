package tcpstate

import (
	"net/netip"
	"time"
)

// Socket is one TCP socket as the kernel's sock_diag reports it, with the
// fields ss -tani shows.
type Socket struct {
	State  State
	Local  netip.AddrPort
	Remote netip.AddrPort // the zero AddrPort's address for a listener: 0.0.0.0:0 or [::]:0
	// SendQ is what ss calls Send-Q: bytes sent and not yet acknowledged;
	// for a listener, its backlog.
	SendQ uint32
	// RecvQ is Recv-Q: bytes received and not yet read; for a listener, the
	// connections waiting for accept(2).
	RecvQ uint32
	// RTT and RTTVar are the smoothed round-trip time and its variation from
	// TCP_INFO; zero when the kernel has none (TIME_WAIT, request sockets).
	RTT, RTTVar time.Duration
	// Expires is the time left on the socket's running timer; for TIME_WAIT,
	// what is left of its 60 seconds. Zero when no timer runs.
	Expires time.Duration
	UID     uint32
	Inode   uint64 // 0 for TIME_WAIT and request sockets, which have no file
}

// Key names a connection by its two ends.
type Key struct {
	Local, Remote netip.AddrPort
}

// Key returns the socket's two ends, with IPv4-mapped IPv6 addresses
// unmapped so that a dual-stack socket and a package net address compare
// equal.
func (s Socket) Key() Key { return Key{unmap(s.Local), unmap(s.Remote)} }

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Filter selects sockets. The zero Filter selects every socket.
type Filter struct {
	// Port selects sockets whose local or remote port is Port; 0 = any.
	Port uint16
	// Addr, if valid, also requires the address on that side to be Addr.
	// A listener bound to the wildcard address (0.0.0.0 or [::]) on Port
	// matches too: it is the one that accepts connections to Addr.
	Addr netip.Addr
}

// Match reports whether s is selected.
func (f Filter) Match(s Socket) bool {
	if f.Port == 0 {
		return !f.Addr.IsValid() || s.Local.Addr().Unmap() == f.Addr.Unmap() || s.Remote.Addr().Unmap() == f.Addr.Unmap()
	}
	if s.State == Listen && s.Local.Port() == f.Port && s.Local.Addr().IsUnspecified() {
		return true
	}
	return f.side(s.Local) || f.side(s.Remote)
}

func (f Filter) side(ap netip.AddrPort) bool {
	return ap.Port() == f.Port && (!f.Addr.IsValid() || ap.Addr().Unmap() == f.Addr.Unmap())
}

// TimeWaitLen is how long Linux holds a connection in TIME_WAIT:
// TCP_TIMEWAIT_LEN, its 2MSL, fixed at 60 seconds.
const TimeWaitLen = 60 * time.Second
