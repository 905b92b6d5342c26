package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/internal/testkit"
)

// benchOpts are BenchOptions for a short run against ep, with buffers.
func benchOpts(ep string) (*BenchOptions, *testkit.Buffer, *testkit.Buffer) {
	out, errOut := new(testkit.Buffer), new(testkit.Buffer)
	return &BenchOptions{
		IO:       IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		Endpoint: ep, Mode: "echo", Verify: true, Payload: "random", Procs: 1,
		Bench: bench.Options{Conns: 2, Size: 64, Depth: 1, Warmup: 200 * time.Millisecond, Duration: 600 * time.Millisecond, Drain: testkit.Timeout},
	}, out, errOut
}

// TestBenchIntervalLines: piped (no terminal), --interval still prints a
// line per interval, in the report's units, before the report.
func TestBenchIntervalLines(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out, errOut := benchOpts(s.endpoint(0))
	opts.Interval = 200 * time.Millisecond
	if err := runBench(context.Background(), opts); err != nil {
		t.Fatalf("runBench: %v\n%s", err, errOut)
	}
	text := out.String()
	lines := regexp.MustCompile(`(?m)^\[\s*[\d.]+-\s*[\d.]+s\] (warmup|measure|drain)\s+conns \d+  [\d ]+ msgs/s  [\d.]+ (B|KiB|MiB)/s each way  (p50 \S+  p99 \S+  max \S+|no latency)  errors 0$`).FindAllString(text, -1)
	if len(lines) < 4 {
		t.Fatalf("%d interval lines, want one per 200ms of an 800ms run:\n%s", len(lines), text)
	}
	if i, j := strings.Index(text, lines[len(lines)-1]), strings.Index(text, "sockit bench "); j < i {
		t.Errorf("the report came before the interval lines:\n%s", text)
	}
	if errOut.String() != "" {
		t.Errorf("stderr = %q, want nothing (no progress line when piped)", errOut)
	}
}

// TestBenchJSONStream: --json-stream prints one object per interval as it
// ends, then the summary with the metadata; units are in the keys.
func TestBenchJSONStream(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out, errOut := benchOpts(s.endpoint(0))
	opts.JSONStream = true
	opts.Interval = 200 * time.Millisecond
	opts.Bench.Command = []string{"sockit", "bench", s.endpoint(0), "--json-stream"}
	if err := runBench(context.Background(), opts); err != nil {
		t.Fatalf("runBench: %v\n%s", err, errOut)
	}
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		objs = append(objs, o)
	}
	if len(objs) < 5 {
		t.Fatalf("%d objects, want ≥ 4 intervals and the summary:\n%s", len(objs), out)
	}
	for i, o := range objs[:len(objs)-1] {
		if o["type"] != "interval" || o["schema"] != bench.Schema {
			t.Fatalf("object %d: %v, want an interval of %s", i, o, bench.Schema)
		}
		for _, k := range []string{"start_us", "end_us", "phase", "conns_up", "msgs", "msgs_per_sec", "bytes_per_sec", "p50_us", "p99_us", "max_us", "errors"} {
			if _, ok := o[k]; !ok {
				t.Errorf("interval %d lacks %q: %v", i, k, o)
			}
		}
	}
	last := objs[len(objs)-1]
	res, ok := last["result"].(map[string]any)
	if last["type"] != "summary" || !ok {
		t.Fatalf("last object %v, want the summary", last)
	}
	meta := res["meta"].(map[string]any)
	if meta["command"] != strings.Join(opts.Bench.Command, " ") || meta["schema"] != bench.Schema {
		t.Errorf("summary meta %v: want the command and the schema", meta)
	}
	if n := len(res["intervals"].([]any)); n != len(objs)-1 {
		t.Errorf("the summary keeps %d intervals, the stream had %d", n, len(objs)-1)
	}
}

// TestBenchStreamFlagsClash: --json and --json-stream together, or
// intervals over --procs, are usage errors.
func TestBenchStreamFlagsClash(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change func(*BenchOptions)
	}{
		{name: "json and json-stream", change: func(o *BenchOptions) { o.JSON, o.JSONStream = true, true }},
		{name: "interval over procs", change: func(o *BenchOptions) { o.Interval, o.Procs = time.Second, 2 }},
	} {
		opts, _, _ := benchOpts("tcp://" + testkit.Refused(t))
		tt.change(opts)
		if err := runBench(context.Background(), opts); ExitCode(err) != ExitUsage {
			t.Errorf("%s: runBench = %v, want a usage error", tt.name, err)
		}
	}
}
