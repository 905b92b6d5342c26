package tcpstate_test

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/sockit/sockit/tcpstate"
)

// tcpHeader builds a 20-byte TCP header.
func tcpHeader(sport, dport uint16, seq, ack uint32, flags tcpstate.Flags, win uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4
	b[13] = byte(flags)
	binary.BigEndian.PutUint16(b[14:], win)
	return b
}

func ipv4Packet(src, dst [4]byte, tcp []byte, payload int) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(tcp)+payload))
	b[9] = 6
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	return append(append(b, tcp...), make([]byte, payload)...)
}

func ipv6Packet(src, dst [16]byte, tcp []byte, payload int) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(tcp)+payload))
	b[6] = 6
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	return append(append(b, tcp...), make([]byte, payload)...)
}

func TestParseSegment(t *testing.T) {
	t.Parallel()
	lo4, lo6 := [4]byte{127, 0, 0, 1}, netip.IPv6Loopback().As16()
	for _, tc := range []struct {
		name string
		pkt  []byte
		want tcpstate.Segment
	}{
		{
			name: "IPv4 SYN",
			pkt:  ipv4Packet(lo4, lo4, tcpHeader(40000, 7007, 1000, 0, tcpstate.SYN, 65495), 0),
			want: tcpstate.Segment{Src: netip.MustParseAddrPort("127.0.0.1:40000"), Dst: netip.MustParseAddrPort("127.0.0.1:7007"),
				Flags: tcpstate.SYN, Seq: 1000, Window: 65495},
		},
		{
			name: "IPv6 data",
			pkt:  ipv6Packet(lo6, lo6, tcpHeader(7007, 40000, 5, 9, tcpstate.PSH|tcpstate.ACK, 512), 6),
			want: tcpstate.Segment{Src: netip.MustParseAddrPort("[::1]:7007"), Dst: netip.MustParseAddrPort("[::1]:40000"),
				Flags: tcpstate.PSH | tcpstate.ACK, Seq: 5, Ack: 9, Window: 512, Len: 6},
		},
	} {
		got, err := tcpstate.ParseSegment(tc.pkt)
		if err != nil || got != tc.want {
			t.Errorf("%s: ParseSegment = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseSegmentRejects(t *testing.T) {
	t.Parallel()
	lo4 := [4]byte{127, 0, 0, 1}
	udp := ipv4Packet(lo4, lo4, tcpHeader(1, 2, 0, 0, 0, 0), 0)
	udp[9] = 17
	frag := ipv4Packet(lo4, lo4, tcpHeader(1, 2, 0, 0, 0, 0), 0)
	frag[7] = 1 // fragment offset 8
	for name, pkt := range map[string][]byte{
		"empty":     nil,
		"short ip":  {0x45, 0},
		"udp":       udp,
		"fragment":  frag,
		"short tcp": ipv4Packet(lo4, lo4, nil, 0),
		"version 5": {0x50},
	} {
		if s, err := tcpstate.ParseSegment(pkt); err == nil {
			t.Errorf("%s: ParseSegment = %+v, want an error", name, s)
		}
	}
}

// The JSON form of a segment is part of sockit trace --json: lower-case
// names, flags as a word.
func TestSegmentJSON(t *testing.T) {
	t.Parallel()
	s := tcpstate.Segment{
		Time: time.Unix(0, 0).UTC(), Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("[::1]:2"),
		Flags: tcpstate.SYN | tcpstate.ACK, Seq: 3, Ack: 4, Window: 5, Len: 6,
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"1970-01-01T00:00:00Z","src":"127.0.0.1:1","dst":"[::1]:2","flags":"SYN-ACK","seq":3,"ack":4,"window":5,"len":6}`
	if string(b) != want {
		t.Errorf("json.Marshal(segment):\n got %s\nwant %s", b, want)
	}
}
