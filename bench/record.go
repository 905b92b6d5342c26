package bench

import (
	"errors"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sockit/sockit"
)

// Latencies are recorded in nanoseconds, from 1 µs to a minute, to three
// significant digits.
const (
	histLowest  = 1000
	histHighest = int64(time.Minute)
	histDigits  = 3
	nShards     = 8
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, histDigits) }

// record adds v to h, clamped to the histogram's range: a latency beyond
// it (a server stalled for minutes) must show as the highest value, not
// vanish, which is what RecordValue does with it.
func record(h *hdrhistogram.Histogram, v int64) {
	h.RecordValue(min(max(v, 0), histHighest))
}

// recorder collects what the connections measure. Connections record into
// one of a few shards, each with its own lock, so that the loops seldom
// wait for each other; totals that a progress line reads are summed over
// the shards.
type recorder struct {
	o  *Options
	t0 int64 // unix nanos at the start of the run
	// The measured window, unix nanos; MaxInt64 until the connections are
	// up and the warm-up is scheduled.
	winStart, winEnd atomic.Int64

	shards [nShards]shard

	connsUp, opened, failed atomic.Int64
	maxUp                   atomic.Int64

	mu          sync.Mutex
	connectHist *hdrhistogram.Histogram
	errs        map[string]*ErrorCount
	check       Verification
	firstConn   error // the first connect failure
	// CPU and memory: before connecting, at the window's start and end
	base, start, end usage
	intervals        []Interval
	// ihist is where intervalLatency merges the shards' interval
	// latencies; only the progress goroutine uses it.
	ihist *hdrhistogram.Histogram
}

// shard is one lock's worth of counters. The padding keeps two shards off
// one cache line.
type shard struct {
	mu        sync.Mutex
	lat       *hdrhistogram.Histogram
	ilat      *hdrhistogram.Histogram // the current interval's latencies, any phase
	sentMsgs  uint64
	sentBytes uint64
	recvBytes uint64
	doneMsgs  uint64 // echoes complete (echo), messages written (sink), message-sized reads (source)
	winMsgs   uint64
	winBytes  uint64
	unsent    uint64
	perSecond []Second
	_         [64]byte
}

func newRecorder(o *Options) *recorder {
	r := &recorder{o: o, t0: time.Now().UnixNano(), connectHist: newHist(), errs: map[string]*ErrorCount{}, ihist: newHist()}
	r.winStart.Store(math.MaxInt64)
	r.winEnd.Store(math.MaxInt64)
	for i := range r.shards {
		r.shards[i].lat, r.shards[i].ilat = newHist(), newHist()
	}
	return r
}

// second returns the shard's counters for the second of the run at now.
func (s *shard) second(t0, now int64) *Second {
	i := int((now - t0) / int64(time.Second))
	for len(s.perSecond) <= i {
		s.perSecond = append(s.perSecond, Second{T: len(s.perSecond)})
	}
	return &s.perSecond[i]
}

// sent records a message handed to the kernel's queue; for a sink that
// completes it.
func (r *recorder) sent(id int, bytes int, completes bool, now int64) {
	s := &r.shards[id%nShards]
	s.mu.Lock()
	s.sentMsgs++
	s.sentBytes += uint64(bytes)
	sec := s.second(r.t0, now)
	sec.BytesOut += uint64(bytes)
	if completes {
		r.complete(s, sec, 1, bytes, nil, now)
	}
	s.mu.Unlock()
}

// read records bytes read and the msgs messages (msgBytes of payload) they
// completed: echoes back, whose latency counts from each one's due time in
// due, or message-sized reads of a source (due nil).
func (r *recorder) read(id int, bytes int, msgs int, msgBytes int, due []int64, now int64) {
	s := &r.shards[id%nShards]
	s.mu.Lock()
	s.recvBytes += uint64(bytes)
	sec := s.second(r.t0, now)
	sec.BytesIn += uint64(bytes)
	if msgs > 0 {
		r.complete(s, sec, msgs, msgBytes, due, now)
	}
	s.mu.Unlock()
}

// complete counts completed messages in shard s (locked) and the second
// sec.
func (r *recorder) complete(s *shard, sec *Second, msgs int, bytes int, due []int64, now int64) {
	s.doneMsgs += uint64(msgs)
	sec.Msgs += uint64(msgs)
	ws, we := r.winStart.Load(), r.winEnd.Load()
	if now >= ws && now < we {
		s.winMsgs += uint64(msgs)
		s.winBytes += uint64(bytes)
	}
	for _, d := range due {
		// A message counts in the latency of the window it was due in.
		if d >= ws && d < we {
			record(s.lat, now-d)
		}
		record(s.ilat, now-d)
	}
}

