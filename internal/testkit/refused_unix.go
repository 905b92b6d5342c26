//go:build unix

package testkit

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// bindOnly binds a TCP socket to port 0 of the loopback address (::1 if
// ipv6) without SO_REUSEADDR, closes it when the test ends, and returns
// the address it was given.
func bindOnly(t testing.TB, ipv6 bool) string {
	t.Helper()
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if ipv6 {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(os.NewSyscallError("socket", err))
	}
	unix.CloseOnExec(fd)
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(os.NewSyscallError("bind", err))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockname", err))
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	t.Fatalf("getsockname: %T, want an IP address", got)
	return ""
}

// connectedToSelf binds a UDP socket to 127.0.0.1:0 without SO_REUSEADDR,
// connects it to its own address, closes it when the test ends and
// returns the address.
func connectedToSelf(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(os.NewSyscallError("socket", err))
	}
	unix.CloseOnExec(fd)
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(os.NewSyscallError("bind", err))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockname", err))
	}
	if err := unix.Connect(fd, got); err != nil {
		t.Fatal(os.NewSyscallError("connect", err))
	}
	a := got.(*unix.SockaddrInet4)
	return (&net.UDPAddr{IP: a.Addr[:], Port: a.Port}).String()
}
