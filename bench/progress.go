package bench

import (
	"sync"
	"time"
)

// progress calls Options.Progress about once a second while a run goes on,
// and closes an interval every Options.Interval: it keeps it for the Result
// and calls Options.OnInterval with it.
type progress struct {
	mu    sync.Mutex
	name  string
	quit  chan struct{}
	done  chan struct{}
	begin time.Time
}

func startProgress(o *Options, r *recorder) *progress {
	p := &progress{name: "connect", quit: make(chan struct{}), done: make(chan struct{}), begin: time.Unix(0, r.t0)}
	go p.run(o, r)
	return p
}

func (p *progress) phase(name string) {
	p.mu.Lock()
	p.name = name
	p.mu.Unlock()
}

func (p *progress) phaseName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// stop ends the progress calls, closes the last (partial) interval, and
// waits for the last call to return.
func (p *progress) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

// oneWay is the payload bytes one way of totals t: what was sent (sink),
// what came back (echo, source), as the report's throughput counts it.
func oneWay(t totals) uint64 { return max(t.sentBytes, t.recvBytes) }

func (p *progress) run(o *Options, r *recorder) {
	defer close(p.done)
	var tick <-chan time.Time
	if o.Progress != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	itick := time.NewTicker(o.Interval)
	defer itick.Stop()
	last, lastAt := r.totals(), time.Now()
	ilast, iAt, iErrs := last, p.begin, uint64(0)
	closeInterval := func(now time.Time) {
		t, errs := r.totals(), r.errorCount()
		sec := now.Sub(iAt).Seconds()
		if sec <= 0 {
			return
		}
		iv := Interval{Start: Duration(iAt.Sub(p.begin)), End: Duration(now.Sub(p.begin)), Phase: p.phaseName(), ConnsUp: r.connsUp.Load(),
			Msgs: t.doneMsgs - ilast.doneMsgs, Errors: errs - iErrs}
		iv.MsgsPerSec = float64(iv.Msgs) / sec
		iv.BytesPerSec = float64(oneWay(t)-oneWay(ilast)) / sec
		iv.P50, iv.P99, iv.Max = r.intervalLatency()
		r.addInterval(iv)
		if o.OnInterval != nil {
			o.OnInterval(iv)
		}
		ilast, iAt, iErrs = t, now, errs
	}
	for {
		select {
		case <-p.quit:
			closeInterval(time.Now())
			return
		case now := <-itick.C:
			closeInterval(now)
		case now := <-tick:
			t := r.totals()
			sec := now.Sub(lastAt).Seconds()
			o.Progress(Progress{
				Elapsed:     now.Sub(p.begin),
				Mode:        o.Mode,
				Phase:       p.phaseName(),
				ConnsUp:     r.connsUp.Load(),
				MsgsPerSec:  float64(t.doneMsgs-last.doneMsgs) / sec,
				BytesPerSec: float64(oneWay(t)-oneWay(last)) / sec,
				P99:         time.Duration(r.latency().ValueAtQuantile(99)),
				Errors:      r.errorCount(),
			})
			last, lastAt = t, now
		}
	}
}
