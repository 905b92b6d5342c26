//go:build windows

package sockit

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// errnoName is the Winsock name of e ("WSAECONNRESET") for the errors
// sockets meet, or "".
func errnoName(e syscall.Errno) string {
	switch e {
	case windows.WSAEADDRINUSE:
		return "WSAEADDRINUSE"
	case windows.WSAEACCES:
		return "WSAEACCES"
	case windows.WSAECONNREFUSED:
		return "WSAECONNREFUSED"
	case windows.WSAENETUNREACH:
		return "WSAENETUNREACH"
	case windows.WSAEHOSTUNREACH:
		return "WSAEHOSTUNREACH"
	case windows.WSAETIMEDOUT:
		return "WSAETIMEDOUT"
	case windows.WSAECONNRESET:
		return "WSAECONNRESET"
	case windows.WSAECONNABORTED:
		return "WSAECONNABORTED"
	case windows.WSAEADDRNOTAVAIL:
		return "WSAEADDRNOTAVAIL"
	case windows.WSAENOTSOCK:
		return "WSAENOTSOCK"
	case windows.WSAEMFILE:
		return "WSAEMFILE"
	case windows.WSAEMSGSIZE:
		return "WSAEMSGSIZE"
	case windows.WSAEWOULDBLOCK:
		return "WSAEWOULDBLOCK"
	}
	return ""
}

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
