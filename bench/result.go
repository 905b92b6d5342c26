package bench

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sockit/sockit/internal/version"
)

// Result is what a run measured. Counts named Total cover the whole run
// (connect, warm-up, window, drain) and are what the server saw; rates and
// latencies cover the measured window only.
//
// Its JSON form is schema Schema: durations are microseconds and sizes
// bytes, with the unit in each key (p99_us, size_bytes, rss_bytes).
type Result struct {
	// Sockit is the build of the sockit that made the result.
	Sockit   version.Info `json:"sockit"`
	Meta     Meta         `json:"meta"`
	Endpoint string       `json:"endpoint"`
	Mode     Mode         `json:"mode"`
	Conns    int          `json:"conns"`
	Size     int          `json:"size_bytes"`
	Depth    int          `json:"depth"`
	Rate     float64      `json:"rate_msgs_per_sec,omitempty"` // offered messages/s; 0 = closed loop
	Verify   bool         `json:"verify"`
	Procs    int          `json:"procs,omitempty"`
	// SourceSpread: connections came from several source addresses.
	SourceSpread bool   `json:"source_spread,omitempty"`
	FDLimit      uint64 `json:"fd_limit,omitempty"`

	ConnsUp      int64       `json:"conns_up"`     // connections that opened
	MaxConnsUp   int64       `json:"max_conns_up"` // most open at once
	ConnectTime  Percentiles `json:"connect_time"`
	Window       Duration    `json:"window_us"`
	Messages     uint64      `json:"messages"` // completed in the window
	MsgsPerSec   float64     `json:"msgs_per_sec"`
	BytesPerSec  float64     `json:"bytes_per_sec"` // payload bytes/s one way, in the window
	Latency      Percentiles `json:"latency"`       // from when each message was due
	LatencyCurve []Quantile  `json:"latency_curve,omitempty"`
	Unsent       uint64      `json:"unsent"` // messages due in the window but never sent (the server held the pipeline full)

	TotalSentMsgs  uint64 `json:"total_sent_msgs"`
	TotalSentBytes uint64 `json:"total_sent_bytes"`
	TotalRecvBytes uint64 `json:"total_recv_bytes"`
	TotalDoneMsgs  uint64 `json:"total_done_msgs"`

	Check  Verification `json:"verification"`
	Errors []ErrorCount `json:"errors"`

	Bench Usage `json:"bench"`
	// MachineBusy is how busy all the machine's CPUs were over the window
	// (0 … 1), whoever used them.
	MachineBusy float64 `json:"machine_busy"`
	Server      *Usage  `json:"server,omitempty"`
	// Warnings are things the reader must know to trust the figures (the
	// load generator was the bottleneck, data was lost).
	Warnings []string `json:"warnings,omitempty"`
	Series   []Second `json:"series"`
	// Intervals are the run's intervals of Options.Interval, with their
	// latencies (single-process runs; nil over workers).
	Intervals []Interval `json:"intervals,omitempty"`

	lat, conn *hdrhistogram.Histogram
	firstConn error
}

// ConnectError is the first failure to connect, if any connection failed
// (single-process runs; nil after a run over workers).
func (res *Result) ConnectError() error { return res.firstConn }

// Duration is a time.Duration that is a number of microseconds in JSON,
// to the nanosecond (keys that hold one end in _us).
type Duration time.Duration

// MarshalJSON writes microseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(d)/1e3)), nil
}

// UnmarshalJSON reads microseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var f float64
	if _, err := fmt.Sscan(string(b), &f); err != nil {
		return err
	}
	*d = Duration(math.Round(f * 1e3))
	return nil
}

// Percentiles of a histogram, as durations.
type Percentiles struct {
	Count int64    `json:"count"`
	Min   Duration `json:"min_us"`
	P50   Duration `json:"p50_us"`
	P90   Duration `json:"p90_us"`
	P99   Duration `json:"p99_us"`
	P999  Duration `json:"p99_9_us"`
	Max   Duration `json:"max_us"`
	Mean  Duration `json:"mean_us"`
}

