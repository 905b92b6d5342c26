package program

import (
	"os/exec"
)

// ownGroup does nothing on Windows: killGroup kills the program only, not
// what it started.
func ownGroup(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// termGroup kills the program: Windows has no signal that asks a console
// program to stop and that another process can send it.
func termGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func shellCommand(line string) *exec.Cmd {
	return exec.Command("cmd", "/C", line)
}
