//go:build unix

package main

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersion runs the built binary: --version and `version` print the
// same line, and `version --json` the build information behind it; a
// commit, where the build recorded one, is the checkout's.
func TestVersion(t *testing.T) {
	t.Parallel()
	needBinary(t)
	code, flag, stderr := run(t, "--version")
	if code != 0 || !strings.HasPrefix(flag, "sockit ") || !strings.Contains(flag, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("sockit --version = %d, %q (stderr %q); want sockit, its version, %s %s/%s", code, flag, stderr, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	if code, verb, _ := run(t, "version"); code != 0 || verb != flag {
		t.Errorf("sockit version = %d, %q; want what --version says, %q", code, verb, flag)
	}
	code, js, _ := run(t, "version", "--json")
	var in struct{ Module, Version, Commit, Go, OS, Arch string }
	if err := json.Unmarshal([]byte(js), &in); code != 0 || err != nil {
		t.Fatalf("sockit version --json = %d, %q: %v", code, js, err)
	}
	if in.Module != "github.com/sockit/sockit" || in.Version == "" || in.Go != runtime.Version() || in.OS != runtime.GOOS || in.Arch != runtime.GOARCH {
		t.Errorf("version --json = %+v", in)
	}
	if in.Commit == "" {
		t.Logf("this build recorded no commit (GOFLAGS=-buildvcs=false, or no git)")
		return
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("the build recorded commit %s, and git cannot say which is checked out: %v", in.Commit, err)
	}
	if want := strings.TrimSpace(string(head)); in.Commit != want {
		t.Errorf("version --json commit = %s, want the checkout's %s", in.Commit, want)
	}
}
