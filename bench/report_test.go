package bench_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

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
	for _, k := range []string{"latency", "msgs_per_sec", "verification", "errors", "series", "connect_time", "bench", "sockit"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if v, _ := back["sockit"].(map[string]any); v["go"] != runtime.Version() || v["os"] != runtime.GOOS || v["version"] == "" {
		t.Errorf("JSON's sockit = %v, want this build's version, Go version and OS", back["sockit"])
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
