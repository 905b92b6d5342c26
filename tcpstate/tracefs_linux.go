package tcpstate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// tracefsRoots are where tracefs is mounted, newest convention first.
var tracefsRoots = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

const stateEvent = "events/sock/inet_sock_set_state"

// stateTracer owns a tracefs instance (instances/sockit-PID-N): a private
// ring buffer with only our event enabled, so that it neither disturbs nor
// is disturbed by other users of ftrace.
type stateTracer struct {
	dir   string
	pipe  *os.File
	f     Filter
	epoch time.Time // wall-clock time of CLOCK_MONOTONIC's zero
}

func newStateTracer(f Filter) (*stateTracer, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("tracefs: %w (the tracepoint sock:inet_sock_set_state is for root)", ErrNeedRoot)
	}
	root, err := tracefsRoot()
	if err != nil {
		return nil, err
	}
	removeStaleInstances(root)
	dir, err := makeInstance(root)
	if err != nil {
		return nil, err
	}
	t := &stateTracer{dir: dir, f: f}
	if err := t.setup(); err != nil {
		return nil, errors.Join(err, t.close())
	}
	return t, nil
}

// tracefsRoot finds tracefs, mounting it at /sys/kernel/tracing when no
// one has (we are root here).
func tracefsRoot() (string, error) {
	for _, r := range tracefsRoots {
		if _, err := os.Stat(filepath.Join(r, stateEvent)); err == nil {
			return r, nil
		}
	}
	root := tracefsRoots[0]
	if err := unix.Mount("nodev", root, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("tracefs: not mounted, and mount -t tracefs nodev %s failed: %w", root, os.NewSyscallError("mount", err))
	}
	if _, err := os.Stat(filepath.Join(root, stateEvent)); err != nil {
		return "", fmt.Errorf("tracefs: the kernel has no tracepoint sock:inet_sock_set_state (%w)", ErrUnsupported)
	}
	return root, nil
}

// makeInstance creates a fresh instance directory. The sequence number
// lets one process hold several (tests do).
func makeInstance(root string) (string, error) {
	for i := range 1000 {
		dir := filepath.Join(root, "instances", fmt.Sprintf("sockit-%d-%d", os.Getpid(), i))
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("tracefs: create instance: %w", err)
		}
	}
	return "", errors.New("tracefs: no free instance name")
}

// removeStaleInstances removes the instances left by sockit processes that
// are gone: one that was killed (SIGKILL, a third Ctrl-C, a closed
// terminal) could not remove its own. It is best effort and leaves alone
// an instance whose process lives, and one that is in use (rmdir says
// EBUSY while a reader holds its trace_pipe).
func removeStaleInstances(root string) {
	ents, err := os.ReadDir(filepath.Join(root, "instances"))
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := instancePID(e.Name())
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		dir := filepath.Join(root, "instances", e.Name())
		os.WriteFile(filepath.Join(dir, stateEvent, "enable"), []byte("0"), 0)
		unix.Rmdir(dir)
	}
}

// instancePID reads the PID out of an instance name sockit-PID-N.
func instancePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "sockit-")
	if !ok {
		return 0, false
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	return pid, err == nil && pid > 0
}

// processAlive reports whether pid names a process, per kill(2) with
// signal 0: EPERM means it exists but is not ours to signal.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func (t *stateTracer) setup() error {
	// mono makes the timestamps CLOCK_MONOTONIC, which we can turn into
	// wall-clock time; buffer_percent 0 wakes a poll on the first event
	// instead of when the buffer is half full (kernels before 5.0 have no
	// buffer_percent and wake on the first event anyway).
	steps := []struct {
		file, value string
		optional    bool
	}{
		{file: "trace_clock", value: "mono"},
		{file: "buffer_size_kb", value: "256"},
		{file: "buffer_percent", value: "0", optional: true},
		{file: stateEvent + "/filter", value: t.kernelFilter()},
		{file: stateEvent + "/enable", value: "1"},
	}
	for _, s := range steps {
		err := os.WriteFile(filepath.Join(t.dir, s.file), []byte(s.value), 0)
		if err != nil && !(s.optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("tracefs: %w", err)
		}
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return os.NewSyscallError("clock_gettime", err)
	}
	t.epoch = time.Now().Add(-time.Duration(ts.Nano()))
	// Opened read-only and non-blocking, trace_pipe is pollable, so the
	// runtime's poller serves reads and Close interrupts one.
	pipe, err := os.OpenFile(filepath.Join(t.dir, "trace_pipe"), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("tracefs: %w", err)
	}
	t.pipe = pipe
	return nil
}

// kernelFilter keeps TCP (the tracepoint also reports SCTP and MPTCP) and,
// with a port, the sockets on that port, so that a busy machine's other
// connections never reach us.
func (t *stateTracer) kernelFilter() string {
	f := "protocol == " + strconv.Itoa(unix.IPPROTO_TCP)
	if t.f.Port != 0 {
		p := strconv.Itoa(int(t.f.Port))
		f += " && (sport == " + p + " || dport == " + p + ")"
	}
	return f
}

