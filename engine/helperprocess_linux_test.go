package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// A helper process is this test binary run again with only
// TestHelperProcess selected and helperEnv set. It serves service.Echo on
// tcp://127.0.0.1:0 in a process of its own, so that a test can hold more
// connections than one process has descriptors for (server and clients
// each need one per connection), or starve the server of descriptors
// without starving the test.
//
// The conversation is one line at a time, each line the child prints
// starting with helperPrefix:
//
//	child:  addr 127.0.0.1:PORT           once serving
//	parent: stats                         child: stats {engine.Stats}
//	parent: window 1s                     child: window {helperWindow}
//	parent: (closes stdin)                child: final {helperFinal}, then exits
const (
	helperEnv    = "SOCKIT_HELPER"        // "server-epoll", "emfile-std": mode and backend
	helperNofile = "SOCKIT_HELPER_NOFILE" // the child's soft RLIMIT_NOFILE, if set
	helperPrefix = "sockit-helper "
)

// helperWindow is what the child measured over a window of time that
// began after accept(2) had failed at least once.
type helperWindow struct {
	Wall         time.Duration // the window's length
	CPU          time.Duration // user + system time the whole child used in it
	AcceptErrors uint64        // failed accepts counted in it
	AcceptLogs   int64         // observer events for failed accepts in it
	LoggedEver   int64         // observer events for failed accepts since the start
	Stats        engine.Stats  // at the window's end
}

// helperFinal is the child's last word.
type helperFinal struct {
	Stats    engine.Stats
	Shutdown string // Shutdown's error, "" if none
}

// TestHelperProcess is the child's side; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("runs only as a helper process, started by the stress and EMFILE tests with " + helperEnv + " set")
	}
	if err := runHelper(mode, os.Stdin, os.Stdout); err != nil {
		t.Fatalf("helper %s: %v", mode, err)
	}
}

func runHelper(mode string, in io.Reader, out io.Writer) error {
	kind, backend, ok := strings.Cut(mode, "-")
	if !ok || (kind != "server" && kind != "emfile") {
		return fmt.Errorf("%s=%q: want server-BACKEND or emfile-BACKEND", helperEnv, mode)
	}
	if s := os.Getenv(helperNofile); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%s=%q: %v", helperNofile, s, err)
		}
		if err := setNofile(n); err != nil {
			return err
		}
	} else if err := setNofile(math.MaxUint64); err != nil { // as many as the hard limit allows
		return err
	}
	var acceptLogs atomic.Int64
	obs := sockit.ObserverFunc(func(e sockit.Event) {
		if e.Step == sockit.StepAccept && e.Err != nil {
			acceptLogs.Add(1)
		}
	})
	srv, err := engine.NewServer(&engine.Config{Backend: engine.Backend(backend), Observer: obs})
	if err != nil {
		return err
	}
	addr, err := srv.Listen(ep("tcp", "127.0.0.1:0"), service.Echo{})
	if err != nil {
		srv.Close()
		return err
	}
	fmt.Fprintf(out, "%saddr %s\n", helperPrefix, addr)

	sc := bufio.NewScanner(in)
	for sc.Scan() && err == nil {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "stats":
			err = emit(out, "stats", srv.Stats())
		case "window":
			var d time.Duration
			if d, err = time.ParseDuration(arg); err == nil {
				var w helperWindow
				if w, err = measureWindow(srv, &acceptLogs, d); err == nil {
					err = emit(out, "window", w)
				}
			}
		default:
			err = fmt.Errorf("unknown command %q", sc.Text())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	serr := srv.Shutdown(ctx)
	final := helperFinal{Stats: srv.Stats()}
	if serr != nil {
		final.Shutdown = serr.Error()
	}
	return errors.Join(err, sc.Err(), serr, emit(out, "final", final))
}

func emit(out io.Writer, what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s%s %s\n", helperPrefix, what, b)
	return err
}

// measureWindow waits until accept(2) has failed, then measures the
// server over d while the failure persists.
func measureWindow(srv *engine.Server, logs *atomic.Int64, d time.Duration) (helperWindow, error) {
	deadline := time.Now().Add(testkit.Timeout)
	for backoff := time.Millisecond; srv.Stats().AcceptErrors == 0; backoff = min(2*backoff, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			return helperWindow{}, fmt.Errorf("accept did not fail within %v (Stats %+v)", testkit.Timeout, srv.Stats())
		}
		time.Sleep(backoff) // polling a condition with a deadline, not a fixed wait
	}
	errs0, logs0, cpu0, t0 := srv.Stats().AcceptErrors, logs.Load(), cpuTime(), time.Now()
	time.Sleep(d) // the window itself: a span of time to measure over, not a stand-in for a condition
	st := srv.Stats()
	logs1 := logs.Load()
	return helperWindow{
		Wall:         time.Since(t0),
		CPU:          cpuTime() - cpu0,
		AcceptErrors: st.AcceptErrors - errs0,
		AcceptLogs:   logs1 - logs0,
		LoggedEver:   logs1,
		Stats:        st,
	}, nil
}