func (r *recorder) addUnsent(id int, n uint64) {
	if n == 0 {
		return
	}
	s := &r.shards[id%nShards]
	s.mu.Lock()
	s.unsent += n
	s.mu.Unlock()
}

func (r *recorder) connected(took time.Duration) {
	up := r.connsUp.Add(1)
	r.opened.Add(1)
	for {
		m := r.maxUp.Load()
		if up <= m || r.maxUp.CompareAndSwap(m, up) {
			break
		}
	}
	r.mu.Lock()
	record(r.connectHist, int64(took))
	r.mu.Unlock()
}

// fail counts an error by its kind and keeps the first example of each.
func (r *recorder) fail(op string, err error) {
	kind := op + ": " + kindText(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if op == "connect" && r.firstConn == nil {
		r.firstConn = err
	}
	e := r.errs[kind]
	if e == nil {
		e = &ErrorCount{Kind: kind, Example: err.Error()}
		r.errs[kind] = e
	}
	e.Count++
}

// kindText names the kind of err: sockit's kind, or, for one that sockit
// does not name, the system's text for its errno ("message too long"), so
// that different failures are not lumped together as "other".
func kindText(err error) string {
	k := sockit.KindOf(err)
	var errno syscall.Errno
	if k == sockit.KindOther && errors.As(err, &errno) {
		return errno.Error()
	}
	return k.String()
}

// failText counts an error that is not a Go error value (a protocol fault).
func (r *recorder) failText(kind, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs[kind]
	if e == nil {
		e = &ErrorCount{Kind: kind, Example: example}
		r.errs[kind] = e
	}
	e.Count++
}

func (r *recorder) mismatch(conn int, off int64, want, got byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check.MismatchedMsgs++
	if r.check.FirstMismatch == nil {
		r.check.FirstMismatch = &Offset{Conn: conn, Offset: off, Want: int(want), Got: int(got)}
	}
}

func (r *recorder) extra(conn int, off int64, n int, got byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check.ExtraBytes += uint64(n)
	if r.check.FirstExtra == nil {
		r.check.FirstExtra = &Offset{Conn: conn, Offset: off, Want: -1, Got: int(got)}
	}
}

func (r *recorder) short(conn int, off int64, missing int64, msgs uint64) {
	if missing <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check.ShortConns++
	r.check.ShortMsgs += msgs
	r.check.MissingBytes += uint64(missing)
	if r.check.FirstShort == nil {
		r.check.FirstShort = &Offset{Conn: conn, Offset: off, Want: -1, Got: -1}
	}
}

func (r *recorder) errorCount() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uint64
	for _, e := range r.errs {
		n += e.Count
	}
	return n + r.check.MismatchedMsgs
}

// totals sums the shards.
type totals struct {
	sentMsgs, sentBytes, recvBytes, doneMsgs, winMsgs, winBytes, unsent uint64
}

func (r *recorder) totals() totals {
	var t totals
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		t.sentMsgs += s.sentMsgs
		t.sentBytes += s.sentBytes
		t.recvBytes += s.recvBytes
		t.doneMsgs += s.doneMsgs
		t.winMsgs += s.winMsgs
		t.winBytes += s.winBytes
		t.unsent += s.unsent
		s.mu.Unlock()
	}
	return t
}

// latency merges the shards' histograms.
func (r *recorder) latency() *hdrhistogram.Histogram {
	h := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.lat)
		s.mu.Unlock()
	}
	return h
}

// series merges the shards' per-second counters.
func (r *recorder) series() []Second {
	var out []Second
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, sec := range s.perSecond {
			for len(out) <= sec.T {
				out = append(out, Second{T: len(out)})
			}
			out[sec.T].add(sec)
		}
		s.mu.Unlock()
	}
	return out
}

func (r *recorder) errorList() []ErrorCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]ErrorCount, 0, len(r.errs))
	for _, e := range r.errs {
		list = append(list, *e)
	}
	sortErrors(list)
	return list
}

// sortErrors puts the most frequent kinds first.
func sortErrors(list []ErrorCount) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].Count != list[j].Count {
			return list[i].Count > list[j].Count
		}
		return list[i].Kind < list[j].Kind
	})
}

// lost counts a datagram that was never answered.
func (r *recorder) lost(conn int, off int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check.LostDatagrams++
	if r.check.FirstShort == nil {
		r.check.FirstShort = &Offset{Conn: conn, Offset: off, Want: -1, Got: -1}
	}
}
