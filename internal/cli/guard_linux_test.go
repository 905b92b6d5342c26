package cli

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/spoof"
	"github.com/sockit/sockit/internal/testkit"
)

// `sockit serve` leaves forged datagrams unanswered — from its own address
// and port (which would loop for ever), a broadcast address, a service's
// port — and its shutdown summary says how many and why. The datagrams are
// forged on a raw socket; a control datagram from a real socket, sent
// after them, is answered.
func TestServeUDPLeavesForgedDatagramsUnanswered(t *testing.T) {
	t.Parallel()
	if err := spoof.Available(); err != nil {
		t.Skip(err)
	}
	s := startServe(t, &ServeOptions{Endpoints: []string{"udp://127.0.0.1:0"}})
	at := s.addrs[0].(*net.UDPAddr).AddrPort()
	for _, from := range []netip.AddrPort{at, netip.MustParseAddrPort("255.255.255.255:40000"), netip.MustParseAddrPort("127.0.0.1:53")} {
		if err := spoof.UDP4(from, at, []byte("forged")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := spoof.UDP4(c.LocalAddr().(*net.UDPAddr).AddrPort(), at, []byte("control")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "control" {
		t.Fatalf("control datagram: answer %q, %v", buf[:n], err)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "summary", s.out.String(),
		"served 0 connections, 4 datagrams; bytes in 25, bytes out 7\n",
		"datagrams left unanswered: 3 (1 from our own address, 1 from a broadcast, multicast or unspecified address, 1 from a service port below 1024, 0 over --udp-rate)\n")
}
