package bench

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/procstat"
)

// processCPU returns the user+system CPU time of a process: this one from
// getrusage (microseconds), another from /proc/PID/stat (clock ticks).
func processCPU(pid int) (time.Duration, bool) {
	if pid == 0 {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
			return 0, false
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
	}
	d, err := procstat.CPU(pid)
	return d, err == nil
}

// processRSS returns a process's resident memory in bytes (0 = this one).
func processRSS(pid int) (int64, bool) {
	n, err := procstat.RSS(pid)
	return n, err == nil
}

// raiseFDLimit raises the soft descriptor limit to the hard one (the Go
// runtime does it at start on Linux already; this makes sure and says what
// the limit is).
func raiseFDLimit() uint64 {
	n, _ := procstat.RaiseNoFile()
	return n
}

// machineCPU returns the busy and total time of all the machine's CPUs.
func machineCPU() (busy, total time.Duration, ok bool) {
	busy, total, err := procstat.CPUTime("cpu")
	return busy, total, err == nil
}

// kernelRelease is the running kernel's release, as uname -r says it.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
