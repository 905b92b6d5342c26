//go:build linux

package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sockit/sockit/internal/procstat"
)

//go:embed cecho.c
var cechoSource []byte

//go:embed cecho_uring.c
var cechoUringSource []byte

// caseDef is one benchmark case.
type caseDef struct {
	id, title string
	conns     int
	size      int
	window    int
	rate      float64 // offered msgs/s, 0 = closed loop
	closed    bool
	idle      bool
	churn     bool // each connection echoes one message and closes; conns at a time
	loaders   int  // load generator processes (idle: the descriptor limit)
	http      bool // GET /plaintext on keep-alive connections, against the HTTP servers
}

func cases(quick bool) []caseDef {
	idleConns := 19000
	if quick {
		idleConns = 2000
	}
	return append([]caseDef{
		{id: "a", title: "64 B, 40 000 msg/s offered, 100 conns × 1 in flight", conns: 100, size: 64, window: 1, rate: 40000, loaders: 1},
		{id: "b", title: "64 B, 40 000 msg/s offered, 1000 conns × 4 in flight", conns: 1000, size: 64, window: 4, rate: 40000, loaders: 1},
		{id: "c", title: "16 KiB, closed loop, 10 conns × 1 in flight", conns: 10, size: 16 << 10, window: 1, closed: true, loaders: 1},
		{id: "d", title: fmt.Sprintf("idle: %d conns, one 64 B echo each, then held", idleConns), conns: idleConns, size: 64, window: 1, idle: true, loaders: 2},
		{id: "e", title: "churn: 64 conns at a time, each connects, echoes one 64 B message and closes (reset), closed loop", conns: 64, size: 64, window: 1, churn: true, loaders: 1},
		{id: "f", title: "64 B, closed loop, 100 conns × 1 in flight", conns: 100, size: 64, window: 1, closed: true, loaders: 1},
	}, httpCases()...)
}

// env is what the harness found and built.
type env struct {
	tmp     string
	root    string
	self    string
	taskset string
	servers map[string]serverDef
	srcNext int // next source address 127.0.0.x to hand out

	quietLeft time.Duration // what remains of the time we may wait for a quiet machine
	nice      int           // niceness of servers and load generators
}

func harness(o *options) error {
	if o.rounds <= 0 {
		o.rounds = 3
		if o.quick {
			o.rounds = 1
		}
	}
	nofile, err := procstat.RaiseNoFile()
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	e := &env{nice: o.nice}
	if e.root, err = moduleRoot(); err != nil {
		return err
	}
	if o.out == "" && !o.quick {
		o.out = filepath.Join(e.root, "bench", "results.md")
	}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	if e.taskset, err = exec.LookPath("taskset"); err != nil {
		fmt.Fprintln(os.Stderr, "harness: taskset not found: servers and load generator run unpinned")
		e.taskset = ""
	}
	var defs []caseDef
	for _, c := range cases(o.quick) {
		if strings.Contains(","+o.cases+",", ","+c.id+",") {
			defs = append(defs, c)
		}
	}
	order, httpOrder, err := selectServers(o, defs)
	if err != nil {
		return err
	}
	if e.tmp, err = os.MkdirTemp("", "sockit-bench-"); err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "harness: keeping", e.tmp)
	} else {
		defer os.RemoveAll(e.tmp)
	}
	skips, err := e.build(append(slices.Clone(order), httpOrder...))
	if err != nil {
		return err
	}
	skipped := func(s string) bool {
		return slices.ContainsFunc(skips, func(k skip) bool { return k.Server == s })
	}
	order = slices.DeleteFunc(order, skipped)
	httpOrder = slices.DeleteFunc(httpOrder, skipped)
	order, notStarted := e.startable(order)
	httpOrder, notStartedHTTP := e.startable(httpOrder)
	skips = append(append(skips, notStarted...), notStartedHTTP...)
	for _, k := range skips {
		fmt.Fprintf(os.Stderr, "harness: skipping %s: %s\n", k.Server, k.Why)
	}
	if len(order)+len(httpOrder) == 0 {
		return errors.New("no server could run (see above)")
	}
	width := 0
	for _, s := range slices.Concat(order, httpOrder) {
		width = max(width, len(s))
	}
	if o.perf != "" {
		if err := os.MkdirAll(o.perf, 0o755); err != nil {
			return err
		}
	}

	m := readMachine()
	m.NoFile = nofile
	m.Commit = commit(e.root)
	e.quietLeft = o.quietBudget
	rep := &report{machine: m, command: commandLine(o.args), started: time.Now(), rounds: o.rounds, order: order, httpOrder: httpOrder, skipped: skips, quick: o.quick, spin: o.spin, nice: o.nice}
	for _, s := range append(slices.Clone(order), httpOrder...) {
		rep.servers = append(rep.servers, e.servers[s])
	}
	rep.loadBefore = loadavg()
	for _, c := range defs {
		rep.cases = append(rep.cases, c)
		turns := order
		if c.http {
			turns = httpOrder
		}
		for r := 1; r <= o.rounds; r++ {
			for _, s := range turns {
				fmt.Fprintf(os.Stderr, "case %s round %d/%d: %-*s … ", c.id, r, o.rounds, width, s)
				res := e.runOne(o, c, e.servers[s], r)
				fmt.Fprintln(os.Stderr, res.brief())
				rep.runs = append(rep.runs, res)
			}
		}
	}
	rep.loadAfter = loadavg()
	rep.took = time.Since(rep.started)
	md := rep.markdown()
	fmt.Print(md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "harness: wrote", o.out)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep.runs, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	for _, r := range rep.runs {
		if r.Err != "" {
			return errors.New("some runs failed (see the table)")
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the harness inside the sockit module: go run ./bench/harness")
	}
	return filepath.Dir(gomod), nil
}

