//go:build windows

package sockit

import (
	"syscall"

	"golang.org/x/sys/windows"
)

func errnoKind(e syscall.Errno) Kind {
	switch e {
	case windows.WSAEADDRINUSE:
		return KindAddrInUse
	case windows.WSAEACCES, syscall.ERROR_ACCESS_DENIED:
		return KindPermission
	case windows.WSAECONNREFUSED:
		return KindRefused
	case windows.WSAENETUNREACH, windows.WSAEHOSTUNREACH, windows.WSAENETDOWN, windows.WSAEHOSTDOWN:
		return KindUnreachable
	case windows.WSAETIMEDOUT:
		return KindTimeout
	case windows.WSAECONNRESET, windows.WSAECONNABORTED, syscall.ERROR_BROKEN_PIPE:
		return KindReset
	case windows.WSAEADDRNOTAVAIL:
		return KindAddrNotAvail
	case windows.WSAENOTSOCK:
		return KindNotSocket
	case windows.WSAEMFILE:
		return KindTooManyFiles
	}
	return KindOther
}
