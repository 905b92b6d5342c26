package icmpwatch_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/sockit/sockit/icmpwatch"
)

// portUnreachable4 builds the ICMP message a kernel sends back for a UDP
// datagram from src to dst that nothing listens for.
func portUnreachable4(src, dst netip.AddrPort) []byte {
	msg := []byte{3, 3, 0, 0, 0, 0, 0, 0}
	ip := make([]byte, 20)
	ip[0] = 0x45
	ip[9] = 17
	copy(ip[12:], src.Addr().AsSlice())
	copy(ip[16:], dst.Addr().AsSlice())
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	return append(append(msg, ip...), udp...)
}

func portUnreachable6(src, dst netip.AddrPort) []byte {
	msg := []byte{1, 4, 0, 0, 0, 0, 0, 0}
	ip := make([]byte, 40)
	ip[0] = 0x60
	ip[6] = 17
	copy(ip[8:], src.Addr().AsSlice())
	copy(ip[24:], dst.Addr().AsSlice())
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	return append(append(msg, ip...), udp...)
}

func TestParse(t *testing.T) {
	t.Parallel()
	lo := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")
	src := netip.MustParseAddrPort("127.0.0.1:40312")
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	src6 := netip.MustParseAddrPort("[::1]:40312")
	dst6 := netip.MustParseAddrPort("[::1]:9")
	tests := []struct {
		name string
		v6   bool
		msg  []byte
		want string
	}{
		{name: "port unreachable", msg: portUnreachable4(src, dst),
			want: "port unreachable: udp 127.0.0.1:40312 → 127.0.0.1:9 (ICMP type 3 code 3 from 127.0.0.1)"},
		{name: "icmpv6 port unreachable", v6: true, msg: portUnreachable6(src6, dst6),
			want: "port unreachable: udp [::1]:40312 → [::1]:9 (ICMPv6 type 1 code 4 from ::1)"},
		{name: "echo request", msg: []byte{8, 0, 0, 0, 0x12, 0x34, 0, 7, 'p', 'i', 'n', 'g'},
			want: "echo request from 127.0.0.1: id 4660 seq 7, 4 bytes"},
		{name: "icmpv6 echo reply", v6: true, msg: []byte{129, 0, 0, 0, 0, 1, 0, 2},
			want: "echo reply from ::1: id 1 seq 2, 0 bytes"},
		{name: "error quoting too little", msg: portUnreachable4(src, dst)[:20],
			want: "port unreachable (ICMP type 3 code 3 from 127.0.0.1)"},
		{name: "time exceeded", msg: append([]byte{11, 0, 0, 0, 0, 0, 0, 0}, portUnreachable4(src, dst)[8:]...),
			want: "time exceeded: TTL ran out in transit: udp 127.0.0.1:40312 → 127.0.0.1:9 (ICMP type 11 code 0 from 127.0.0.1)"},
		{name: "unknown type", msg: []byte{42, 1, 0, 0, 0, 0, 0, 0},
			want: "ICMP type 42 code 1 (ICMP type 42 code 1 from 127.0.0.1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from := lo
			if tt.v6 {
				from = lo6
			}
			m, err := icmpwatch.Parse(tt.v6, tt.msg, from)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.String(); got != tt.want {
				t.Errorf("String() mismatch (-want +got):\n-%s\n+%s", tt.want, got)
			}
		})
	}
	if _, err := icmpwatch.Parse(false, []byte{3, 3, 0}, lo); !errors.Is(err, icmpwatch.ErrShort) {
		t.Errorf("Parse of 3 bytes: %v, want ErrShort", err)
	}
}

// Parse never panics, and what it quotes it read from the message.
func FuzzParse(f *testing.F) {
	f.Add(false, portUnreachable4(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")))
	f.Add(true, portUnreachable6(netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2")))
	f.Add(false, []byte{8, 0, 0, 0, 0, 1, 0, 1})
	f.Add(false, []byte{3, 3, 0, 0, 0, 0, 0, 0, 0x4f})
	f.Fuzz(func(t *testing.T, v6 bool, msg []byte) {
		m, err := icmpwatch.Parse(v6, msg, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			if len(msg) >= 8 {
				t.Fatalf("Parse(%d bytes) = %v", len(msg), err)
			}
			return
		}
		if m.Type != msg[0] || m.Code != msg[1] || m.Text == "" {
			t.Fatalf("type/code %d/%d text %q from % x", m.Type, m.Code, m.Text, msg[:2])
		}
		_ = m.String()
	})
}
