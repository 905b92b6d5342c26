package bench_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// The HTML report, opened in a real headless Chromium, draws its charts:
// the script ran, the latency curve has a point per percentile and the
// throughput chart a bar per second. A screenshot is saved (to
// $SOCKIT_ARTIFACTS when set) for a person to look at.
func TestHTMLReportInChromium(t *testing.T) {
	browser := testkit.Chromium(t)
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Duration = 1500 * time.Millisecond
	res := run(t, o)
	dom, page, chromium := openReport(t, browser, res)
	if !bytes.Contains(dom, []byte(`data-drawn="yes"`)) {
		t.Fatal("the report's script did not finish drawing")
	}
	path := regexp.MustCompile(`<svg[^>]* id="latency-chart"[^>]*>.*?<path d="([^"]+)"[^>]*data-points="(\d+)"`).FindSubmatch(dom)
	if path == nil {
		t.Fatal("no latency curve drawn")
	}
	if n := strings.Count(string(path[1]), "L") + 1; n < 10 || string(path[2]) == "0" {
		t.Errorf("latency curve has %d points, want one per percentile (≥ 10)", n)
	}
	thr := regexp.MustCompile(`(?s)<svg[^>]* id="throughput-chart".*?</svg>`).Find(dom)
	if bars := bytes.Count(thr, []byte(`<rect`)); bars < 1 || bars != len(res.Series) {
		t.Errorf("throughput chart has %d bars, want one per second of the run (%d)", bars, len(res.Series))
	}

	shot := filepath.Join(filepath.Dir(page), "report.png")
	if out := os.Getenv("SOCKIT_ARTIFACTS"); out != "" {
		os.MkdirAll(out, 0o755)
		shot = filepath.Join(out, "bench-report.png")
	}
	if err := chromium("--screenshot="+shot, "--window-size=1000,1300", "file://"+page).Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10<<10 {
		t.Fatalf("screenshot %s: %d bytes, err %v", shot, len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// A run in which no echo came back still draws: the latency chart says
// why it is empty, and the script finishes.
func TestHTMLReportWithoutLatencies(t *testing.T) {
	browser := testkit.Chromium(t)
	ep, _ := server(t, "tcp", staller{})
	o := quick(ep)
	o.Drain = 100 * time.Millisecond
	res := run(t, o)
	if res.Latency.Count != 0 {
		t.Fatalf("%d latencies from a server that reads nothing", res.Latency.Count)
	}
	dom, _, _ := openReport(t, browser, res)
	if !bytes.Contains(dom, []byte(`data-drawn="yes"`)) || !bytes.Contains(dom, []byte("no message due in the measured window came back")) {
		t.Errorf("the empty latency chart is not explained, or the script did not finish:\n%s", dom)
	}
}

// openReport writes res's HTML report to a file, opens it in headless
// Chromium and returns the DOM once the page's script has run, the page's
// path, and the browser's command line with its options, for more.
func openReport(t *testing.T, browser string, res *bench.Result) (dom []byte, page string, chromium func(args ...string) *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	page = filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := res.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	chromium = func(args ...string) *exec.Cmd {
		opts := []string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(dir, "profile")}
		return exec.CommandContext(ctx, browser, append(opts, args...)...)
	}
	dom, err := chromium("--dump-dom", "file://"+page).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	return dom, page, chromium
}
