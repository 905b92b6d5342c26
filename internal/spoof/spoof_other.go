//go:build !linux

package spoof

import "net/netip"

func available() error { return ErrUnsupported }

func send(netip.Addr, []byte) error { return ErrUnsupported }
