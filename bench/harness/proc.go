//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
		s.cpu, _ = procCPU(pid)
		s.sched = procSched(pid)
		s.rss, _ = procRSS(pid)
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.core0 = cpuBusy("cpu0")
	return s
}

// clockTick is the unit of times in /proc (USER_HZ), from the auxiliary
// vector's AT_CLKTCK (per getauxval(3)); 100 when it cannot be read.
var clockTick = func() time.Duration {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for ; len(b) >= 16; b = b[16:] {
			const atClkTck = 17
			if binary.NativeEndian.Uint64(b) == atClkTck {
				if hz := binary.NativeEndian.Uint64(b[8:]); hz > 0 {
					return time.Second / time.Duration(hz)
				}
			}
		}
	}
	return time.Second / 100
}()

// procCPU is utime+stime of process pid, every thread, living or gone
// (fields 14 and 15 of /proc/PID/stat, per proc(5)).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
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

// procRSS is VmRSS of pid in bytes (/proc/PID/status).
func procRSS(pid int) (int64, error) {
	return procStatus(pid, "VmRSS:")
}

func procStatus(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key) {
			fs := strings.Fields(line[len(key):])
			if len(fs) > 0 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, key)
}

// cpuBusy is the non-idle time of one CPU line of /proc/stat ("cpu0").
func cpuBusy(name string) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != name {
			continue
		}
		var busy uint64
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
				continue
			}
			busy += n
		}
		return time.Duration(busy) * clockTick
	}
	return 0
}

// raiseNoFile lifts the soft descriptor limit to the hard one. It uses
// package syscall so that the children started by os/exec inherit it
// (the runtime resets a limit it raised itself for them).
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
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
