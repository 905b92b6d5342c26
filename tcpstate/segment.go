package tcpstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Flags are a TCP segment's control bits (RFC 9293 §3.1).
type Flags uint8

// The control bits, in header order from the lowest bit.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// String names the bits the way handshake diagrams do: "SYN", "SYN-ACK",
// "ACK", "PSH-ACK", "FIN-ACK", "RST".
func (f Flags) String() string {
	var parts []string
	for _, b := range []struct {
		f    Flags
		name string
	}{{SYN, "SYN"}, {FIN, "FIN"}, {RST, "RST"}, {PSH, "PSH"}, {URG, "URG"}, {ACK, "ACK"}, {ECE, "ECE"}, {CWR, "CWR"}} {
		if f&b.f != 0 {
			parts = append(parts, b.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "-")
}

// MarshalText makes Flags a JSON string.
func (f Flags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Segment is one TCP segment as it crossed an interface. Its JSON form
// is {"time", "src", "dst", "flags" ("SYN-ACK"), "seq", "ack", "window",
// "len"}.
type Segment struct {
	Time   time.Time      `json:"time"`
	Src    netip.AddrPort `json:"src"`
	Dst    netip.AddrPort `json:"dst"`
	Flags  Flags          `json:"flags"`
	Seq    uint32         `json:"seq"` // as on the wire; see Timeline for numbers relative to the ISN
	Ack    uint32         `json:"ack"`
	Window uint16         `json:"window"` // the advertised window, not yet scaled
	Len    int            `json:"len"`    // payload bytes
}

// Key names the segment's connection from the sender's side.
func (s Segment) Key() Key { return Key{unmap(s.Src), unmap(s.Dst)} }

// errShort is wrapped by ParseSegment for truncated or malformed packets.
var errShort = errors.New("truncated packet")

// ParseSegment decodes an IPv4 or IPv6 packet that carries TCP, starting at
// the IP header (what an AF_PACKET SOCK_DGRAM socket returns). IPv6
// extension headers and IPv4 fragments after the first are not decoded.
func ParseSegment(pkt []byte) (Segment, error) {
	if len(pkt) < 1 {
		return Segment{}, errShort
	}
	switch pkt[0] >> 4 {
	case 4:
		return parseIPv4(pkt)
	case 6:
		return parseIPv6(pkt)
	}
	return Segment{}, fmt.Errorf("IP version %d", pkt[0]>>4)
}

func parseIPv4(pkt []byte) (Segment, error) {
	if len(pkt) < 20 {
		return Segment{}, errShort
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	switch {
	case ihl < 20 || len(pkt) < ihl:
		return Segment{}, errShort
	case pkt[9] != 6:
		return Segment{}, fmt.Errorf("IP protocol %d is not TCP", pkt[9])
	case binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0:
		return Segment{}, errors.New("IPv4 fragment")
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	return parseTCP(pkt[ihl:], total-ihl, src, dst)
}

func parseIPv6(pkt []byte) (Segment, error) {
	if len(pkt) < 40 {
		return Segment{}, errShort
	}
	if pkt[6] != 6 {
		return Segment{}, fmt.Errorf("IPv6 next header %d is not TCP", pkt[6])
	}
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	return parseTCP(pkt[40:], int(binary.BigEndian.Uint16(pkt[4:])), src, dst)
}

// parseTCP decodes a TCP header; segLen is the TCP header plus payload
// length from the IP header, since a capture may keep only the headers.
func parseTCP(b []byte, segLen int, src, dst netip.Addr) (Segment, error) {
	if len(b) < 20 {
		return Segment{}, errShort
	}
	off := int(b[12]>>4) * 4
	if off < 20 || segLen < off {
		return Segment{}, errShort
	}
	return Segment{
		Src:    netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:    netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Seq:    binary.BigEndian.Uint32(b[4:]),
		Ack:    binary.BigEndian.Uint32(b[8:]),
		Flags:  Flags(b[13]),
		Window: binary.BigEndian.Uint16(b[14:]),
		Len:    segLen - off,
	}, nil
}

// Capture reads the TCP segments of a port from an AF_PACKET socket on every
// interface, filtered in the kernel by a classic BPF program. It needs root
// (CAP_NET_RAW). On loopback each segment is reported once, though the
// kernel shows it going out and coming in.
type Capture struct {
	impl *capture
}

// NewCapture opens the capture; segments are queued in the kernel from the
// moment it returns until Run reads them.
func NewCapture(f Filter) (*Capture, error) {
	impl, err := newCapture(f)
	if err != nil {
		return nil, err
	}
	return &Capture{impl: impl}, nil
}

// Packet is a captured segment with the bytes it was decoded from: the
// packet from its IP header on, cut at the capture's snap length (the
// headers, little or no payload), and its whole length on the wire. A
// PcapWriter writes it.
type Packet struct {
	Segment
	Data    []byte
	WireLen int
}

// RunPackets is Run with each segment's packet bytes, for a pcap file.
func (c *Capture) RunPackets(ctx context.Context, fn func(Packet)) error {
	return c.impl.run(ctx, fn)
}

// Run calls fn on the calling goroutine for each segment until ctx ends
// (then it returns nil) or reading fails.
func (c *Capture) Run(ctx context.Context, fn func(Segment)) error {
	return c.impl.run(ctx, func(p Packet) { fn(p.Segment) })
}

// Close closes the packet socket; a Run in progress returns.
func (c *Capture) Close() error { return c.impl.close() }
