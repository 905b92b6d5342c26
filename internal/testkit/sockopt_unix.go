//go:build unix

package testkit

import "golang.org/x/sys/unix"

func setRcvBuf(fd uintptr, n int) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
}