// Quantile is one point of the latency distribution curve.
type Quantile struct {
	Percentile float64  `json:"percentile"`
	Value      Duration `json:"value_us"`
}

// Second is one second of the run.
type Second struct {
	T        int    `json:"t_s"` // seconds since the run began
	Msgs     uint64 `json:"msgs"`
	BytesOut uint64 `json:"bytes_out"`
	BytesIn  uint64 `json:"bytes_in"`
	Phase    string `json:"phase"` // "warmup", "measure" or "drain": the phase of most of the second
	// Partial: the run ended within this second (the last), which covered
	// only Covered of it; its counts are not a whole second's.
	Partial bool     `json:"partial,omitempty"`
	Covered Duration `json:"covered_us,omitempty"`
}

func (s *Second) add(o Second) {
	s.Msgs += o.Msgs
	s.BytesOut += o.BytesOut
	s.BytesIn += o.BytesIn
}

// ErrorCount is how often one kind of failure happened.
type ErrorCount struct {
	Kind    string `json:"kind"` // "connect: connection refused", "read: connection reset", …
	Count   uint64 `json:"count"`
	Example string `json:"example"`
}

// Verification is what the byte-for-byte check found.
type Verification struct {
	CheckedBytes   uint64  `json:"checked_bytes"`
	MismatchedMsgs uint64  `json:"mismatched_msgs"`
	FirstMismatch  *Offset `json:"first_mismatch,omitempty"`
	ShortConns     uint64  `json:"short_conns"` // connections that ended before all their bytes came back
	ShortMsgs      uint64  `json:"short_msgs"`
	MissingBytes   uint64  `json:"missing_bytes"`
	FirstShort     *Offset `json:"first_short,omitempty"`
	ExtraBytes     uint64  `json:"extra_bytes"` // bytes beyond what was sent
	FirstExtra     *Offset `json:"first_extra,omitempty"`
	LostDatagrams  uint64  `json:"lost_datagrams,omitempty"`
}

// Offset places a byte: a connection and an offset in its stream.
type Offset struct {
	Conn   int   `json:"conn"`
	Offset int64 `json:"offset"`
	Want   int   `json:"want"` // -1: nothing was expected there
	Got    int   `json:"got"`  // -1: nothing came
}

// Usage is a process's CPU and memory over the run.
type Usage struct {
	CPU        Duration `json:"cpu_us"`             // user+system over the window
	CPUPerMsg  Duration `json:"cpu_per_msg_us"`     // over the window
	Cores      float64  `json:"cores"`              // CPU / window: how many cores it kept busy
	RSS        int64    `json:"rss_bytes"`          // at the end of the window
	RSSPerConn float64  `json:"rss_per_conn_bytes"` // (RSS at the window's end − before connecting) / connections up
}

// usage is one sample of CPU and memory of this process and the server.
type usage struct {
	busy, total time.Duration // all CPUs
	at          int64
	cpu, srvCPU time.Duration
	rss, srvRSS int64
	ok, srvOK   bool
}

func (r *recorder) sample(into *usage) {
	u := usage{at: time.Now().UnixNano()}
	u.busy, u.total, _ = machineCPU()
	var ok1, ok2 bool
	u.cpu, ok1 = processCPU(0)
	u.rss, ok2 = processRSS(0)
	u.ok = ok1 && ok2
	if r.o.ServerPID > 0 {
		u.srvCPU, ok1 = processCPU(r.o.ServerPID)
		u.srvRSS, ok2 = processRSS(r.o.ServerPID)
		u.srvOK = ok1 && ok2
	}
	r.mu.Lock()
	*into = u
	r.mu.Unlock()
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	d := func(v int64) Duration { return Duration(v) }
	return Percentiles{
		Count: h.TotalCount(), Min: d(h.Min()), P50: d(h.ValueAtQuantile(50)), P90: d(h.ValueAtQuantile(90)),
		P99: d(h.ValueAtQuantile(99)), P999: d(h.ValueAtQuantile(99.9)), Max: d(h.Max()), Mean: Duration(h.Mean()),
	}
}

