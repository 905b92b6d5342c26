package testkit

import (
	"os/exec"
	"testing"
)

// Chromium returns the path of a Chromium (or Chrome) browser to run
// headless, or skips the test. CI installs Debian's chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium here (Debian: apt-get install chromium); CI installs it")
	return ""
}

// ChromeDriver returns the path of chromedriver, the WebDriver server for
// Chromium, or skips the test. CI installs Debian's chromium-driver.
func ChromeDriver(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Skip("no chromedriver here (Debian: apt-get install chromium-driver); CI installs it")
	}
	return p
}
