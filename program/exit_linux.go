package program

import (
	"os"

	"golang.org/x/sys/unix"
)

// peekExit waits for p to exit and leaves it unreaped, a zombie, per
// waitid(2) with WNOWAIT: until it is reaped its process id, which is its
// process group's, cannot be given to another process, so the group can
// still be signalled safely (what it started and left running).
func peekExit(p *os.Process) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err
		}
	}
}
