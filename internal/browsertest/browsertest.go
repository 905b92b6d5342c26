//go:build unix

// Package browsertest drives a real headless Chromium, through
// chromedriver and the W3C WebDriver protocol, for tests that need what
// only a browser does: send the Origin of the page a script runs in, and
// refuse what a server refuses. Start skips the test, saying why, when
// chromium or chromedriver is missing (Debian: chromium, chromium-driver;
// CI installs them).
package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds each wait on the browser: starting chromium is slow on a
// loaded machine.
const Timeout = 60 * time.Second

// Browser is one browser session, ended with the test.
type Browser struct {
	base    string // chromedriver's address
	session string
	client  *http.Client
}

// Start starts chromedriver on a free loopback port, in a process group
// of its own, and a headless chromium session in it; both end, by the
// group's id, when the test ends. It skips the test when either program
// is missing.
func Start(t testing.TB) *Browser {
	t.Helper()
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Skip("chromedriver is not installed (Debian: apt-get install -y chromium chromium-driver)")
	}
	browser := "/usr/bin/chromium"
	if _, err := os.Stat(browser); err != nil {
		if browser, err = exec.LookPath("chromium"); err != nil {
			t.Skip("chromium is not installed (Debian: apt-get install -y chromium chromium-driver)")
		}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs syncBuffer
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	b := &Browser{
		base:   fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Timeout: Timeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	t.Cleanup(func() {
		if b.session != "" {
			b.do("DELETE", "/session/"+b.session, nil, nil)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group we made: chromedriver and its browsers
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(Timeout); ; {
		var status struct {
			Ready bool `json:"ready"`
		}
		if err := b.do("GET", "/status", nil, &status); err == nil && status.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready within %v:\n%s", Timeout, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			"args":   []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.do("POST", "/session", caps, &created); err != nil {
		t.Fatalf("new browser session: %v", err)
	}
	b.session = created.SessionID
	if err := b.do("POST", "/session/"+b.session+"/timeouts", map[string]int{"script": int(Timeout / time.Millisecond)}, nil); err != nil {
		t.Fatalf("set the script timeout: %v", err)
	}
	return b
}

// Open loads url in the browser, as a person typing it would.
func (b *Browser) Open(t testing.TB, url string) {
	t.Helper()
	if err := b.do("POST", "/session/"+b.session+"/url", map[string]string{"url": url}, nil); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
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
	if err := b.do("POST", "/session/"+b.session+"/execute/async", map[string]any{"script": script, "args": args}, &out); err != nil {
		t.Fatalf("run a script: %v", err)
	}
	return out
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
