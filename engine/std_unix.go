//go:build unix

package engine

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
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
