package bench_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// Bad options are refused before anything connects.
func TestBadOptions(t *testing.T) {
	// Had a run started, it would have met a refused port and a silent one.
	ep := endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)}
	udp := endpoint.Endpoint{Scheme: "udp", Addr: testkit.QuietUDP(t)}
	for name, o := range map[string]bench.Options{
		"size":       {Endpoint: ep, Size: bench.MaxSize + 1},
		"depth":      {Endpoint: ep, Depth: bench.MaxDepth + 1},
		"rate":       {Endpoint: ep, Rate: -1},
		"mode":       {Endpoint: ep, Mode: "mirror"},
		"udp size":   {Endpoint: udp, Size: 70000},
		"udp seq":    {Endpoint: udp, Size: 4},
		"udp source": {Endpoint: udp, Mode: bench.ModeSource},
	} {
		if _, err := bench.Run(context.Background(), o); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}

// Rates that are not finite numbers, or so low that the schedule cannot
// be kept in nanoseconds, and a window that ends past what nanoseconds
// since 1970 can hold, are refused up front.
func TestRatesMustBeFinite(t *testing.T) {
	ep := endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)} // refused, had a run started
	for name, o := range map[string]bench.Options{
		"rate NaN":         {Endpoint: ep, Rate: math.NaN()},
		"rate +Inf":        {Endpoint: ep, Rate: math.Inf(1)},
		"connect-rate NaN": {Endpoint: ep, ConnectRate: math.NaN()},
		"connect-rate Inf": {Endpoint: ep, ConnectRate: math.Inf(1)},
		"rate tiny":        {Endpoint: ep, Rate: 1e-300},
		"duration huge":    {Endpoint: ep, Duration: math.MaxInt64, Warmup: time.Second},
	} {
		if _, err := bench.Run(context.Background(), o); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}