func (t *stateTracer) run(ctx context.Context, fn func(Transition)) error {
	// Once ctx ends, the deadline stays in the past: the loop below must
	// not move it forward again, or a read could outlive ctx.
	var mu sync.Mutex
	ended := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		t.pipe.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	setDeadline := func(d time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.pipe.SetReadDeadline(d)
		}
	}
	r := bufio.NewReader(t.pipe)
	var partial string
	timeWaits := map[Key]Transition{}
	lastCheck := time.Now()
	for {
		setDeadline(time.Now().Add(timeWaitCheck))
		line, err := r.ReadString('\n')
		switch {
		case ctx.Err() != nil || errors.Is(err, os.ErrClosed):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF):
			partial += line
		case err != nil:
			return fmt.Errorf("tracefs: read trace_pipe: %w", err)
		default:
			line, partial = partial+line, ""
			tr, ok := parseTraceLine(line, t.epoch)
			if !ok || !t.f.Match(Socket{State: tr.To, Local: tr.Local, Remote: tr.Remote}) {
				break
			}
			tr = resolveTimeWait(tr)
			if tr.To == TimeWait {
				timeWaits[tr.Key()] = tr
			}
			fn(tr)
		}
		// Checked by the clock, not only when the pipe is idle, so that a
		// busy port still sees its TIME_WAITs end.
		if time.Since(lastCheck) >= timeWaitCheck {
			lastCheck = time.Now()
			endTimeWaits(timeWaits, fn)
		}
	}
}

// timeWaitCheck is how often the tracer asks sock_diag whether the
// TIME_WAIT sockets it saw begin are gone: the tracepoint does not fire
// when a TIME_WAIT mini-socket expires (or is ended early by an RST or a
// new SYN for the same ends).
const timeWaitCheck = time.Second

// endTimeWaits reports TIME_WAIT → CLOSED for each of tws that sock_diag
// no longer shows, with one dump of the TIME_WAIT sockets rather than a
// lookup each: a busy port has thousands.
func endTimeWaits(tws map[Key]Transition, fn func(Transition)) {
	if len(tws) == 0 {
		return
	}
	socks, err := snapshotStates(1 << TimeWait)
	if err != nil {
		return // asked again at the next check
	}
	alive := make(map[Key]bool, len(socks))
	for _, s := range socks {
		alive[s.Key()] = true
	}
	now := time.Now()
	var ended []Transition
	for k, tr := range tws {
		if !alive[k] {
			delete(tws, k)
			ended = append(ended, Transition{Time: now, Local: tr.Local, Remote: tr.Remote, From: TimeWait, To: Closed, Polled: true})
		}
	}
	sortTransitions(ended)
	for _, tr := range ended {
		fn(tr)
	}
}

// resolveTimeWait turns FIN_WAIT_2 (or CLOSING, or FIN_WAIT_1) → CLOSED into
// → TIME_WAIT when sock_diag shows the connection's TIME_WAIT mini-socket.
func resolveTimeWait(tr Transition) Transition {
	if tr.To != Closed || (tr.From != FinWait1 && tr.From != FinWait2 && tr.From != Closing) {
		return tr
	}
	if s, found, err := Lookup(tr.Local, tr.Remote); err == nil && found && s.State == TimeWait {
		tr.To = TimeWait
	}
	return tr
}

func (t *stateTracer) close() error {
	var errs []error
	if t.pipe != nil {
		errs = append(errs, t.pipe.Close())
	}
	// Disable before removing: rmdir refuses an instance with live events
	// on some kernels.
	os.WriteFile(filepath.Join(t.dir, stateEvent, "enable"), []byte("0"), 0)
	if err := removeInstance(t.dir); err != nil {
		errs = append(errs, fmt.Errorf("tracefs: remove instance %s: %w", t.dir, err))
	}
	return errors.Join(errs...)
}

// removeInstance retries EBUSY for a moment: the kernel lets go of the
// instance's ring buffer shortly after the last reader closes it.
func removeInstance(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return os.NewSyscallError("rmdir", err)
		}
		time.Sleep(backoff) // polling the kernel's release with a deadline
	}
}

// parseTraceLine decodes one trace_pipe line of inet_sock_set_state:
//
//	<idle>-0 [001] ..s2. 1234.567890: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=7007 dport=41234 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV
func parseTraceLine(line string, epoch time.Time) (Transition, bool) {
	head, body, ok := strings.Cut(line, " inet_sock_set_state: ")
	if !ok {
		return Transition{}, false
	}
	head = strings.TrimSuffix(strings.TrimSpace(head), ":")
	ts := head[strings.LastIndexByte(head, ' ')+1:]
	secs, err := strconv.ParseFloat(ts, 64)
	if err != nil {
		return Transition{}, false
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(body) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return fieldsTransition(kv, epoch.Add(time.Duration(secs*1e9)))
}

func fieldsTransition(kv map[string]string, at time.Time) (Transition, bool) {
	from, ok1 := ParseState(kv["oldstate"])
	to, ok2 := ParseState(kv["newstate"])
	sport, err1 := strconv.ParseUint(kv["sport"], 10, 16)
	dport, err2 := strconv.ParseUint(kv["dport"], 10, 16)
	sa, sk := "saddr", "daddr"
	if kv["family"] == "AF_INET6" {
		sa, sk = "saddrv6", "daddrv6"
	}
	src, err3 := netip.ParseAddr(kv[sa])
	dst, err4 := netip.ParseAddr(kv[sk])
	if !ok1 || !ok2 || errors.Join(err1, err2, err3, err4) != nil {
		return Transition{}, false
	}
	return Transition{
		Time:   at,
		Local:  netip.AddrPortFrom(src, uint16(sport)),
		Remote: netip.AddrPortFrom(dst, uint16(dport)),
		From:   from.normal(), To: to.normal(),
	}, true
}
