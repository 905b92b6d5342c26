package testkit

import (
	"net"
	"testing"
)

// Refused returns a loopback TCP address ("127.0.0.1:PORT") that refuses
// every connection for as long as the test runs. A socket is bound to the
// port and never listens: the kernel answers each SYN to it with RST, and
// until the test ends no other socket can bind the port (the holder sets
// no SO_REUSEADDR) nor take it as the ephemeral port of a connection. A
// port that was listened on and closed gives no such promise: a parallel
// test may take it in between, or a connect to it from 127.0.0.1 may pick
// it as its own source port and connect to itself.
func Refused(t testing.TB) string {
	t.Helper()
	return bindOnly(t, false)
}

// Refused6 is Refused on IPv6 loopback ("[::1]:PORT"); it skips the test
// where there is none.
func Refused6(t testing.TB) string {
	t.Helper()
	NeedIPv6(t)
	return bindOnly(t, true)
}

// QuietUDP returns a loopback UDP address ("127.0.0.1:PORT") whose socket
// never answers and never reads, for as long as the test runs: datagrams
// sent there are taken and dropped, and no other socket can have the port.
func QuietUDP(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// RefusedUDP returns a loopback UDP address ("127.0.0.1:PORT") that
// answers every datagram with an ICMP port unreachable for as long as the
// test runs. A UDP socket holds the port, connected to its own address:
// per udp(7) a connected socket takes datagrams from its peer only, so
// the kernel finds no socket for anyone else's and says so with ICMP,
// while no other socket can bind the port meanwhile.
func RefusedUDP(t testing.TB) string {
	t.Helper()
	return connectedToSelf(t)
}
