//go:build unix

package program

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the program in a process group of its own, so that
// killGroup and termGroup reach what it starts too (a shell's children).
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the program's process group.
func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// termGroup asks the program's process group to stop: SIGTERM.
func termGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func shellCommand(line string) *exec.Cmd {
	return exec.Command("/bin/sh", "-c", line)
}
