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

// The warnings about the echoes count in words that agree with their
// number, one and many alike.
func TestVerificationWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check Verification
		want  []string
	}{
		{name: "none", check: Verification{CheckedBytes: 10}, want: nil},
		{name: "one of each", check: Verification{MismatchedMsgs: 1, MissingBytes: 1, ShortConns: 1, ExtraBytes: 1, LostDatagrams: 1}, want: []string{
			"1 echoed message did not match what was sent: see verification",
			"1 byte sent on 1 connection never came back (the server closed, reset or stalled them): see verification and errors",
			"the server sent 1 byte more than it was sent: see verification",
			"1 datagram got no answer within " + lossTimeout.String() + " (lost, or dropped by a full socket buffer: try fewer in flight)",
		}},
		{name: "many", check: Verification{MissingBytes: 2048, ShortConns: 3}, want: []string{
			"2 048 bytes sent on 3 connections never came back (the server closed, reset or stalled them): see verification and errors",
		}},
	}
	for _, tt := range tests {
		got := tt.check.warnings(ModeEcho)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d warnings %q, want %d %q", tt.name, len(got), got, len(tt.want), tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: warning %d mismatch (-want +got):\n-%s\n+%s", tt.name, i, tt.want[i], got[i])
			}
		}
	}
}
