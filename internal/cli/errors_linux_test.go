//go:build linux

package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// lowPortHint is what the error for a port below 1024 must advise.
const lowPortHint = "ports below 1024 need root or CAP_NET_BIND_SERVICE"

// nobody is the unprivileged user the root-only path runs sockit as.
const nobody = 65534

// unixConnectHint is what the error for a socket file we may not write to
// must advise.
const unixConnectHint = "connecting needs write permission on the socket file"

// TestPermission checks the errors for what the user may not do: serve on
// port 80 (exit code 4, the hint about ports below 1024) and connect to a
// Unix socket file without write permission on it (exit code 3, not 4: the
// local side is fine). As root, which may do both, it runs the sockit
// binary as user nobody.
func TestPermission(t *testing.T) {
	t.Parallel()
	var asNobody func(t *testing.T, args ...string) (int, string)
	if os.Geteuid() == 0 {
		asNobody = nobodySockit(t)
	}

	t.Run("low port", func(t *testing.T) {
		t.Parallel()
		if start := unprivilegedPortStart(t); start <= 80 {
			t.Skipf("net.ipv4.ip_unprivileged_port_start is %d: anyone may bind port 80 here", start)
		}
		if asNobody != nil {
			code, out := asNobody(t, "serve", "tcp://127.0.0.1:80")
			if code != ExitLocalAddr {
				t.Errorf("sockit serve tcp://127.0.0.1:80 as nobody exited %d, want %d\n%s", code, ExitLocalAddr, out)
			}
			testkit.MustContain(t, "output", out, "sockit: listen tcp 127.0.0.1:80", "permission denied", lowPortHint)
			return
		}
		ready := false
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		opts := &ServeOptions{
			IO:        IOStreams{Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)},
			Endpoints: []string{"tcp://127.0.0.1:80"}, Service: "echo", Grace: time.Second,
			Ready: func([]net.Addr) { ready = true; cancel() },
		}
		err := runServe(ctx, opts)
		if ready {
			t.Skip("this process may bind port 80 (CAP_NET_BIND_SERVICE?): cannot test the permission error")
		}
		msg := errorOf(t, err, ExitLocalAddr)
		testkit.MustContain(t, "error", msg, "listen tcp 127.0.0.1:80", "permission denied", lowPortHint)
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("errors.Is(%v, os.ErrPermission) = false", err)
		}
	})

	t.Run("unix connect", func(t *testing.T) {
		t.Parallel()
		dir, err := os.MkdirTemp("", "sockit-perm-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil { // nobody must reach the socket file
			t.Fatal(err)
		}
		p := dir + "/s.sock"
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		mode := os.FileMode(0o600) // root's own: nobody may not write to it
		if asNobody == nil {
			mode = 0o400 // not even its owner may write to it, unless privileged
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		ep := "unix://" + p
		want := []string{"connect unix " + p, "permission denied", unixConnectHint}
		if asNobody != nil {
			code, out := asNobody(t, "send", ep, "hello")
			if code != ExitConnect {
				t.Errorf("sockit send %s hello as nobody exited %d, want %d\n%s", ep, code, ExitConnect, out)
			}
			testkit.MustContain(t, "output", out, want...)
			return
		}
		opts, _, _ := sendOpts(ep, "hello")
		err = runSend(context.Background(), opts)
		if err == nil {
			t.Skip("this process may write to a socket file of mode 0400 (CAP_DAC_OVERRIDE?): cannot test the permission error")
		}
		testkit.MustContain(t, "error", errorOf(t, err, ExitConnect), want...)
	})
}

// nobodySockit builds sockit, for the test and its subtests, and returns a
// function that runs it as user nobody and returns its exit code and
// output; the subtests skip when that cannot be done.
func nobodySockit(t *testing.T) func(t *testing.T, args ...string) (int, string) {
	dir, err := os.MkdirTemp("", "sockit-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // nobody must reach the binary
		t.Fatal(err)
	}
	bin, buildErr := testkit.BuildSockit(dir)
	if buildErr != nil && !errors.Is(buildErr, exec.ErrNotFound) {
		t.Fatal(buildErr)
	}
	return func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		if buildErr != nil {
			t.Skipf("running as root, and cannot build sockit to run as nobody: %v", buildErr)
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := runBounded(t, cmd, testkit.Timeout)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
				t.Skipf("running as root, but cannot start a process as uid %d here: %v", nobody, err)
			}
			t.Fatalf("sockit %s as nobody: %v, want it to fail\n%s", strings.Join(args, " "), err, out)
		}
		return exit.ExitCode(), string(out)
	}
}

// runBounded runs cmd, kills it if it is still running after limit, and
// returns its combined output.
func runBounded(t *testing.T, cmd *exec.Cmd, limit time.Duration) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	killer := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !killer.Stop() {
		t.Errorf("%s ran longer than %s and was killed", cmd, limit)
	}
	return out.Bytes(), err
}

// unprivilegedPortStart reads the lowest port anyone may bind, per ip(7).
func unprivilegedPortStart(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024 // kernels before 4.11 have no such knob
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("ip_unprivileged_port_start: %v", err)
	}
	return n
}
