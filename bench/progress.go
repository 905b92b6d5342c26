package bench

import (
	"sync"
	"time"
)

// progress calls Options.Progress about once a second while a run goes on.
type progress struct {
	mu    sync.Mutex
	name  string
	quit  chan struct{}
	done  chan struct{}
	begin time.Time
}

func startProgress(o *Options, r *recorder) *progress {
	p := &progress{name: "connect", quit: make(chan struct{}), done: make(chan struct{}), begin: time.Now()}
	if o.Progress == nil {
		close(p.done)
		return p
	}
	go p.run(o.Progress, r)
	return p
}

func (p *progress) phase(name string) {
	p.mu.Lock()
	p.name = name
	p.mu.Unlock()
}

// stop ends the progress calls and waits for the last to return.
func (p *progress) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

func (p *progress) run(report func(Progress), r *recorder) {
	defer close(p.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := r.totals(), time.Now()
	for {
		select {
		case <-p.quit:
			return
		case now := <-tick.C:
			t := r.totals()
			sec := now.Sub(lastAt).Seconds()
			p.mu.Lock()
			name := p.name
			p.mu.Unlock()
			report(Progress{
				Elapsed:    now.Sub(p.begin),
				Phase:      name,
				ConnsUp:    r.connsUp.Load(),
				MsgsPerSec: float64(t.doneMsgs-last.doneMsgs) / sec,
				BytesPerS:  float64(t.sentBytes-last.sentBytes+t.recvBytes-last.recvBytes) / sec,
				P99:        time.Duration(r.latency().ValueAtQuantile(99)),
				Errors:     r.errorCount(),
			})
			last, lastAt = t, now
		}
	}
}
