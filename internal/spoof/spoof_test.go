package spoof

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// The packet's UDP checksum verifies: summed with it, the pseudo-header,
// header and data come to 0xFFFF (RFC 768).
func TestPacketChecksum(t *testing.T) {
	t.Parallel()
	src, dst := netip.MustParseAddrPort("127.0.0.1:7"), netip.MustParseAddrPort("127.0.0.2:19")
	for _, payload := range []string{"", "a", "odd length", "even length!"} {
		p := Packet(src, dst, []byte(payload))
		if len(p) != 28+len(payload) || p[0] != 0x45 || p[9] != 17 {
			t.Fatalf("%q: packet header % x", payload, p[:20])
		}
		s, d := src.Addr().As4(), dst.Addr().As4()
		// With a correct checksum in place the sum is all ones, whose
		// complement 0 udpChecksum gives as 0xFFFF.
		if c := udpChecksum(s, d, p[20:]); c != 0xFFFF {
			t.Errorf("%q: checksum does not verify (recomputed %#04x)", payload, c)
		}
	}
}

// A forged datagram arrives with the source it names.
func TestUDP4(t *testing.T) {
	t.Parallel()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dst := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	src := netip.MustParseAddrPort("127.0.0.9:4242")
	if err := UDP4(src, dst, []byte("forged")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := from.(*net.UDPAddr).AddrPort(); got != src || string(buf[:n]) != "forged" {
		t.Errorf("received %q from %v, want %q from %v", buf[:n], got, "forged", src)
	}
}
