//go:build unix

package sock

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// This file holds the socket calls off the engine's hot path that sockit
// narrates and the sockapi package offers: urgent data (per tcp(7)),
// descriptors passed over Unix sockets (per unix(7)), and what a passed
// descriptor is.

// RecvOOB takes TCP's urgent byte with recv(MSG_OOB). Per tcp(7) it fails
// with EINVAL when there is none (or SO_OOBINLINE is on), and with EAGAIN
// when the urgent pointer has arrived before the byte.
func RecvOOB(fd int) (byte, error) {
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_OOB|unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("recv", err)
		}
		if n == 0 {
			return 0, os.NewSyscallError("recv", unix.EINVAL)
		}
		return b[0], nil
	}
}

// AtMark is ioctl(SIOCATMARK): whether the next byte to read is the one
// the urgent pointer marks.
func AtMark(fd int) (bool, error) {
	v, err := unix.IoctlGetInt(fd, unix.SIOCATMARK)
	return v != 0, os.NewSyscallError("ioctl", err)
}

// SetOOBInline sets SO_OOBINLINE: urgent data stays in the stream.
func SetOOBInline(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, v))
}

// ParseRights returns the descriptors of the SCM_RIGHTS messages in oob,
// the control data of a recvmsg(2).
func ParseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level == unix.SOL_SOCKET && msgs[i].Header.Type == unix.SCM_RIGHTS {
			got, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return fds, err
			}
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

// RightsSpace is the control buffer recvmsg(2) needs for n descriptors.
func RightsSpace(n int) int { return unix.CmsgSpace(n * 4) }

// DescribeFD says what fd is, as fstat(2) tells it: "regular file, 42
// bytes", "pipe", "socket", ...
func DescribeFD(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "fstat: " + err.Error()
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Size == 1 {
			return "regular file, 1 byte"
		}
		return "regular file, " + strconv.FormatInt(st.Size, 10) + " bytes"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "pipe"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return "file of mode " + strconv.FormatUint(uint64(st.Mode), 8)
}

// IsRegular reports whether fd is a regular file, which can be read
// without blocking.
func IsRegular(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// FirstLine reads the first line of the regular file fd (without its
// newline), at most limit bytes of it, with pread(2) from offset 0: the
// descriptor's own offset does not move.
func FirstLine(fd int, limit int) ([]byte, error) {
	buf := make([]byte, limit)
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("pread", err)
		}
		line := buf[:n]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		return line, nil
	}
}

// CloseFDs closes descriptors received and not kept.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
