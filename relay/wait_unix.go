//go:build unix

package relay

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitReadable blocks until c has a datagram to read, or an error to
// report, without a buffer: the runtime's poller waits on the socket, and
// a one-byte recv(2) with MSG_PEEK|MSG_DONTWAIT tells whether something
// has come. The socket's read deadline bounds the wait. The error is the
// socket's (a pending ICMP error, say), or the wait's; nil means a Read
// will not block.
func waitReadable(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var one [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, e := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if errors.Is(e, unix.EAGAIN) || errors.Is(e, unix.EINTR) {
			return false // nothing yet: wait for the poller
		}
		perr = e
		return true
	})
	if err != nil {
		return err
	}
	return perr
}
