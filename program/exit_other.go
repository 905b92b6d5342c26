//go:build !linux

package program

import (
	"errors"
	"os"
)

// peekExit cannot wait for an exit without reaping here: the program is
// reaped as it exits, and its process group is signalled no more after.
func peekExit(*os.Process) error { return errNoPeek }

var errNoPeek = errors.New("program: waiting without reaping is not available")
