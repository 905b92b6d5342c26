package testkit

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FullBacklog returns the address of a loopback TCP listener that never
// accepts and whose accept queue is full, so that a further connect gets
// no answer: Linux drops a SYN to a listener with a full queue
// (tcp_conn_request; listen(2), the backlog) and the connect stays in
// SYN_SENT, retransmitting, until it times out. It skips the test if the
// queue is not seen to fill. Off Linux it skips.
func FullBacklog(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(os.NewSyscallError("socket", err))
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, 0); err != nil { // room for one connection
		t.Fatal(os.NewSyscallError("listen", err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockname", err))
	}
	in4 := sa.(*unix.SockaddrInet4)
	addr := (&net.TCPAddr{IP: in4.Addr[:], Port: in4.Port}).String()
	// Fill the queue until a connect stops completing.
	for range 8 {
		c, err := net.DialTimeout("tcp4", addr, 200*time.Millisecond)
		if err != nil {
			return addr // this one got no answer: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the listen queue never filled: cannot make a connect go unanswered here")
	return ""
}
