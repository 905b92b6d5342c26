package tcpstate_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/sockit/sockit/tcpstate"
)

// FuzzParseSegment feeds ParseSegment what a packet socket might return,
// and checks what it promises:
//
//   - any bytes: no panic; a segment's payload length is between 0 and what
//     an IP length field can say, and its addresses are of the family the
//     version nibble names;
//   - a packet it accepts reads the same with bytes appended, and cut to
//     its headers (a capture may keep only the headers: lengths come from
//     the IP header);
//   - round trip: a packet built from fields taken from the input (either
//     IP version, any options, any payload length) reads back as those
//     fields.
func FuzzParseSegment(f *testing.F) {
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()
	syn := tcpstate.Segment{Src: netip.AddrPortFrom(lo4, 40000), Dst: netip.AddrPortFrom(lo4, 7007), Flags: tcpstate.SYN, Seq: 1000, Window: 65495}
	data := tcpstate.Segment{Src: netip.AddrPortFrom(lo6, 7007), Dst: netip.AddrPortFrom(lo6, 1), Flags: tcpstate.PSH | tcpstate.ACK, Seq: 5, Ack: 9, Window: 512, Len: 6}
	f.Add(buildSegment(syn, 0, 0))
	f.Add(buildSegment(data, 0, 3))
	f.Add(buildSegment(syn, 10, 10))
	f.Add([]byte{0x4f})
	f.Add([]byte{0x45, 0, 0, 10})
	f.Add(bytes.Repeat([]byte{0x60}, 60))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		s, err := tcpstate.ParseSegment(pkt)
		if err == nil {
			checkParsed(t, pkt, s)
		}
		want, ipOpts, tcpOpts := segmentFrom(pkt)
		built := buildSegment(want, ipOpts, tcpOpts)
		got, err := tcpstate.ParseSegment(built)
		if err != nil || got != want {
			t.Fatalf("round trip of %+v (IP options %d words, TCP %d):\n got %+v, %v\n% x", want, ipOpts, tcpOpts, got, err, built)
		}
		checkParsed(t, built, got)
	})
}

// checkParsed checks a segment ParseSegment read from pkt.
func checkParsed(t *testing.T, pkt []byte, s tcpstate.Segment) {
	t.Helper()
	v6 := pkt[0]>>4 == 6
	switch {
	case s.Len < 0 || s.Len > 0xFFFF:
		t.Fatalf("payload length %d", s.Len)
	case s.Src.Addr().Is6() != v6 || s.Dst.Addr().Is6() != v6:
		t.Fatalf("IP version %d gave addresses %v and %v", pkt[0]>>4, s.Src, s.Dst)
	}
	more, err := tcpstate.ParseSegment(append(bytes.Clone(pkt), 0xAA, 0x55))
	if err != nil || more != s {
		t.Fatalf("with 2 bytes appended: %+v, %v; want %+v", more, err, s)
	}
	ipLen := 40
	if !v6 {
		ipLen = int(pkt[0]&0x0f) * 4
	}
	head, err := tcpstate.ParseSegment(pkt[:ipLen+20])
	if err != nil || head != s {
		t.Fatalf("cut to the headers: %+v, %v; want %+v", head, err, s)
	}
}

// segmentFrom takes a segment's fields from the bytes b (zeros past its
// end), and how many 4-byte words of IP (IPv4 only) and TCP options to
// build it with.
func segmentFrom(b []byte) (s tcpstate.Segment, ipOpts, tcpOpts int) {
	var in [48]byte
	copy(in[:], b)
	v6 := in[0]&1 == 1
	ipOpts, tcpOpts = int(in[1]%11), int(in[2]%11)
	if v6 {
		ipOpts = 0
		s.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(in[3:19])), binary.BigEndian.Uint16(in[35:]))
		s.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(in[19:35])), binary.BigEndian.Uint16(in[37:]))
	} else {
		s.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(in[3:7])), binary.BigEndian.Uint16(in[35:]))
		s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(in[7:11])), binary.BigEndian.Uint16(in[37:]))
	}
	s.Seq = binary.BigEndian.Uint32(in[11:])
	s.Ack = binary.BigEndian.Uint32(in[15:])
	s.Flags = tcpstate.Flags(in[39])
	s.Window = binary.BigEndian.Uint16(in[40:])
	// What the IP length field can carry beside the headers.
	room := 0xFFFF - 20*2 - 4*(ipOpts+tcpOpts)
	if v6 {
		room = 0xFFFF - 20 - 4*tcpOpts
	}
	s.Len = int(binary.BigEndian.Uint16(in[42:])) % (room + 1)
	return s, ipOpts, tcpOpts
}

// buildSegment builds the IP packet (IPv4 or IPv6 after s.Src) that
// carries s, with ipOpts words of IPv4 options and tcpOpts words of TCP
// options (zeros: end of options), and s.Len bytes of payload.
func buildSegment(s tcpstate.Segment, ipOpts, tcpOpts int) []byte {
	tcp := make([]byte, 20+4*tcpOpts)
	binary.BigEndian.PutUint16(tcp[0:], s.Src.Port())
	binary.BigEndian.PutUint16(tcp[2:], s.Dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], s.Seq)
	binary.BigEndian.PutUint32(tcp[8:], s.Ack)
	tcp[12] = byte(5+tcpOpts) << 4
	tcp[13] = byte(s.Flags)
	binary.BigEndian.PutUint16(tcp[14:], s.Window)
	var ip []byte
	if s.Src.Addr().Is4() {
		ip = make([]byte, 20+4*ipOpts)
		ip[0] = 0x40 | byte(5+ipOpts)
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(tcp)+s.Len))
		ip[8], ip[9] = 64, 6
		src, dst := s.Src.Addr().As4(), s.Dst.Addr().As4()
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)+s.Len))
		ip[6], ip[7] = 6, 64
		src, dst := s.Src.Addr().As16(), s.Dst.Addr().As16()
		copy(ip[8:], src[:])
		copy(ip[24:], dst[:])
	}
	return append(append(ip, tcp...), make([]byte, s.Len)...)
}
