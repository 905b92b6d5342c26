//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// TestLadderInChromium: the --html page, drawn by a real Chromium at 1024
// and 1600 px, fits the width, draws an arrow per segment running from its
// sender's lifeline to the other's, and a state box per state change.
// Screenshots are kept as artifacts ($SOCKIT_ARTIFACTS in CI).
func TestLadderInChromium(t *testing.T) {
	b := testkit.StartBrowser(t)
	var l ladder
	for _, st := range handshakeSteps() {
		l.add(st)
	}
	page := filepath.Join(t.TempDir(), "ladder.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.write(f, "sockit trace 7007", time.Now()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, width := range []int{1024, 1600} {
		b.Post(t, "/window/rect", map[string]int{"width": width, "height": 1000}, nil)
		b.Open(t, "file://"+page)
		got := b.Run(t, `
			const done = arguments[arguments.length-1];
			const svg = document.querySelector('svg.ladder');
			const lives = [...svg.querySelectorAll('line.life')].map(l => l.getBoundingClientRect().left);
			const arrows = [...svg.querySelectorAll('g.arrow line')].map(l => {
				const r = l.getBoundingClientRect();
				return {x1: +l.getAttribute('x1'), x2: +l.getAttribute('x2'), w: r.width};
			});
			done({
				inner: window.innerWidth,
				scroll: document.documentElement.scrollWidth,
				svgRight: svg.getBoundingClientRect().right,
				arrows: arrows.length,
				boxes: svg.querySelectorAll('g.box').length,
				lifeGap: lives[1] - lives[0],
				shortest: Math.min(...arrows.map(a => a.w)),
			});`).(map[string]any)
		inner, scroll := got["inner"].(float64), got["scroll"].(float64)
		if scroll > inner {
			t.Errorf("at %d px: the page is %v px wide in a %v px window: it scrolls sideways", width, scroll, inner)
		}
		if got["svgRight"].(float64) > inner {
			t.Errorf("at %d px: the ladder ends at %v px, past the window's %v", width, got["svgRight"], inner)
		}
		if got["arrows"].(float64) != 9 || got["boxes"].(float64) != 10 {
			t.Errorf("at %d px: %v arrows and %v boxes drawn, want 9 and 10", width, got["arrows"], got["boxes"])
		}
		// Every arrow spans the two lifelines, which stand well apart.
		if gap := got["lifeGap"].(float64); gap < 300 || got["shortest"].(float64) < gap*0.9 {
			t.Errorf("at %d px: lifelines %v px apart, shortest arrow %v px wide; want arrows from one to the other", width, gap, got["shortest"])
		}
		p := testkit.SaveArtifact(t, "trace-ladder-"+strconv.Itoa(width)+".png", b.Screenshot(t))
		t.Logf("screenshot at %d px: %s", width, p)
	}
}
