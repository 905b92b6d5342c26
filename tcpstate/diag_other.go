//go:build !linux

package tcpstate

import "net/netip"

func snapshot() ([]Socket, error) { return nil, ErrUnsupported }

func lookup(local, remote netip.AddrPort) (Socket, bool, error) {
	return Socket{}, false, ErrUnsupported
}

func stateOf(fd int) (State, error) { return 0, ErrUnsupported }
