//go:build unix

package testkit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// BrowserTimeout bounds each wait on the browser: starting chromium is
// slow on a loaded machine.
const BrowserTimeout = 60 * time.Second

// Browser is a headless Chromium session driven over the W3C WebDriver
// protocol by a chromedriver child process, for tests that need what only
// a browser does: load a page, run its script, send the Origin of the
// page it runs in, and refuse what a server refuses.
type Browser struct {
	base    string // chromedriver's address
	session string
	client  *http.Client
}

// StartBrowser starts chromedriver (on a port it picks itself, --port=0,
// and says) in a process group of its own, and a headless Chromium session
// in it; both end, by the group's id, when the test ends. It skips the test
// when chromium or chromedriver is missing.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	driver, browser := ChromeDriver(t), Chromium(t)
	cmd := exec.Command(driver, "--port=0", "--allowed-ips=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := Start(t, cmd)
	b := &Browser{client: &http.Client{Timeout: BrowserTimeout, Transport: &http.Transport{DisableKeepAlives: true}}}
	t.Cleanup(func() {
		if b.session != "" {
			b.do("DELETE", "/session/"+b.session, nil, nil)
		}
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
	b.base = "http://127.0.0.1:" + m[1]
	Eventually(t, "chromedriver to be ready", func() bool {
		var status struct {
			Ready bool `json:"ready"`
		}
		return b.do("GET", "/status", nil, &status) == nil && status.Ready
	})
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
	if err := b.do("POST", "/session", caps, &created); err != nil {
		t.Fatalf("new browser session: %v", err)
	}
	b.session = created.SessionID
	b.Post(t, "/timeouts", map[string]int{"script": int(BrowserTimeout / time.Millisecond)}, nil)
	return b
}

// Open loads url, as a person typing it would.
func (b *Browser) Open(t testing.TB, url string) {
	t.Helper()
	b.Post(t, "/url", map[string]string{"url": url}, nil)
}

// Run runs script as the body of an async function in the page loaded
// last, with args as arguments[0…]; the script ends by calling
// arguments[arguments.length-1] with its result, which Run returns.
func (b *Browser) Run(t testing.TB, script string, args ...any) any {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	var out any
	b.Post(t, "/execute/async", map[string]any{"script": script, "args": args}, &out)
	return out
}

// CloseTab closes the current tab, as a person closing it would: its page
// unloads at once (navigating away may keep it in the back-forward cache,
// its sockets open). Switch to another tab (Post "/window") before the
// next command; closing the last one ends the session.
func (b *Browser) CloseTab(t testing.TB) {
	t.Helper()
	if err := b.do("DELETE", "/session/"+b.session+"/window", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Find returns the WebDriver id of the element matching a CSS selector.
func (b *Browser) Find(t testing.TB, css string) string {
	t.Helper()
	var el map[string]string
	b.Post(t, "/element", map[string]string{"using": "css selector", "value": css}, &el)
	for _, id := range el { // the key is the W3C element identifier
		return id
	}
	t.Fatalf("no element %s", css)
	return ""
}

// Screenshot is a PNG of the window.
func (b *Browser) Screenshot(t testing.TB) []byte {
	t.Helper()
	var shot string
	b.Get(t, "/screenshot", &shot)
	png, err := base64.StdEncoding.DecodeString(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG (%d bytes, %v)", len(png), err)
	}
	return png
}

// Post and Get make a request of the session (path after /session/ID)
// and decode the value of the answer into out (nil: dropped).
func (b *Browser) Post(t testing.TB, path string, body, out any) {
	t.Helper()
	if err := b.do("POST", "/session/"+b.session+path, body, out); err != nil {
		t.Fatal(err)
	}
}

func (b *Browser) Get(t testing.TB, path string, out any) {
	t.Helper()
	if err := b.do("GET", "/session/"+b.session+path, nil, out); err != nil {
		t.Fatal(err)
	}
}

// do makes one WebDriver request and decodes the "value" of its answer
// into out.
func (b *Browser) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
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
