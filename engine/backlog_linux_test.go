package engine_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullBacklog returns the address of a TCP listener (backlog 1, never
// accepting) whose accept queue has been filled, so that a further connect
// gets no answer. It skips the test if the queue cannot be seen full.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IP(sa.(*unix.SockaddrInet4).Addr[:]), Port: sa.(*unix.SockaddrInet4).Port}).String()
	// A backlog of 1 holds two established connections on Linux; fill it
	// until a connect stops completing.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // this one got no answer: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the listen queue never filled; cannot make a connect go unanswered here")
	return ""
}
