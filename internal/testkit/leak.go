package testkit

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Main runs m and then fails the test binary (exit code 1) if goroutines
// or file descriptors were left behind. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
//
// It compares the state after all tests with the state before them, so it
// works with parallel tests. Goroutines and descriptors often take a moment
// to go after a test ends (a closed socket's goroutine returning), so it
// checks again for up to five seconds before it reports. Descriptors are
// counted where the platform lists them (/proc/self/fd).
func Main(m *testing.M) int {
	// Start the runtime's network poller first, so its own epoll and
	// eventfd descriptors are part of the baseline.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	fds := openFDs()
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := waitNoLeaks(fds, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "testkit: leak check:", err)
		return 1
	}
	return 0
}

func waitNoLeaks(baseFDs []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		gs := leakedGoroutines()
		extra := newFDs(baseFDs)
		if len(gs) == 0 && len(extra) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutine(s) and %d descriptor(s) left behind:\n%s\nfds: %v",
				len(gs), len(extra), strings.Join(gs, "\n\n"), extra)
		}
		runtime.GC()
		time.Sleep(backoff) // polling a condition with a deadline, not a fixed wait
	}
}

// leakedGoroutines lists goroutines other than this one and the runtime's
// and testing package's own.
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g == "" || strings.Contains(g, "testkit.leakedGoroutines") || benign(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

func benign(stack string) bool {
	for _, s := range []string{
		"testing.(*M).",
		"testing.tRunner",
		"os/signal.signal_recv",
		"runtime.ensureSigM",
		"created by runtime.gc",
		"runtime.MHeap_Scavenger",
		"runtime/trace",
		"testing.runFuzzing",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// openFDs lists the descriptors open now, where the platform shows them.
func openFDs() []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+"->"+target)
	}
	return fds
}

func newFDs(base []string) []string {
	if base == nil {
		return nil
	}
	var extra []string
	for _, fd := range openFDs() {
		if !slices.Contains(base, fd) && !strings.Contains(fd, "/proc/") {
			extra = append(extra, fd)
		}
	}
	return extra
}
