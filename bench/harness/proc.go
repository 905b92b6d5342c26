//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/procstat"
)

// sample is what the harness reads at the edges of a measured window.
type sample struct {
	at    time.Time
	cpu   time.Duration // server utime+stime
	sched time.Duration // server on-CPU time summed over its threads
	rss   int64         // server VmRSS, bytes
	self  time.Duration // this process's utime+stime
	core0 time.Duration // busy time of CPU 0, every process
}

// takeSample reads the counters of process pid (none if pid is 0).
func takeSample(pid int) sample {
	s := sample{at: time.Now()}
	if pid > 0 {
		s.cpu, _ = procstat.CPU(pid)
		s.sched = procSched(pid)
		s.rss, _ = procstat.RSS(pid)
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.core0 = cpuBusy("cpu0")
	return s
}

// procSched is the time the threads of pid now alive have spent on a CPU,
// in nanoseconds from the scheduler (/proc/PID/task/TID/schedstat).
func procSched(pid int) time.Duration {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

// cpuBusy is the non-idle time of one CPU line of /proc/stat ("cpu0").
func cpuBusy(name string) time.Duration {
	busy, _, _ := procstat.CPUTime(name)
	return busy
}

// machine describes where the benchmark ran.
type machine struct {
	NProc     int
	CPU       string
	Kernel    string
	Go        string
	GCC       string
	NoFile    uint64
	PortRange string
	Commit    string // of the tree the sockit binary was built from
}

func readMachine() machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("gcc", "--version").Output(); err == nil {
		m.GCC, _, _ = strings.Cut(string(out), "\n")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		m.PortRange = strings.Join(strings.Fields(string(b)), "–")
	}
	return m
}

// commit names the checked-out commit of the tree at root, marked "+dirty"
// when files differ from it.
func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += "+dirty"
	}
	return c
}

// busyCPUs is how many CPUs' worth of time the whole machine spent busy
// over d (/proc/stat).
func busyCPUs(d time.Duration) float64 {
	a := cpuBusy("cpu")
	t := time.Now()
	time.Sleep(d)
	return float64(cpuBusy("cpu")-a) / float64(time.Since(t))
}
