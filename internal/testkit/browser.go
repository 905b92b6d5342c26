package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
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

// SaveArtifact writes data to a file called name for a person to look at
// after the test: in $SOCKIT_ARTIFACTS when set (CI keeps that directory),
// else in the test's temporary directory. It returns the path.
func SaveArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	dir := os.Getenv("SOCKIT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return p
}
