package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/version"
)

// A run over several processes: the parent starts n workers (the same
// program, told to serve as a worker), gives each its share of the
// connections and the rate as JSON on standard input, and reads back NDJSON
// on standard output: progress lines, then one result with the raw
// histograms, which it merges. One process holds at most its descriptor
// limit of connections; workers multiply that.

// workerLine is one line a worker writes.
type workerLine struct {
	Progress *Progress              `json:"progress,omitempty"`
	Result   *Result                `json:"result,omitempty"`
	Latency  *hdrhistogram.Snapshot `json:"latency_hist,omitempty"`
	Connect  *hdrhistogram.Snapshot `json:"connect_hist,omitempty"`
	Error    string                 `json:"error,omitempty"`
}

// ServeWorker runs one worker's share: Options as JSON from in, NDJSON to
// out.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	var o Options
	if err := json.NewDecoder(in).Decode(&o); err != nil {
		return fmt.Errorf("worker: reading options: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(l workerLine) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(l)
	}
	o.Progress = func(p Progress) { emit(workerLine{Progress: &p}) }
	res, err := Run(ctx, o)
	if err != nil {
		emit(workerLine{Error: err.Error()})
		return err
	}
	emit(workerLine{Result: res, Latency: res.lat.Export(), Connect: res.conn.Export()})
	return nil
}

// RunWorkers runs o over n worker processes; command makes one (its
// standard input and output are the worker's channel; its standard error is
// left to the caller).
func RunWorkers(ctx context.Context, o Options, n int, command func(i int) *exec.Cmd) (*Result, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if n < 1 || n > opts.Conns {
		return nil, &sockit.OptionError{Owner: "bench.RunWorkers", Fields: []string{"n"}, Reason: fmt.Sprintf("must be 1 … the connections (%d)", opts.Conns)}
	}
	// The parent samples the server's memory before any worker connects.
	var base usage
	if opts.ServerPID > 0 {
		base.srvRSS, base.srvOK = processRSS(opts.ServerPID)
	}
	ws := make([]*worker, n)
	for i := range ws {
		share := opts
		share.Progress = nil
		share.Conns = opts.Conns / n
		if i < opts.Conns%n {
			share.Conns++
		}
		share.FirstID = opts.FirstID + i*(opts.Conns/n) + min(i, opts.Conns%n)
		share.Rate = opts.Rate * float64(share.Conns) / float64(opts.Conns)
		share.ConnectRate = opts.ConnectRate / float64(n)
		if i != 0 {
			share.ServerPID = 0 // the first worker samples the server
		}
		w, err := startWorker(command(i), &share)
		if err != nil {
			for _, w := range ws[:i] {
				w.kill()
			}
			return nil, err
		}
		ws[i] = w
	}
	if opts.Progress != nil {
		// The last report returns before RunWorkers does, so that the
		// caller's progress line is not drawn over the result.
		stop, reported := make(chan struct{}), make(chan struct{})
		defer func() { close(stop); <-reported }()
		go func() { defer close(reported); reportWorkers(ws, opts.Progress, stop) }()
	}
	// An interrupt reaches the workers too (a terminal's Ctrl-C signals
	// the whole process group already, but a cancelled ctx or a signal to
	// this process alone does not): each ends its window early and still
	// reports.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			for _, w := range ws {
				w.interrupt()
			}
		case <-stopped:
		}
	}()
	var res []*workerLine
	var errs []error
	for i, w := range ws {
		l, err := w.wait()
		if err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
			continue
		}
		res = append(res, l)
	}
	if len(errs) > 0 {
		if ctx.Err() != nil { // a worker the interrupt caught before it could catch it
			errs = append([]error{ctx.Err()}, errs...)
		}
		return nil, errors.Join(errs...)
	}
	merged := mergeResults(res, &opts)
	merged.Procs = n
	if merged.Server != nil && base.srvOK && merged.ConnsUp > 0 {
		merged.Server.RSSPerConn = float64(merged.Server.RSS-base.srvRSS) / float64(merged.ConnsUp)
	}
	return merged, nil
}

type worker struct {
	cmd  *exec.Cmd
	out  *bufio.Scanner
	mu   sync.Mutex
	last Progress
	done chan struct{}
	res  *workerLine
	err  error
}

func startWorker(cmd *exec.Cmd, o *Options) (*worker, error) {
	in, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = strings.NewReader(string(in))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	w := &worker{cmd: cmd, out: bufio.NewScanner(stdout), done: make(chan struct{})}
	w.out.Buffer(make([]byte, 64<<10), 64<<20)
	go w.read()
	return w, nil
}

// read takes the worker's lines until it ends.
func (w *worker) read() {
	defer close(w.done)
	for w.out.Scan() {
		var l workerLine
		if err := json.Unmarshal(w.out.Bytes(), &l); err != nil {
			w.err = fmt.Errorf("unreadable line from worker: %w", err)
			continue
		}
		switch {
		case l.Progress != nil:
			w.mu.Lock()
			w.last = *l.Progress
			w.mu.Unlock()
		case l.Error != "":
			w.err = errors.New(l.Error)
		case l.Result != nil:
			w.res = &l
		}
	}
}

