package testkit

import "golang.org/x/sys/windows"

func setRcvBuf(fd uintptr, n int) error {
	return windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_RCVBUF, n)
}