// cpuTime is the user and system time this process has used. It asks
// getrusage(2) rather than reading /proc/self/stat, which would need a
// descriptor the starved child does not have.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func setNofile(soft uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return os.NewSyscallError("getrlimit", err)
	}
	lim.Cur = min(soft, lim.Max)
	return os.NewSyscallError("setrlimit", unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
}

// raiseNofile raises this process's soft RLIMIT_NOFILE to the hard limit
// for the rest of the test and returns it. Only tests that run alone (not
// t.Parallel) may call it: the limit is the process's, and it is restored
// when the test ends.
func raiseNofile(t *testing.T) uint64 {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if err := setNofile(old.Max); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	})
	return old.Max
}

// openFDCount is the number of descriptors this process has open.
func openFDCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return len(ents)
}

// helper is the parent's handle on a helper process.
type helper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // the child's helperPrefix lines, prefix removed
	stderr *testkit.Buffer
	addr   net.Addr

	closeIn sync.Once
	waited  bool
	waitErr error
}

// startHelper runs the test binary as a helper process in mode (see
// helperEnv) with env added, and waits for its address. The child is
// killed (by its PID, through exec.CommandContext) if it is still running
// after limit; the test waits for it to exit before it ends.
func startHelper(t *testing.T, mode string, limit time.Duration, env ...string) *helper {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.WaitDelay = 5 * time.Second
	h := &helper{t: t, cmd: cmd, lines: make(chan string, 16), stderr: new(testkit.Buffer)}
	cmd.Stderr = h.stderr
	var err error
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting helper process: %v", err)
	}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), helperPrefix); ok {
				h.lines <- rest
			}
		}
	}()
	t.Cleanup(func() {
		h.wait()
		cancel()
	})

	line := h.next("its address")
	a, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		t.Fatalf("helper %s said %q, want its address", mode, line)
	}
	if h.addr, err = net.ResolveTCPAddr("tcp", a); err != nil {
		t.Fatalf("helper %s: address %q: %v", mode, a, err)
	}
	return h
}

// next returns the child's next line, failing the test if it ends or says
// nothing within testkit.Timeout.
func (h *helper) next(what string) string {
	h.t.Helper()
	select {
	case line, ok := <-h.lines:
		if !ok {
			h.wait()
			h.t.Fatalf("helper process ended before %s: %v\nits stderr:\n%s", what, h.waitErr, h.stderr)
		}
		return line
	case <-time.After(testkit.Timeout):
		h.t.Fatalf("helper process said nothing about %s within %v\nits stderr:\n%s", what, testkit.Timeout, h.stderr)
		return ""
	}
}

// ask sends cmd and decodes the answer, which must be of kind want.
func (h *helper) ask(cmd, want string, v any) {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.stdin, cmd); err != nil {
		h.t.Fatalf("helper %q: %v\nits stderr:\n%s", cmd, err, h.stderr)
	}
	h.decode(h.next(cmd), want, v)
}

func (h *helper) decode(line, want string, v any) {
	h.t.Helper()
	body, ok := strings.CutPrefix(line, want+" ")
	if !ok {
		h.t.Fatalf("helper said %q, want %s", line, want)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		h.t.Fatalf("helper's %s %q: %v", want, body, err)
	}
}

func (h *helper) stats() engine.Stats {
	h.t.Helper()
	var st engine.Stats
	h.ask("stats", "stats", &st)
	return st
}

// waitStats polls the child's stats until cond holds, for up to testkit.Timeout.
func (h *helper) waitStats(what string, cond func(engine.Stats) bool) engine.Stats {
	h.t.Helper()
	deadline := time.Now().Add(testkit.Timeout)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		st := h.stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up after %v waiting for %s; helper Stats %+v", testkit.Timeout, what, st)
		}
		time.Sleep(backoff) // polling a condition with a deadline, not a fixed wait
	}
}

// finish closes the child's stdin, returns its final word and waits until
// it has exited cleanly: its own leak check passed too.
func (h *helper) finish() helperFinal {
	h.t.Helper()
	h.closeIn.Do(func() { h.stdin.Close() })
	var f helperFinal
	h.decode(h.next("its final stats"), "final", &f)
	if h.wait(); h.waitErr != nil {
		h.t.Fatalf("helper process: %v\nits stderr:\n%s", h.waitErr, h.stderr)
	}
	return f
}

// wait ends the conversation and waits for the child to exit, which it
// does at EOF on stdin, or when killed at the limit.
func (h *helper) wait() {
	if h.waited {
		return
	}
	h.waited = true
	h.closeIn.Do(func() { h.stdin.Close() })
	for range h.lines { // until the child's stdout closes
	}
	h.waitErr = h.cmd.Wait()
}
