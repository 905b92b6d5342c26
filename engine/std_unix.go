//go:build unix

package engine

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/sockit/sockit/internal/sock"
)

// readMessage reads one seqpacket message and reports truncation (per
// recvmsg(2), MSG_TRUNC) as EMSGSIZE. A zero-length read is the peer's EOF.
func readMessage(nc net.Conn, buf []byte) (int, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nc.Read(buf)
	}
	n, _, flags, _, err := uc.ReadMsgUnix(buf, nil)
	switch {
	case errors.Is(err, io.EOF): // package net wraps it here, unlike Read
		return 0, io.EOF
	case err != nil:
		return n, err
	case flags&syscall.MSG_TRUNC != 0:
		return 0, os.NewSyscallError("read", syscall.EMSGSIZE)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readWithRights reads once with recvmsg(2) (ReadMsgUnix), with room for
// SCM_RIGHTS descriptors, which it returns: one seqpacket message with
// message, truncation then being EMSGSIZE as in readMessage.
func readWithRights(nc net.Conn, buf []byte, message bool) (int, []int, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return 0, nil, sock.ErrUnsupported
	}
	oob := make([]byte, sock.RightsSpace(16))
	n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oob)
	var fds []int
	if oobn > 0 {
		fds, _ = sock.ParseRights(oob[:oobn])
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		return 0, fds, io.EOF
	case err != nil:
		return n, fds, err
	case message && flags&syscall.MSG_TRUNC != 0:
		return 0, fds, os.NewSyscallError("read", syscall.EMSGSIZE)
	case n == 0:
		return 0, fds, io.EOF
	}
	return n, fds, nil
}

// withFD runs f on nc's descriptor.
func withFD(nc net.Conn, f func(fd int) error) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return sock.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
