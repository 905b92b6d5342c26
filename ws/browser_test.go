//go:build unix

package ws_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// browserTimeout bounds each wait on the browser: starting chromium is
// slow on a loaded machine.
const browserTimeout = 60 * time.Second

// The echo page works in a real browser: headless chromium, driven over
// the W3C WebDriver protocol by chromedriver, loads the page from the
// server, connects to the WebSocket on the same address, sends what a
// person types and shows the echo. Each backend gets a visit, and a
// screenshot is saved (to $SOCKIT_ARTIFACTS if set).
func TestEchoPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	driver, browser := testkit.ChromeDriver(t), testkit.Chromium(t)
	dir := os.Getenv("SOCKIT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	wd := startDriver(t, driver)
	sess := wd.newSession(t, browser)
	defer sess.delete(t)

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
			sess.post(t, "/url", map[string]string{"url": "http://" + addr + "/"}, nil)
			msg, send, logEl := sess.find(t, "#msg"), sess.find(t, "#send"), sess.find(t, "#log")
			testkit.Eventually(t, "the page to connect", func() bool {
				var enabled bool
				sess.get(t, "/element/"+send+"/enabled", &enabled)
				return enabled
			})
			sess.post(t, "/element/"+msg+"/value", map[string]string{"text": "hello from chromium"}, nil)
			sess.post(t, "/element/"+send+"/click", map[string]string{}, nil)
			want := `received 19 bytes: "hello from chromium"`
			var text string
			testkit.Eventually(t, "the echo in #log", func() bool {
				sess.get(t, "/element/"+logEl+"/text", &text)
				return strings.Contains(text, want)
			})
			// Enter sends too (U+E007 is the WebDriver key for Enter).
			sess.post(t, "/element/"+msg+"/value", map[string]string{"text": "and Enter ✓\uE007"}, nil)
			testkit.Eventually(t, "the second echo in #log", func() bool {
				sess.get(t, "/element/"+logEl+"/text", &text)
				return strings.Contains(text, `received 13 bytes: "and Enter ✓"`)
			})
			for _, ev := range []string{"connecting to ws://" + addr + "/ws", "open", `sent 19 bytes: "hello from chromium"`} {
				if !strings.Contains(text, ev) {
					t.Errorf("#log lacks %q:\n%s", ev, text)
				}
			}
			var shot string
			sess.get(t, "/screenshot", &shot)
			png, err := base64.StdEncoding.DecodeString(shot)
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("screenshot is not a PNG (%d bytes, %v)", len(png), err)
			}
			name := "ws-echo-page.png"
			if b != engine.DefaultBackend {
				name = "ws-echo-page-" + string(b) + ".png"
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
			// Leave the page, so that the browser closes its connection.
			sess.post(t, "/url", map[string]string{"url": "about:blank"}, nil)
			if st := wsrv.Stats(); st.Upgrades != 1 || st.MessagesIn != 2 || st.HTTP < 1 {
				t.Errorf("server Stats = %+v, want 1 upgrade, 2 messages, the page served", st)
			}
		})
	}
}

// webDriver is a chromedriver child process and a client for it.
type webDriver struct {
	base   string
	client *http.Client
}

// startDriver starts chromedriver on a port it picks itself (--port=0)
// and says, in a process group of its own so that it and the browsers it
// starts are ended together, by its PID, when the test ends.
func startDriver(t *testing.T, path string) *webDriver {
	t.Helper()
	cmd := exec.Command(path, "--port=0", "--allowed-ips=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := testkit.Start(t, cmd)
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group we made: chromedriver and its browsers
		<-p.Exited()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s%s", p.Stdout, p.Stderr)
		}
	})
	started := p.WaitFor(t, p.Stdout, "was started successfully on port ")
	m := regexp.MustCompile(`was started successfully on port (\d+)\.`).FindStringSubmatch(started)
	if m == nil {
		t.Fatalf("chromedriver did not say which port it listens on:\n%s", started)
	}
	wd := &webDriver{
		base:   "http://127.0.0.1:" + m[1],
		client: &http.Client{Timeout: browserTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	testkit.Eventually(t, "chromedriver to be ready", func() bool {
		var status struct {
			Ready bool `json:"ready"`
		}
		return wd.do("GET", "/status", nil, &status) == nil && status.Ready
	})
	return wd
}

// do makes one WebDriver request and decodes the "value" of its answer
// into out.
func (wd *webDriver) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, answer.Value)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(answer.Value, out)
}

// session is one WebDriver session: a browser.
type session struct {
	wd *webDriver
	id string
}

func (wd *webDriver) newSession(t *testing.T, browser string) *session {
	t.Helper()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			"args":   []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,640"},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.do("POST", "/session", caps, &created); err != nil {
		t.Fatalf("new session: %v", err)
	}
	return &session{wd: wd, id: created.SessionID}
}

func (s *session) delete(t *testing.T) {
	if err := s.wd.do("DELETE", "/session/"+s.id, nil, nil); err != nil {
		t.Errorf("delete session: %v", err)
	}
	s.wd.client.CloseIdleConnections()
}

func (s *session) post(t *testing.T, path string, body, out any) {
	t.Helper()
	if err := s.wd.do("POST", "/session/"+s.id+path, body, out); err != nil {
		t.Fatal(err)
	}
}

func (s *session) get(t *testing.T, path string, out any) {
	t.Helper()
	if err := s.wd.do("GET", "/session/"+s.id+path, nil, out); err != nil {
		t.Fatal(err)
	}
}

// find returns the WebDriver id of the element matching a CSS selector.
func (s *session) find(t *testing.T, css string) string {
	t.Helper()
	var el map[string]string
	s.post(t, "/element", map[string]string{"using": "css selector", "value": css}, &el)
	for _, id := range el { // the key is the W3C element identifier
		return id
	}
	t.Fatalf("no element %s", css)
	return ""
}