// curve is the latency at percentiles from 0 to 99.999, for the chart.
func curve(h *hdrhistogram.Histogram) []Quantile {
	if h.TotalCount() == 0 {
		return nil
	}
	ps := []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}
	out := make([]Quantile, len(ps))
	for i, p := range ps {
		out[i] = Quantile{Percentile: p, Value: Duration(h.ValueAtQuantile(p))}
	}
	return out
}

// result assembles the Result once the run is over.
func (r *recorder) result() *Result {
	o := r.o
	t := r.totals()
	res := &Result{
		Sockit:   version.Get(),
		Endpoint: o.Endpoint.String(), Mode: o.Mode, Conns: o.Conns, Size: o.Size, Depth: o.Depth, Rate: o.Rate,
		Verify: (o.Mode == ModeEcho || o.Mode == ModeHTTP) && !o.NoVerify, ConnsUp: r.opened.Load(), MaxConnsUp: r.maxUp.Load(),
		Unsent: t.unsent, TotalSentMsgs: t.sentMsgs, TotalSentBytes: t.sentBytes, TotalRecvBytes: t.recvBytes, TotalDoneMsgs: t.doneMsgs,
		Messages: t.winMsgs, Errors: r.errorList(), lat: r.latency(), SourceSpread: o.SourceIPs > 1,
	}
	r.mu.Lock()
	res.conn = r.connectHist
	res.Check = r.check
	res.firstConn = r.firstConn
	base, start, end := r.base, r.start, r.end
	r.mu.Unlock()
	if res.Verify {
		res.Check.CheckedBytes = t.recvBytes - res.Check.ExtraBytes
	}
	ws, we := start.at, end.at
	if ws > 0 && we > ws {
		res.Window = Duration(we - ws)
	}
	if sec := time.Duration(res.Window).Seconds(); sec > 0 {
		res.MsgsPerSec = float64(t.winMsgs) / sec
		res.BytesPerSec = float64(t.winBytes) / sec
	}
	res.Bench, res.Server = usageOf(base, start, end, res)
	if end.total > start.total {
		res.MachineBusy = float64(end.busy-start.busy) / float64(end.total-start.total)
	}
	res.finish(r.series(), r.t0, ws, we, time.Now().UnixNano())
	res.Meta = newMeta(o, time.Unix(0, r.t0))
	res.Intervals = r.intervalList()
	return res
}

// usageOf turns the samples into figures for both processes.
func usageOf(base, start, end usage, res *Result) (Usage, *Usage) {
	fig := func(cpu0, cpu1 time.Duration, rss0, rss1 int64) Usage {
		u := Usage{CPU: Duration(cpu1 - cpu0), RSS: rss1}
		if res.Messages > 0 {
			u.CPUPerMsg = Duration(int64(cpu1-cpu0) / int64(res.Messages))
		}
		if w := time.Duration(res.Window).Seconds(); w > 0 {
			u.Cores = (cpu1 - cpu0).Seconds() / w
		}
		if res.ConnsUp > 0 && rss1 > rss0 {
			// The garbage collector may return more than the
			// connections took: then they cost nothing measurable.
			u.RSSPerConn = float64(rss1-rss0) / float64(res.ConnsUp)
		}
		return u
	}
	var b Usage
	if start.ok && end.ok {
		b = fig(start.cpu, end.cpu, base.rss, end.rss)
	}
	var s *Usage
	if start.srvOK && end.srvOK && base.srvOK {
		u := fig(start.srvCPU, end.srvCPU, base.srvRSS, end.srvRSS)
		s = &u
	}
	return b, s
}

