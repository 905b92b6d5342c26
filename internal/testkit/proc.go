package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"
)

// RaceEnabled reports whether this test binary was built with -race: so
// that what it builds to run is built the same way.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// BuildSockit builds the sockit binary (cmd/sockit) into dir, with -race
// when this test binary has it, and returns its path. Without a go tool
// the error matches exec.ErrNotFound, for the caller to skip on. It gives
// up after ten minutes.
func BuildSockit(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go tool to build the sockit binary: %w", err)
	}
	bin := filepath.Join(dir, "sockit")
	args := []string{"build", "-o", bin}
	if RaceEnabled() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, append(args, "github.com/sockit/sockit/cmd/sockit")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// HelperCommand runs this test binary again with only the tests matching
// run selected (^$ for none, for a TestMain that acts on env), with env
// added to the environment: a helper process.
func HelperCommand(run string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Proc is a process a test started with Start.
type Proc struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *Buffer // what it writes, unless the caller set its own
	exited         chan struct{}
	err            error
}

// Start starts cmd, with its output in p.Stdout and p.Stderr unless the
// caller set cmd.Stdout or cmd.Stderr, and kills it by its PID when the
// test ends if it still runs. A Go binary built with -race that exits
// sleeps a second by default; Start turns that off (a race it finds still
// shows in its exit code 66 and its report on stderr).
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Stdout: new(Buffer), Stderr: new(Buffer), exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Stderr
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.Running() {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Wait waits up to limit for the process to exit and returns its exit
// code; past the limit it kills the process and fails the test, as it does
// if the process could not be waited for.
func (p *Proc) Wait(t testing.TB, limit time.Duration) int {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.Cmd.Process.Kill()
		<-p.exited
		t.Fatalf("%q still ran after %s; killed it\nstdout:\n%s\nstderr:\n%s", p.Cmd.Args, limit, p.Stdout, p.Stderr)
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		t.Fatalf("%q: %v", p.Cmd.Args, p.err)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// WaitFor waits until out, one of the process's outputs, contains want
// and returns its text; it fails the test if the process exits first.
func (p *Proc) WaitFor(t testing.TB, out *Buffer, want string) string {
	t.Helper()
	s, ok := out.WaitUntil(t, want, p.exited)
	if !ok {
		t.Fatalf("%q exited (%v) before printing %q:\n%s\nstderr:\n%s", p.Cmd.Args, p.err, want, s, p.Stderr)
	}
	return s
}
