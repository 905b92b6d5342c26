//go:build windows

package sock

import (
	"net"
	"os"
	"syscall"
)

// Windows handles are not small integers; narration shows "fd ?".
func fdInt(uintptr) int { return -1 }

func setReusePort(uintptr) error { return ErrUnsupported }

func setRecvBuf(fd uintptr, n int) error {
	return os.NewSyscallError("setsockopt", syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n))
}

func setSendBuf(fd uintptr, n int) error {
	return os.NewSyscallError("setsockopt", syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n))
}

// Winsock has no way to change a listening socket's backlog.
func relisten(net.Listener, int) error { return ErrUnsupported }

// defaultBacklog is SOMAXCONN as package net passes it on Windows.
func defaultBacklog() int { return 0x7fffffff }

// IsSocketFile reports whether path names a Unix socket file. Windows shows
// AF_UNIX socket files as reparse points, so any existing file counts.
func IsSocketFile(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Mode()&os.ModeSocket != 0 || fi.Mode()&os.ModeIrregular != 0, nil
}

// The calls of anc_unix.go: Windows has no urgent-data ioctl sockit
// narrates, and no descriptor passing.

func RecvOOB(int) (byte, error)          { return 0, ErrUnsupported }
func AtMark(int) (bool, error)           { return false, ErrUnsupported }
func SetOOBInline(int, bool) error       { return ErrUnsupported }
func ParseRights([]byte) ([]int, error)  { return nil, ErrUnsupported }
func RightsSpace(int) int                { return 0 }
func DescribeFD(int) string              { return "a handle" }
func IsRegular(int) bool                 { return false }
func FirstLine(int, int) ([]byte, error) { return nil, ErrUnsupported }
func CloseFDs([]int)                     {}