// pinned runs argv on one CPU with GOMAXPROCS=procs (1 if 0), at niceness
// e.nice. taskset and nice exec the program: it keeps their process id.
func (e *env) pinned(cpu, procs int, argv []string) *exec.Cmd {
	if e.taskset != "" {
		argv = append([]string{e.taskset, "-c", fmt.Sprint(cpu)}, argv...)
	}
	if e.nice != 0 {
		argv = append([]string{"nice", "-n", fmt.Sprint(e.nice)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", max(procs, 1)))
	return cmd
}

// source hands out a fresh source address for a load generator, so that
// no run meets the ports of an earlier one.
func (e *env) source() string {
	e.srcNext++
	return fmt.Sprintf("127.0.0.%d", 2+(e.srcNext-1)%250)
}

// server is a running server under test.
type server struct {
	cmd    *exec.Cmd
	pid    int
	addr   string
	stderr *bytes.Buffer
	exited chan struct{}
}

func (e *env) startServer(d serverDef) (*server, error) {
	s := &server{stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	s.cmd = e.pinned(0, d.procs, d.argv)
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid // taskset execs the server: same process
	type said struct {
		addr string
		err  error
	}
	addrc := make(chan said, 1)
	go func() {
		var banner []string // what it said before listening
		engine, send := "", addrc
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if send == nil {
				continue
			}
			if en := engineOf(line); en != "" {
				engine = en
			}
			// "listening on tcp://ADDR" (echo), "listening on http://ADDR/" (HTTP)
			_, a, ok := strings.Cut(line, "listening on ")
			if ok {
				_, a, ok = strings.Cut(strings.Fields(a + " ")[0], "://")
				a = strings.TrimSuffix(a, "/")
			}
			if !ok {
				banner = append(banner, strings.TrimSpace(line))
				continue
			}
			var err error
			if d.engine != "" && engine != d.engine {
				err = fmt.Errorf("%s runs on the %q engine, not %q: %s", d.name, engine, d.engine, strings.Join(banner, " "))
			}
			send <- said{strings.TrimSpace(a), err}
			send = nil
		}
		io.Copy(io.Discard, out)
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case got := <-addrc:
		if got.err != nil {
			s.stop()
			return nil, got.err
		}
		s.addr = got.addr
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening: %s", d.name, strings.TrimSpace(s.stderr.String()))
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not say where it listens within 10s", d.name)
	}
}

// stop ends the server: SIGTERM, then SIGKILL after 5 s.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// loader is a running load generator process.
type loader struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *bytes.Buffer
}

func (e *env) startLoader(spec LoadSpec) (*loader, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	l := &loader{stderr: &bytes.Buffer{}}
	l.cmd = e.pinned(1, 1, []string{e.self, "-loadgen", string(b)})
	l.cmd.Stderr = l.stderr
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if l.stdout, err = l.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	return l, l.cmd.Start()
}

// result waits for the loader's result, for at most timeout.
func (l *loader) result(timeout time.Duration, onWindow func()) (*LoadResult, error) {
	type out struct {
		r   *LoadResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		r, err := loaderLines(l.stdout, onWindow)
		ch <- out{r, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil && l.stderr.Len() > 0 {
			o.err = fmt.Errorf("%w: %s", o.err, strings.TrimSpace(l.stderr.String()))
		}
		return o.r, o.err
	case <-time.After(timeout):
		l.cmd.Process.Kill()
		return nil, fmt.Errorf("load generator gave no result within %s", timeout)
	}
}

// end closes the loader's stdin (an idle loader then closes its
// connections) and waits for it to exit, killing it after 10 s.
func (l *loader) end() {
	l.stdin.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, l.stdout)
		l.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		l.cmd.Process.Kill()
		<-done
	}
}

// runResult is one round of one case on one server.
type runResult struct {
	Case, Server string
	Round        int
	Err          string `json:",omitempty"`
	Load         *LoadResult
	Loads        []*LoadResult `json:",omitempty"` // idle: one per loader

	// timed cases; churn cases (one message per connection): per connection
	CPUPerMsg   float64 // µs, utime+stime
	SchedPerMsg float64 // µs, schedstat
	MsgsPerSec  float64 // churn: connections completed per second
	MBPerSec    float64
	P50, P99    float64 // µs
	P999, Max   float64 // µs
	RSS         float64 // MiB at the window's end
	LoaderCPU   float64 // % of CPU 1
	LoaderBusy  float64 // % of the window the generator spent working
	Core0Other  float64 // % of CPU 0 busy outside the server

	// idle case
	Conns        int
	RSSBefore    float64 // MiB
	RSSIdle      float64 // MiB
	KiBPerConn   float64
	IdleEchoed   uint64
	ConnectTotal time.Duration

	Problems   string  `json:",omitempty"` // failed checks
	BusyBefore float64 // CPUs busy on the machine just before the run (other processes)
}

func (r *runResult) brief() string {
	switch {
	case r.Err != "":
		return "FAILED: " + r.Err
	case r.Conns > 0:
		return fmt.Sprintf("%d conns, RSS %.1f → %.1f MiB, %.3f KiB/conn %s", r.Conns, r.RSSBefore, r.RSSIdle, r.KiBPerConn, r.Problems)
	case r.Load != nil && r.Load.Opened > 0:
		return fmt.Sprintf("%.2f µs/conn, %.0f conns/s, p50 %.0f µs, p99 %.0f µs, loader busy %.0f%%, CPU 0 other %.0f%%, busy before %.2f %s",
			r.CPUPerMsg, r.MsgsPerSec, r.P50, r.P99, r.LoaderBusy, r.Core0Other, r.BusyBefore, r.Problems)
	}
	return fmt.Sprintf("%.2f µs/msg, %.0f msg/s, p50 %.0f µs, p99 %.0f µs, loader busy %.0f%%, CPU 0 other %.0f%%, busy before %.2f %s",
		r.CPUPerMsg, r.MsgsPerSec, r.P50, r.P99, r.LoaderBusy, r.Core0Other, r.BusyBefore, r.Problems)
}

// waitQuiet waits, within the per-run and the total budget, until the
// other processes on the machine use less than a quarter of a CPU. It
// returns the last load it saw, in CPUs.
func (e *env) waitQuiet(perRun time.Duration) float64 {
	const probe, quiet = 500 * time.Millisecond, 0.25
	start := time.Now()
	for {
		busy := busyCPUs(probe)
		if busy < quiet || time.Since(start) >= perRun || e.quietLeft <= 0 {
			return busy
		}
		e.quietLeft -= probe
	}
}

func (e *env) runOne(o *options, c caseDef, d serverDef, round int) *runResult {
	r := &runResult{Case: c.id, Server: d.name, Round: round}
	if o.quietWait > 0 {
		r.BusyBefore = e.waitQuiet(o.quietWait)
	}
	var err error
	if c.idle {
		err = e.runIdle(o, c, d, r)
	} else {
		err = e.runTimed(o, c, d, r)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func (e *env) runTimed(o *options, c caseDef, d serverDef, r *runResult) error {
	srv, err := e.startServer(d)
	if err != nil {
		return err
	}
	defer srv.stop()
	t := o.timing(c)
	spec := LoadSpec{
		Addr: srv.addr, Source: e.source(), Conns: c.conns, Size: c.size, Window: c.window, Rate: c.rate,
		Warmup: t.warmup, Duration: t.window, Drain: t.drain, ServerPID: srv.pid, Spin: o.spin, Churn: c.churn,
	}
	if c.http {
		spec.HTTP, spec.HTTPBody = "/plaintext", "Hello, World!"
	}
	l, err := e.startLoader(spec)
	if err != nil {
		return err
	}
	defer l.end()
	var perfDone chan error
	onWindow := func() {
		if o.perf != "" {
			perfDone = make(chan error, 1)
			name := filepath.Join(o.perf, fmt.Sprintf("%s-%s-r%d", c.id, d.name, r.Round))
			go func() { perfDone <- perfRecord(srv.pid, name, t.window) }()
		}
	}
	res, err := l.result(t.warmup+t.window+t.drain+2*time.Minute, onWindow)
	if perfDone != nil {
		if perr := <-perfDone; perr != nil {
			fmt.Fprintln(os.Stderr, "harness: perf:", perr)
		}
	}
	if err != nil {
		return err
	}
	r.Load = res
	secs := res.Window.Seconds()
	if res.WindowMsgs > 0 {
		r.CPUPerMsg = float64(res.ServerCPU.Microseconds()) / float64(res.WindowMsgs)
		r.SchedPerMsg = float64(res.ServerSched.Nanoseconds()) / 1e3 / float64(res.WindowMsgs)
	}
	if secs > 0 {
		r.MsgsPerSec = float64(res.WindowMsgs) / secs
		r.MBPerSec = float64(res.WindowBytes) / secs / 1e6
		r.LoaderCPU = 100 * res.LoaderCPU.Seconds() / secs
		r.LoaderBusy = 100 * res.LoaderBusy.Seconds() / secs
		r.Core0Other = 100 * (res.Core0Busy - res.ServerCPU).Seconds() / secs
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	r.P50, r.P99, r.P999, r.Max = us(res.Latency.P50), us(res.Latency.P99), us(res.Latency.P999), us(res.Latency.Max)
	r.RSS = float64(res.ServerRSS) / (1 << 20)
	r.Problems = problems(res, 0)
	return nil
}

// problems lists what a run's checks found wrong; want is the number of
// messages an idle run must have echoed.
func problems(res *LoadResult, want uint64) string {
	var p []string
	add := func(n uint64, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(res.Mismatched, "mismatched")
	add(res.Extra, "extra bytes")
	add(res.Lost, "lost")
	add(res.Unsent, "unsent")
	add(res.ConnErrors, "conn errors")
	if want > 0 && res.Echoed < want {
		add(want-res.Echoed, "not echoed")
	}
	if res.FirstError != "" {
		p = append(p, res.FirstError)
	}
	return strings.Join(p, "; ")
}

func (e *env) runIdle(o *options, c caseDef, d serverDef, r *runResult) error {
	srv, err := e.startServer(d)
	if err != nil {
		return err
	}
	defer srv.stop()
	before, err := stableRSS(srv.pid)
	if err != nil {
		return err
	}
	var ls []*loader
	defer func() {
		for _, l := range ls {
			l.end()
		}
	}()
	per := c.conns / c.loaders
	for i := 0; i < c.loaders; i++ {
		n := per
		if i == c.loaders-1 {
			n = c.conns - per*(c.loaders-1)
		}
		spec := LoadSpec{Addr: srv.addr, Source: e.source(), Conns: n, FirstID: i * per, Size: c.size, Window: 1, Idle: true}
		l, err := e.startLoader(spec)
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	var probs []string
	for _, l := range ls {
		res, err := l.result(3*time.Minute, nil)
		if err != nil {
			return err
		}
		r.Loads = append(r.Loads, res)
		r.Conns += res.Conns
		r.IdleEchoed += res.Echoed
		r.ConnectTotal = max(r.ConnectTotal, res.ConnectTime)
		if p := problems(res, uint64(res.Conns)); p != "" {
			probs = append(probs, p)
		}
	}
	time.Sleep(2 * time.Second) // held idle
	idle, err := procstat.RSS(srv.pid)
	if err != nil {
		return err
	}
	r.RSSBefore = float64(before) / (1 << 20)
	r.RSSIdle = float64(idle) / (1 << 20)
	if r.Conns > 0 {
		r.KiBPerConn = float64(idle-before) / 1024 / float64(r.Conns)
	}
	r.Problems = strings.Join(probs, "; ")
	return nil
}

// perfRecord samples pid's stacks for d with perf(1) and writes a text
// report beside the data file.
func perfRecord(pid int, name string, d time.Duration) error {
	data := name + ".data"
	rec := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", fmt.Sprint(pid), "-o", data, "--", "sleep", fmt.Sprintf("%.3f", d.Seconds()))
	if out, err := rec.CombinedOutput(); err != nil {
		return fmt.Errorf("perf record: %v: %s", err, out)
	}
	rep := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.5", "-g", "none")
	out, err := rep.Output()
	if err != nil {
		return fmt.Errorf("perf report: %v", err)
	}
	return os.WriteFile(name+".txt", out, 0o644)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func commandLine(args []string) string {
	return strings.TrimSpace("go run ./bench/harness " + strings.Join(args, " "))
}

// stableRSS reads a fresh server's RSS once it has stopped changing (two
// reads 50 ms apart agree), for at most 2 s: the baseline of the idle case.
func stableRSS(pid int) (int64, error) {
	prev, err := procstat.RSS(pid)
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // sampling interval of the polled condition
		cur, err := procstat.RSS(pid)
		if err != nil {
			return 0, err
		}
		if cur == prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}
