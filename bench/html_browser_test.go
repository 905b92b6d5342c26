//go:build unix

package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// TestHTMLReportLayout opens the report of a run with a warm-up and a last
// partial second in Chromium at 1024 and 1600 px: it fits without scrolling
// sideways, the warm-up bar is drawn as warm-up, the partial second is
// marked, latency and connections over time have a point per interval, and
// the metadata is shown. Screenshots are kept as artifacts.
func TestHTMLReportLayout(t *testing.T) {
	b := testkit.StartBrowser(t)
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Warmup, o.Duration = time.Second, 1200*time.Millisecond
	o.Command = []string{"sockit", "bench", ep.String(), "--warmup=1s", "--duration=1.2s"}
	res := run(t, o)
	if len(res.Series) < 2 || res.Series[0].Phase != "warmup" || !res.Series[len(res.Series)-1].Partial {
		t.Fatalf("series %+v: want a warm-up second first and a partial one last", res.Series)
	}
	var page bytes.Buffer
	if err := res.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	withLatency := 0
	for _, iv := range res.Intervals {
		if iv.Max > 0 {
			withLatency++
		}
	}
	for _, width := range []int{1024, 1600} {
		b.Post(t, "/window/rect", map[string]int{"width": width, "height": 1000}, nil)
		b.Open(t, "file://"+file)
		got := b.Run(t, `
			const done = arguments[arguments.length-1];
			const bars = [...document.querySelectorAll('#throughput-chart rect.bar')];
			const fill = e => getComputedStyle(e).fill;
			const pts = id => [...document.querySelectorAll(id + ' path')].map(p => +p.getAttribute('data-points'));
			done({
				drawn: document.body.getAttribute('data-drawn'),
				inner: window.innerWidth,
				scroll: document.documentElement.scrollWidth,
				preOverflow: document.querySelector('pre').scrollWidth - document.querySelector('pre').clientWidth,
				right: Math.max(...[...document.querySelectorAll('pre, svg.chart, table.meta')].map(e => e.getBoundingClientRect().right)),
				bars: bars.length,
				firstFill: fill(bars[0]),
				firstPhase: bars[0].getAttribute('data-phase'),
				measureFill: fill(document.querySelector('#throughput-chart rect.bar.measure')),
				lastPartial: bars[bars.length-1].classList.contains('partial'),
				partialLabel: document.querySelector('#throughput-chart').textContent.includes('partial'),
				latencyTime: pts('#latency-time-chart'),
				conns: pts('#conns-chart'),
				meta: document.querySelector('table.meta').textContent,
			});`).(map[string]any)
		if got["drawn"] != "yes" {
			t.Fatalf("at %d px: the report's script did not finish", width)
		}
		if inner := got["inner"].(float64); got["scroll"].(float64) > inner || got["right"].(float64) > inner {
			t.Errorf("at %d px: page %v px wide, content to %v px, window %v px: it runs off the right edge", width, got["scroll"], got["right"], inner)
		}
		if o := got["preOverflow"].(float64); o > 0 {
			t.Errorf("at %d px: the summary is %v px wider than its box: it scrolls", width, o)
		}
		if int(got["bars"].(float64)) != len(res.Series) {
			t.Errorf("at %d px: %v bars, want one per second (%d)", width, got["bars"], len(res.Series))
		}
		if got["firstPhase"] != "warmup" || got["firstFill"] == got["measureFill"] {
			t.Errorf("at %d px: the warm-up bar (%v) is filled %v, like the measured ones (%v)", width, got["firstPhase"], got["firstFill"], got["measureFill"])
		}
		if got["lastPartial"] != true || got["partialLabel"] != true {
			t.Errorf("at %d px: the last, partial second is not marked partial", width)
		}
		if lt := got["latencyTime"].([]any); len(lt) != 3 || int(lt[0].(float64)) != withLatency {
			t.Errorf("at %d px: latency over time has lines %v, want p50, p99 and max with %d points each", width, lt, withLatency)
		}
		if c := got["conns"].([]any); len(c) != 1 || int(c[0].(float64)) != len(res.Intervals) {
			t.Errorf("at %d px: connections over time %v, want one line of %d points", width, c, len(res.Intervals))
		}
		testkit.MustContain(t, "metadata", got["meta"].(string), "sockit bench "+ep.String(), res.Meta.StartTime.Format(time.RFC3339), res.Meta.Host)
		p := testkit.SaveArtifact(t, "bench-report-"+strconv.Itoa(width)+".png", b.Screenshot(t))
		t.Logf("screenshot at %d px: %s", width, p)
	}
}