// finish fills in what is derived from the rest: percentiles, the series'
// phases, and the warnings.
func (res *Result) finish(series []Second, t0, ws, we, end int64) {
	res.Latency = percentiles(res.lat)
	res.LatencyCurve = curve(res.lat)
	res.ConnectTime = percentiles(res.conn)
	for i := range series {
		series[i].Phase = phaseAt(t0+int64(series[i].T)*int64(time.Second)+int64(time.Second/2), ws, we)
		if from := t0 + int64(series[i].T)*int64(time.Second); end > 0 && end < from+int64(time.Second) {
			series[i].Partial, series[i].Covered = true, Duration(max(end-from, 0))
		}
	}
	res.Series = series
	res.Warnings = nil
	cores := float64(runtime.GOMAXPROCS(0))
	if res.Procs > 1 {
		cores = min(cores*float64(res.Procs), float64(runtime.NumCPU()))
	}
	if res.Bench.Cores > 0.85*cores {
		res.Warnings = append(res.Warnings, fmt.Sprintf("sockit bench kept %.2f of its %.0f cores busy: the load generator, not the server, may be the bottleneck (spread the connections over more processes, or offer a lower rate)", res.Bench.Cores, cores))
	}
	if res.MachineBusy > 0.9 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the machine's %d CPUs were %.0f%% busy over the window: the server and the load generator competed for them, and latencies include the wait", runtime.NumCPU(), 100*res.MachineBusy))
	}
	if res.Rate > 0 && res.Window > 0 && res.MsgsPerSec < 0.95*res.Rate {
		res.Warnings = append(res.Warnings, fmt.Sprintf("offered %.0f msgs/s, completed %.0f: the server (or the network) did not keep up", res.Rate, res.MsgsPerSec))
	}
	if res.ConnectTime.P99 > Duration(100*time.Millisecond) && res.Conns >= 5000 && !res.SourceSpread {
		res.Warnings = append(res.Warnings, fmt.Sprintf("slow connects (p99 %s): with thousands of connections from one address the kernel searches a crowded ephemeral port range, more so with many sockets in TIME_WAIT; spreading them over more source addresses helps", dur(res.ConnectTime.P99)))
	}
	res.Warnings = append(res.Warnings, res.Check.warnings(res.Mode)...)
}

// phaseAt is the phase at unix nanos at of a run whose measured window
// is [ws, we): warm-up (and connecting) before it, drain after.
func phaseAt(at, ws, we int64) string {
	switch {
	case ws == 0 || at < ws:
		return "warmup"
	case at >= we:
		return "drain"
	}
	return "measure"
}

// warnings says what went wrong in the echoes (the responses, in mode
// ModeHTTP), if anything did.
func (c Verification) warnings(mode Mode) []string {
	var w []string
	if c.MismatchedMsgs > 0 {
		if mode == ModeHTTP {
			w = append(w, fmt.Sprintf("%s failed their check (status, framing or body): see verification and errors", counted(c.MismatchedMsgs, "response")))
		} else {
			w = append(w, fmt.Sprintf("%s did not match what was sent: see verification", counted(c.MismatchedMsgs, "echoed message")))
		}
	}
	if c.MissingBytes > 0 {
		w = append(w, fmt.Sprintf("%s sent on %s never came back (the server closed, reset or stalled them): see verification and errors", counted(c.MissingBytes, "byte"), counted(c.ShortConns, "connection")))
	}
	if c.ExtraBytes > 0 {
		w = append(w, fmt.Sprintf("the server sent %s more than it was sent: see verification", counted(c.ExtraBytes, "byte")))
	}
	if c.LostDatagrams > 0 {
		w = append(w, fmt.Sprintf("%s got no answer within %v (lost, or dropped by a full socket buffer: try fewer in flight)", counted(c.LostDatagrams, "datagram"), lossTimeout))
	}
	return w
}

// OK reports whether the run saw no errors and, with verification, every
// byte came back as sent.
func (res *Result) OK() bool {
	c := res.Check
	return len(res.Errors) == 0 && c.MismatchedMsgs == 0 && c.ExtraBytes == 0 && c.MissingBytes == 0 && c.LostDatagrams == 0
}
