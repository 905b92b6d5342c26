//go:build unix

package ws_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// The echo page works in a real browser: headless chromium, driven over
// the W3C WebDriver protocol by chromedriver, loads the page from the
// server, connects to the WebSocket on the same address, sends what a
// person types and shows the echo. Each backend gets a visit, and a
// screenshot is saved (to $SOCKIT_ARTIFACTS if set).
func TestEchoPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	br := testkit.StartBrowser(t)
	dir := os.Getenv("SOCKIT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	page := ws.EchoPage("/ws")
	opts := ws.ServerOptions{Path: "/ws", HTTP: func(r *ws.Request) (int, string, []byte) {
		if r.Path != "/" {
			return 0, "", nil
		}
		return 200, "text/html; charset=utf-8", page
	}}
	for _, b := range testkit.Backends() {
		t.Run(string(b), func(t *testing.T) {
			wsrv, addr := serve(t, b, ws.Echo{}, opts)
			br.Open(t, "http://"+addr+"/")
			msg, send, logEl := br.Find(t, "#msg"), br.Find(t, "#send"), br.Find(t, "#log")
			testkit.Eventually(t, "the page to connect", func() bool {
				var enabled bool
				br.Get(t, "/element/"+send+"/enabled", &enabled)
				return enabled
			})
			br.Post(t, "/element/"+msg+"/value", map[string]string{"text": "hello from chromium"}, nil)
			br.Post(t, "/element/"+send+"/click", map[string]string{}, nil)
			want := `received 19 bytes: "hello from chromium"`
			var text string
			testkit.Eventually(t, "the echo in #log", func() bool {
				br.Get(t, "/element/"+logEl+"/text", &text)
				return strings.Contains(text, want)
			})
			// Enter sends too (U+E007 is the WebDriver key for Enter).
			br.Post(t, "/element/"+msg+"/value", map[string]string{"text": "and Enter ✓\uE007"}, nil)
			testkit.Eventually(t, "the second echo in #log", func() bool {
				br.Get(t, "/element/"+logEl+"/text", &text)
				return strings.Contains(text, `received 13 bytes: "and Enter ✓"`)
			})
			for _, ev := range []string{"connecting to ws://" + addr + "/ws", "open", `sent 19 bytes: "hello from chromium"`} {
				if !strings.Contains(text, ev) {
					t.Errorf("#log lacks %q:\n%s", ev, text)
				}
			}
			name := "ws-echo-page.png"
			if b != engine.DefaultBackend {
				name = "ws-echo-page-" + string(b) + ".png"
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, br.Screenshot(t), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
			// Leave the page, so that the browser closes its connection.
			br.Open(t, "about:blank")
			if st := wsrv.Stats(); st.Upgrades != 1 || st.MessagesIn != 2 || st.HTTP < 1 {
				t.Errorf("server Stats = %+v, want 1 upgrade, 2 messages, the page served", st)
			}
		})
	}
}