func (w *worker) wait() (*workerLine, error) {
	<-w.done
	err := w.cmd.Wait()
	switch {
	case w.err != nil:
		return nil, w.err
	case err != nil:
		return nil, err
	case w.res == nil:
		return nil, errors.New("ended without a result")
	}
	return w.res, nil
}

// interrupt asks the worker to end its run early, as Ctrl-C would; where
// there is no interrupt signal (Windows) it kills the worker.
func (w *worker) interrupt() {
	if w.cmd.Process.Signal(os.Interrupt) != nil {
		w.cmd.Process.Kill()
	}
}

func (w *worker) kill() {
	w.cmd.Process.Kill()
	w.wait()
}

// reportWorkers sums the workers' latest progress once a second.
func reportWorkers(ws []*worker, report func(Progress), stop chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var sum Progress
		for _, w := range ws {
			w.mu.Lock()
			p := w.last
			w.mu.Unlock()
			sum.Elapsed = max(sum.Elapsed, p.Elapsed)
			sum.Phase = p.Phase
			sum.ConnsUp += p.ConnsUp
			sum.MsgsPerSec += p.MsgsPerSec
			sum.BytesPerSec += p.BytesPerSec
			sum.Mode = p.Mode
			sum.P99 = max(sum.P99, p.P99)
			sum.Errors += p.Errors
		}
		report(sum)
	}
}

// mergeResults adds up the workers' results.
func mergeResults(ls []*workerLine, o *Options) *Result {
	m := &Result{Sockit: version.Get()}
	lat, conn := newHist(), newHist()
	errs := map[string]*ErrorCount{}
	var server *Usage
	for i, l := range ls {
		r := l.Result
		if i == 0 {
			*m = *r
			m.Errors, m.Series, m.Warnings, m.Server = []ErrorCount{}, nil, nil, nil
			m.Bench = Usage{}
			m.ConnsUp, m.MaxConnsUp, m.Messages, m.MsgsPerSec, m.BytesPerSec, m.Unsent = 0, 0, 0, 0, 0, 0
			m.TotalSentMsgs, m.TotalSentBytes, m.TotalRecvBytes, m.TotalDoneMsgs = 0, 0, 0, 0
			m.Check = Verification{}
			m.Conns, m.Rate = o.Conns, o.Rate
		}
		m.ConnsUp += r.ConnsUp
		m.MaxConnsUp += r.MaxConnsUp
		m.Messages += r.Messages
		m.MsgsPerSec += r.MsgsPerSec
		m.BytesPerSec += r.BytesPerSec
		m.Unsent += r.Unsent
		m.TotalSentMsgs += r.TotalSentMsgs
		m.TotalSentBytes += r.TotalSentBytes
		m.TotalRecvBytes += r.TotalRecvBytes
		m.TotalDoneMsgs += r.TotalDoneMsgs
		m.Window = max(m.Window, r.Window)
		m.MachineBusy = max(m.MachineBusy, r.MachineBusy)
		m.FDLimit = r.FDLimit
		mergeCheck(&m.Check, &r.Check)
		for _, e := range r.Errors {
			if x := errs[e.Kind]; x != nil {
				x.Count += e.Count
			} else {
				c := e
				errs[e.Kind] = &c
			}
		}
		m.Bench.CPU += r.Bench.CPU
		m.Bench.Cores += r.Bench.Cores
		m.Bench.RSS += r.Bench.RSS
		m.Bench.RSSPerConn += r.Bench.RSSPerConn * float64(r.ConnsUp)
		if r.Server != nil {
			s := *r.Server
			server = &s
		}
		lat.Merge(hdrhistogram.Import(l.Latency))
		conn.Merge(hdrhistogram.Import(l.Connect))
		for _, s := range r.Series {
			for len(m.Series) <= s.T {
				m.Series = append(m.Series, Second{T: len(m.Series), Phase: s.Phase, Partial: s.Partial, Covered: s.Covered})
			}
			m.Series[s.T].add(s)
		}
	}
	if m.ConnsUp > 0 {
		m.Bench.RSSPerConn /= float64(m.ConnsUp)
	}
	if m.Messages > 0 {
		m.Bench.CPUPerMsg = Duration(int64(m.Bench.CPU) / int64(m.Messages))
		if server != nil {
			server.CPUPerMsg = Duration(int64(server.CPU) / int64(m.Messages))
		}
	}
	m.Server = server
	for _, e := range errs {
		m.Errors = append(m.Errors, *e)
	}
	sortErrors(m.Errors)
	m.lat, m.conn = lat, conn
	series := m.Series
	m.finish(nil, 0, 0, 0, 0)
	m.Series = series
	m.Meta = newMeta(o, m.Meta.StartTime)
	m.Intervals = nil
	return m
}

func mergeCheck(m, c *Verification) {
	m.CheckedBytes += c.CheckedBytes
	m.MismatchedMsgs += c.MismatchedMsgs
	m.ShortConns += c.ShortConns
	m.ShortMsgs += c.ShortMsgs
	m.MissingBytes += c.MissingBytes
	m.ExtraBytes += c.ExtraBytes
	m.LostDatagrams += c.LostDatagrams
	if m.FirstMismatch == nil {
		m.FirstMismatch = c.FirstMismatch
	}
	if m.FirstShort == nil {
		m.FirstShort = c.FirstShort
	}
	if m.FirstExtra == nil {
		m.FirstExtra = c.FirstExtra
	}
}
