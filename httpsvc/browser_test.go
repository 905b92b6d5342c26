//go:build unix

package httpsvc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// Headless Chromium loads a page and a picture from --root, then the /ws
// page on the same port, whose WebSocket echoes what is typed.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	br := testkit.StartBrowser(t)
	dir := t.TempDir()
	files := map[string]string{
		"index.html": `<!doctype html><meta charset="utf-8"><title>files</title><p id="p">served by sockit</p><img id="img" src="dot.svg">`,
		"dot.svg":    `<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><circle cx="5" cy="5" r="5"/></svg>`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svc, addr := serve(t, engine.DefaultBackend, httpsvc.Options{Root: dir, WebSocket: ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/ws"})})
	br.Open(t, "http://"+addr+"/")
	got := br.Run(t, `const done = arguments[arguments.length-1];
		const img = document.getElementById("img");
		const report = () => done(document.getElementById("p").textContent + " " + img.naturalWidth);
		if (img.complete) report(); else img.onload = img.onerror = report;`)
	if got != "served by sockit 20" {
		t.Errorf("the page from --root: %v, want its text and the picture's width 20", got)
	}

	br.Open(t, "http://"+addr+"/ws")
	msg, send, logEl := br.Find(t, "#msg"), br.Find(t, "#send"), br.Find(t, "#log")
	testkit.Eventually(t, "the page to connect", func() bool {
		var enabled bool
		br.Get(t, "/element/"+send+"/enabled", &enabled)
		return enabled
	})
	br.Post(t, "/element/"+msg+"/value", map[string]string{"text": "over HTTP's port"}, nil)
	br.Post(t, "/element/"+send+"/click", map[string]string{}, nil)
	testkit.Eventually(t, "the echo in #log", func() bool {
		var text string
		br.Get(t, "/element/"+logEl+"/text", &text)
		return strings.Contains(text, `received 16 bytes: "over HTTP's port"`)
	})
	if out := os.Getenv("SOCKIT_ARTIFACTS"); out != "" && os.MkdirAll(out, 0o755) == nil {
		os.WriteFile(filepath.Join(out, "http-ws-page.png"), br.Screenshot(t), 0o644)
	}
	br.Open(t, "about:blank")
	testkit.Eventually(t, "the browser's requests to be counted", func() bool {
		st := svc.Stats()
		return st.Upgrades == 1 && st.Requests >= 3
	})
}
