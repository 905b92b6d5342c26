//go:build unix

package sockit

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoName is the C name of e ("ECONNRESET"), or "".
func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }

func errnoKind(e syscall.Errno) Kind {
	switch e {
	case syscall.EADDRINUSE:
		return KindAddrInUse
	case syscall.EACCES, syscall.EPERM:
		return KindPermission
	case syscall.ECONNREFUSED:
		return KindRefused
	case syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ENETDOWN, syscall.EHOSTDOWN:
		return KindUnreachable
	case syscall.ETIMEDOUT:
		return KindTimeout
	case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
		return KindReset
	case syscall.EADDRNOTAVAIL:
		return KindAddrNotAvail
	case syscall.ENOTSOCK:
		return KindNotSocket
	case syscall.EMFILE, syscall.ENFILE:
		return KindTooManyFiles
	}
	return KindOther
}
