// Package spoof sends UDP datagrams with a source address and port of the
// sender's choosing, as an attacker forging them would: tests use it to
// show what a server does with a datagram that claims to come from its own
// address, a broadcast address or another service.
//
// It writes whole IPv4 packets on a raw socket (IP_HDRINCL, per raw(7)),
// which needs Linux and root (CAP_NET_RAW). Elsewhere, and without the
// privilege, Available says why not and UDP4 fails with an error that
// wraps ErrUnsupported or the system's EPERM.
package spoof

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// ErrUnsupported is the error of UDP4 on a platform without raw IPv4
// sockets that take the IP header from the caller.
var ErrUnsupported = errors.New("spoof: raw IPv4 sockets with IP_HDRINCL are not available on this platform")

// Available reports whether UDP4 can send here: nil, or why not (not
// Linux, not root), in words a test can pass to t.Skip.
func Available() error { return available() }

// UDP4 sends payload in one UDP datagram from src to dst, both IPv4, with
// the source address and port given, whatever this host's own are. The
// kernel fills in the IP header's checksum, total length and packet ID.
func UDP4(src, dst netip.AddrPort, payload []byte) error {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return errors.New("spoof: UDP4 needs IPv4 addresses")
	}
	return send(dst.Addr(), Packet(src, dst, payload))
}

// Packet returns the IPv4 packet UDP4 sends: a 20-byte IPv4 header, the
// UDP header (with its checksum over the pseudo-header, per RFC 768) and
// payload.
func Packet(src, dst netip.AddrPort, payload []byte) []byte {
	const ipLen, udpLen = 20, 8
	total := ipLen + udpLen + len(payload)
	p := make([]byte, total)
	p[0] = 0x45 // version 4, header of 5 words
	binary.BigEndian.PutUint16(p[2:], uint16(total))
	p[8] = 64 // TTL
	p[9] = 17 // UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	u := p[ipLen:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen+len(payload)))
	copy(u[udpLen:], payload)
	binary.BigEndian.PutUint16(u[6:], udpChecksum(s, d, u))
	return p
}

// udpChecksum is the one's complement sum of the pseudo-header and the
// UDP header and data (RFC 768); 0 is sent as 0xFFFF.
func udpChecksum(src, dst [4]byte, udp []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += 17 + uint32(len(udp))
	add(udp)
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	if c := ^uint16(sum); c != 0 {
		return c
	}
	return 0xFFFF
}
