package procstat

import (
	"os"
	"syscall"
	"testing"
)

// This process's own figures are there and plausible.
func TestOwnProcess(t *testing.T) {
	t.Parallel()
	if rss, err := RSS(0); err != nil || rss < 1<<20 {
		t.Errorf("RSS(0) = %d, %v; want at least 1 MiB", rss, err)
	}
	if rss, err := RSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Errorf("RSS(own pid) = %d, %v", rss, err)
	}
	rss, _ := RSS(0)
	if peak, err := PeakRSS(0); err != nil || peak < rss {
		t.Errorf("PeakRSS(0) = %d, %v; want at least RSS, %d", peak, err, rss)
	}
	if _, err := CPU(os.Getpid()); err != nil {
		t.Errorf("CPU(own pid): %v", err)
	}
	if _, err := CPU(-1); err == nil {
		t.Error("CPU(-1) succeeded")
	}
	busy, total, err := CPUTime("cpu")
	if err != nil || total <= 0 || busy > total {
		t.Errorf("CPUTime(cpu) = %v of %v, %v", busy, total, err)
	}
	if _, _, err := CPUTime("cpu9999"); err == nil {
		t.Error("CPUTime(cpu9999) succeeded")
	}
	n, err := RaiseNoFile()
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	if err != nil || n != rl.Cur || rl.Cur != rl.Max {
		t.Errorf("RaiseNoFile = %d, %v; limit now %d of %d", n, err, rl.Cur, rl.Max)
	}
}
