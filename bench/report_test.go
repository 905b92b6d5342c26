package bench_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/service"
)

// The JSON report carries the figures; the HTML report embeds them with
// the charts' script and nothing fetched from elsewhere.
func TestReports(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	res := run(t, quick(ep))
	var js strings.Builder
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	for _, k := range []string{"sockit", "meta", "latency", "msgs_per_sec", "verification", "errors", "series", "intervals", "connect_time", "bench", "window_us", "size_bytes"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if v, _ := back["sockit"].(map[string]any); v["go"] != runtime.Version() || v["os"] != runtime.GOOS || v["version"] == "" {
		t.Errorf("JSON's sockit = %v, want this build's version, Go version and OS", back["sockit"])
	}
	// Units are in the keys: durations in µs, to the nanosecond.
	lat := back["latency"].(map[string]any)
	for _, k := range []string{"min_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "mean_us"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("latency.%s = %v, want µs", k, lat[k])
		}
	}
	if got, want := lat["p99_us"].(float64), float64(res.Latency.P99)/1e3; got != want {
		t.Errorf("latency.p99_us = %v, want %v (µs)", got, want)
	}
	meta := back["meta"].(map[string]any)
	for _, k := range []string{"schema", "start_time", "host", "cpus"} {
		if v, ok := meta[k]; !ok || v == "" || v == 0.0 {
			t.Errorf("meta.%s = %v, want it set", k, v)
		}
	}
	if meta["schema"] != bench.Schema {
		t.Errorf("meta.schema = %v, want %s", meta["schema"], bench.Schema)
	}
	var again bench.Result // the workers of a --procs run send results as JSON
	if err := json.Unmarshal([]byte(js.String()), &again); err != nil || again.Latency != res.Latency || again.Window != res.Window {
		t.Errorf("JSON round trip: latency %+v, window %v, err %v; want %+v, %v", again.Latency, again.Window, err, res.Latency, res.Window)
	}
	var page strings.Builder
	if err := res.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	for _, want := range []string{`id="latency-chart"`, `id="throughput-chart"`, `"latency_curve"`, "sockit bench tcp://", `<p id="version">sockit `, runtime.Version()} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
	if strings.Contains(h, "http://") && !strings.Contains(h, "http://www.w3.org/2000/svg") || strings.Contains(h, "https://") || strings.Contains(h, " src=") {
		t.Error("HTML refers to something outside itself")
	}
	var text strings.Builder
	res.WriteText(&text)
	for _, want := range []string{"p99.9", "msgs/s", "verification", "errors        none"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The text report counts in words that agree with their number: one
// connection, one message; groups of three digits for many.
func TestTextReportCounts(t *testing.T) {
	t.Parallel()
	res := &bench.Result{
		Endpoint: "tcp://127.0.0.1:7007", Mode: bench.ModeEcho, Conns: 1, Size: 64, Depth: 1, Verify: true,
		TotalSentMsgs: 1, TotalSentBytes: 64, TotalRecvBytes: 1234567,
		Check: bench.Verification{CheckedBytes: 1, MismatchedMsgs: 1, MissingBytes: 1, ShortConns: 1, ExtraBytes: 2},
	}
	var text strings.Builder
	res.WriteText(&text)
	for _, want := range []string{
		"— echo, 1 connection, 64-byte messages,",
		"totals        sent 1 message, 64 bytes; received 1 234 567 bytes\n",
		"verification  1 byte checked: 1 mismatched message, 1 missing byte in 1 connection, 2 extra bytes\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The progress line and the interval lines count in the report's units:
// payload bytes one way, in KiB/MiB, not MB of both directions.
func TestProgressUnits(t *testing.T) {
	t.Parallel()
	p := bench.Progress{Elapsed: 3 * time.Second, Mode: bench.ModeEcho, Phase: "measure", ConnsUp: 10, MsgsPerSec: 3000, BytesPerSec: 3000 * 64}
	if got, want := p.Text(), "   3s measure  conns 10  3 000 msgs/s  187.50 KiB/s each way  p99 0  errors 0"; got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
	iv := bench.Interval{Start: bench.Duration(time.Second), End: bench.Duration(2 * time.Second), Phase: "measure", ConnsUp: 10,
		MsgsPerSec: 3000, BytesPerSec: 3000 * 64, P50: bench.Duration(40 * time.Microsecond), P99: bench.Duration(90 * time.Microsecond), Max: bench.Duration(2 * time.Millisecond)}
	if got, want := iv.Text(bench.ModeSink), "[  1.0-  2.0s] measure  conns 10  3 000 msgs/s  187.50 KiB/s sent  p50 40µs  p99 90µs  max 2ms  errors 0"; got != want {
		t.Errorf("interval line %q, want %q", got, want)
	}
}
