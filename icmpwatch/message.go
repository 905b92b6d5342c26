package icmpwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Message is one ICMP or ICMPv6 message.
type Message struct {
	Time time.Time  `json:"time"`
	V6   bool       `json:"v6,omitempty"`
	From netip.Addr `json:"from"` // the host that sent the message
	Type uint8      `json:"type"`
	Code uint8      `json:"code"`
	Text string     `json:"text"` // Type and Code in words: "port unreachable"
	// ID and Seq are an echo request's or reply's identifier and sequence
	// number; Size its payload's length.
	ID   uint16 `json:"id,omitempty"`
	Seq  uint16 `json:"seq,omitempty"`
	Size int    `json:"size,omitempty"`
	// Quoted is the start of the datagram an error message is about, or
	// nil for a message that is not an error (or quotes too little).
	Quoted *Quoted `json:"quoted,omitempty"`
}

// Quoted is the datagram an ICMP error is about, as the message quotes
// it: its protocol and, for TCP and UDP, its two ends.
type Quoted struct {
	Proto string `json:"proto"` // "udp", "tcp", "icmp", "ipv6-icmp", or "proto 47"
	// Src and Dst are the datagram's ends; their ports are zero when the
	// protocol has none.
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
}

func (q Quoted) String() string {
	if q.Src.Port() == 0 && q.Dst.Port() == 0 {
		return q.Proto + " " + q.Src.Addr().String() + " → " + q.Dst.Addr().String()
	}
	return q.Proto + " " + q.Src.String() + " → " + q.Dst.String()
}

// String says the message in a line: "port unreachable: udp
// 127.0.0.1:40312 → 127.0.0.1:9 (ICMP type 3 code 3 from 127.0.0.1)".
func (m Message) String() string {
	kind := "ICMP"
	if m.V6 {
		kind = "ICMPv6"
	}
	origin := fmt.Sprintf("(%s type %d code %d from %s)", kind, m.Type, m.Code, m.From)
	switch {
	case m.Quoted != nil:
		return m.Text + ": " + m.Quoted.String() + " " + origin
	case m.isEcho():
		return fmt.Sprintf("%s from %s: id %d seq %d, %d bytes", m.Text, m.From, m.ID, m.Seq, m.Size)
	}
	return m.Text + " " + origin
}

func (m Message) isEcho() bool {
	if m.V6 {
		return m.Type == Type6EchoRequest || m.Type == Type6EchoReply
	}
	return m.Type == TypeEchoRequest || m.Type == TypeEchoReply
}

// isError reports whether the message is an error, which quotes the
// datagram it is about (RFC 792; RFC 4443 section 2.1: types below 128).
func (m Message) isError() bool {
	if m.V6 {
		return m.Type < 128
	}
	switch m.Type {
	case TypeUnreachable, TypeSourceQuench, TypeRedirect, TypeTimeExceeded, TypeParamProblem:
		return true
	}
	return false
}

// ErrShort is returned for a message shorter than an ICMP header.
var ErrShort = errors.New("icmpwatch: message shorter than an ICMP header")

// Parse reads msg, an ICMP (v6 false) or ICMPv6 message without the IP
// header around it, sent by from. An error message that quotes too
// little of its datagram comes back without Quoted, not as an error.
func Parse(v6 bool, msg []byte, from netip.Addr) (Message, error) {
	if len(msg) < 8 {
		return Message{}, ErrShort
	}
	m := Message{V6: v6, From: from.Unmap(), Type: msg[0], Code: msg[1]}
	m.Text = Text(v6, m.Type, m.Code)
	switch {
	case m.isEcho():
		m.ID = binary.BigEndian.Uint16(msg[4:])
		m.Seq = binary.BigEndian.Uint16(msg[6:])
		m.Size = len(msg) - 8
	case m.isError():
		if q, ok := quoted(v6, msg[8:]); ok {
			m.Quoted = &q
		}
	}
	return m, nil
}

// quoted reads the IP header an error message quotes, and the first
// bytes after it (RFC 792: at least 8 of them), which hold the ports of
// TCP and UDP.
func quoted(v6 bool, b []byte) (Quoted, bool) {
	var q Quoted
	var proto int
	var src, dst netip.Addr
	var rest []byte
	if v6 {
		if len(b) < 40 || b[0]>>4 != 6 {
			return q, false
		}
		proto = int(b[6])
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		rest = b[40:]
	} else {
		if len(b) < 20 || b[0]>>4 != 4 {
			return q, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return q, false
		}
		proto = int(b[9])
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		rest = b[ihl:]
	}
	q.Proto = protoName(proto)
	var sport, dport uint16
	if (proto == 6 || proto == 17) && len(rest) >= 4 {
		sport = binary.BigEndian.Uint16(rest[0:])
		dport = binary.BigEndian.Uint16(rest[2:])
	}
	q.Src, q.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return q, true
}

func protoName(p int) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	}
	return "proto " + strconv.Itoa(p)
}
