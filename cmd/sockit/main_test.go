//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// bin is the sockit binary TestMain builds; skipReason says why there is
// none.
var bin, skipReason string

// TestMain builds the sockit binary the tests run, and fails the package
// if a test leaves a goroutine or a descriptor behind.
func TestMain(m *testing.M) { os.Exit(buildAndRun(m)) }

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sockit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err = testkit.BuildSockit(dir)
	if errors.Is(err, exec.ErrNotFound) {
		bin, skipReason = "", err.Error()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return testkit.Main(m)
}

func needBinary(t *testing.T) {
	t.Helper()
	if bin == "" {
		t.Skip(skipReason)
	}
}

// start runs the sockit binary with args (see testkit.Start).
func start(t *testing.T, args ...string) *testkit.Proc {
	t.Helper()
	return startIn(t, nil, args...)
}

// startIn is start with stdin as the process's standard input (nil: none).
func startIn(t *testing.T, stdin io.Reader, args ...string) *testkit.Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = stdin
	return testkit.Start(t, cmd)
}

// run runs sockit to completion and returns its exit code and outputs.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, args...)
	code = p.Wait(t, testkit.Timeout)
	return code, p.Stdout.String(), p.Stderr.String()
}

var listeningRE = regexp.MustCompile(`(?m)^  listening on (\S+)$`)

// serve starts `sockit serve args...` and returns the process and the
// endpoints it printed, in order, once the banner is complete.
func serve(t *testing.T, args ...string) (*testkit.Proc, []string) {
	t.Helper()
	p := start(t, append([]string{"serve"}, args...)...)
	banner := p.WaitFor(t, p.Stdout, "stop: ")
	var eps []string
	for _, m := range listeningRE.FindAllStringSubmatch(banner, -1) {
		eps = append(eps, m[1])
	}
	return p, eps
}

// TestHelpAndUsage runs the binary as a user would for help and for
// mistakes.
func TestHelpAndUsage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dead := testkit.Refused(t) // refuses, should a usage error get as far as a socket
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "Usage:"},
		{name: "serve help", args: []string{"serve", "--help"}, wantCode: 0, wantStdout: "sockit serve [ENDPOINT...]"},
		{name: "send help", args: []string{"send", "--help"}, wantCode: 0, wantStdout: "sockit send ENDPOINT MESSAGE..."},
		{name: "bad scheme", args: []string{"send", "tpc://x", "hi"}, wantCode: 2,
			wantStderr: `sockit: bad endpoint "tpc://x": unknown scheme "tpc" (want tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket, tls, ws, wss, http, https)`},
		{name: "missing message", args: []string{"send", dead}, wantCode: 2, wantStderr: "wrong number of arguments"},
		{name: "unknown command", args: []string{"bogus"}, wantCode: 2, wantStderr: `unknown command "bogus"`},
		{name: "unknown flag", args: []string{"serve", "--bogus"}, wantCode: 2, wantStderr: "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("sockit %q exited %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, out)
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, errOut)
			}
			if tt.wantCode == 0 && errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
		})
	}
}

// TestSendRefused checks the whole path of an error to the terminal: the
// message on stderr and exit code 3.
func TestSendRefused(t *testing.T) {
	needBinary(t)
	t.Parallel()
	addr := testkit.Refused(t)
	code, out, errOut := run(t, "send", addr, "hi")
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if want := "sockit: connect tcp " + addr + ": connection refused (nothing listens there) [ECONNREFUSED]\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}
