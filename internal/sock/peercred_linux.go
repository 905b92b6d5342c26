package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// PeerCred is getsockopt(SO_PEERCRED) on a Unix socket: the process at
// the other end, as the kernel recorded it at connect(2) or listen(2).
func PeerCred(fd int) (pid int32, uid, gid uint32, err error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, 0, 0, os.NewSyscallError("getsockopt", err)
	}
	return u.Pid, u.Uid, u.Gid, nil
}
