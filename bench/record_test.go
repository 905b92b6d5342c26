package bench

import (
	"testing"
	"time"
)

// A latency beyond the histogram's range counts as its highest value
// rather than vanishing; a negative one (a clock step) as zero.
func TestRecordClamps(t *testing.T) {
	t.Parallel()
	h := newHist()
	for _, v := range []int64{int64(2 * time.Hour), -5, int64(time.Millisecond)} {
		record(h, v)
	}
	if h.TotalCount() != 3 || h.Max() < histHighest {
		t.Errorf("recorded %d values, max %v; want all 3 and max at least %v", h.TotalCount(), time.Duration(h.Max()), time.Duration(histHighest))
	}
}
