// Package procstat reads what Linux's /proc says about a process and the
// machine: CPU time, resident memory, busy CPUs. The load generator and the
// benchmark harness sample servers with it.
package procstat

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTick is the unit of times in /proc (USER_HZ), from the auxiliary
// vector's AT_CLKTCK (per getauxval(3)); 10 ms when it cannot be read.
var ClockTick = func() time.Duration {
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

// CPU is utime+stime of process pid, every thread, living or gone (fields
// 14 and 15 of /proc/PID/stat, per proc(5)), in ClockTick steps.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
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
	return time.Duration(ut+st) * ClockTick, nil
}

// RSS is VmRSS of pid in bytes (/proc/PID/status); pid 0 is this process.
func RSS(pid int) (int64, error) { return statusBytes(pid, "VmRSS:") }

// PeakRSS is VmHWM of pid in bytes, the most its resident set has been
// since it started (/proc/PID/status); pid 0 is this process. Unlike a
// child's ru_maxrss (getrusage(2)), it does not count the parent's memory
// that the child shared between fork and exec.
func PeakRSS(pid int) (int64, error) { return statusBytes(pid, "VmHWM:") }

// statusBytes is the field key of /proc/PID/status, in kB there, in bytes.
func statusBytes(pid int, key string) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, strings.TrimSuffix(key, ":"))
}

// MemTotal is the machine's physical memory in bytes (MemTotal of
// /proc/meminfo).
func MemTotal() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("/proc/meminfo: no MemTotal")
}

// CPUTime is the busy (not idle, not iowait) and total time of one CPU
// line of /proc/stat: "cpu" for all of them, "cpu0" for the first.
func CPUTime(name string) (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != name {
			continue
		}
		var bsy, tot uint64
		for i, v := range f[1:] {
			if i >= 8 { // guest time is counted in user time already
				break
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			tot += n
			if i != 3 && i != 4 { // idle, iowait
				bsy += n
			}
		}
		return time.Duration(bsy) * ClockTick, time.Duration(tot) * ClockTick, nil
	}
	return 0, 0, fmt.Errorf("/proc/stat: no %s line", name)
}

// RaiseNoFile lifts the soft descriptor limit to the hard one and returns
// it. It uses package syscall so that children started by os/exec inherit
// it (the runtime resets a limit it raised itself for them).
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}
