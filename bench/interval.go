package bench

import (
	"fmt"
	"time"
)

// Interval is one Options.Interval of a run: what completed in it and the
// latencies of the messages that completed in it (timed from when each was
// due, whatever the phase). In JSON it is one object of schema Schema.
type Interval struct {
	Start       Duration `json:"start_us"` // since the run began
	End         Duration `json:"end_us"`
	Phase       string   `json:"phase"` // "connect", "warmup", "measure", "drain": the phase at its end
	ConnsUp     int64    `json:"conns_up"`
	Msgs        uint64   `json:"msgs"`
	MsgsPerSec  float64  `json:"msgs_per_sec"`
	BytesPerSec float64  `json:"bytes_per_sec"` // payload bytes one way, as the report's throughput
	P50         Duration `json:"p50_us"`
	P99         Duration `json:"p99_us"`
	Max         Duration `json:"max_us"`
	Errors      uint64   `json:"errors"` // failures counted in the interval
}

// Text is the interval as a line of the report's units: "[ 2.0- 3.0s]
// measure  conns 10  25,110 msgs/s  1.53 MiB/s each way  p50 38µs  p99
// 71µs  max 1.20ms  errors 0".
func (iv Interval) Text(mode Mode) string {
	lat := "no latency"
	if iv.Max > 0 {
		lat = fmt.Sprintf("p50 %s  p99 %s  max %s", dur(iv.P50), dur(iv.P99), dur(iv.Max))
	}
	return fmt.Sprintf("[%5.1f-%5.1fs] %-7s  conns %d  %s msgs/s  %s/s %s  %s  errors %d",
		time.Duration(iv.Start).Seconds(), time.Duration(iv.End).Seconds(), iv.Phase, iv.ConnsUp, count(uint64(iv.MsgsPerSec)),
		bytesText(iv.BytesPerSec), direction(mode), lat, iv.Errors)
}

// maxIntervals bounds the intervals a Result keeps (a day of seconds);
// OnInterval still hears of later ones.
const maxIntervals = 86400

// intervalLatency takes the latencies recorded since the last call out of
// the shards and returns their p50, p99 and max.
func (r *recorder) intervalLatency() (p50, p99, mx Duration) {
	h := r.ihist
	h.Reset()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.ilat)
		s.ilat.Reset()
		s.mu.Unlock()
	}
	if h.TotalCount() == 0 {
		return 0, 0, 0
	}
	return Duration(h.ValueAtQuantile(50)), Duration(h.ValueAtQuantile(99)), Duration(h.Max())
}

// addInterval keeps iv for the Result, up to maxIntervals.
func (r *recorder) addInterval(iv Interval) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.intervals) < maxIntervals {
		r.intervals = append(r.intervals, iv)
	}
}

func (r *recorder) intervalList() []Interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.intervals
}
