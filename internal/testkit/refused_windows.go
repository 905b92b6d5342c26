package testkit

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

// bindOnly binds a TCP socket to port 0 of the loopback address (::1 if
// ipv6) without SO_REUSEADDR, closes it when the test ends, and returns
// the address it was given. (The net package has started Winsock.)
func bindOnly(t testing.TB, ipv6 bool) string {
	t.Helper()
	family := windows.AF_INET
	var sa windows.Sockaddr = &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if ipv6 {
		family = windows.AF_INET6
		sa = &windows.SockaddrInet6{Addr: [16]byte{15: 1}}
	}
	h, err := windows.Socket(family, windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		t.Fatal(os.NewSyscallError("socket", err))
	}
	t.Cleanup(func() { windows.Closesocket(h) })
	if err := windows.Bind(h, sa); err != nil {
		t.Fatal(os.NewSyscallError("bind", err))
	}
	got, err := windows.Getsockname(h)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockname", err))
	}
	switch a := got.(type) {
	case *windows.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *windows.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	t.Fatalf("getsockname: %T, want an IP address", got)
	return ""
}

// connectedToSelf: the tests that need a refused UDP port run on Unix.
func connectedToSelf(t testing.TB) string {
	t.Helper()
	t.Skip("a UDP port that answers with ICMP: not on windows")
	return ""
}
