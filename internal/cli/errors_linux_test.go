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

// TestPermissionLowPort serves on port 80 without privilege: exit code 4
// and the hint about ports below 1024. As root it runs the sockit binary as
// user nobody.
func TestPermissionLowPort(t *testing.T) {
	t.Parallel()
	if start := unprivilegedPortStart(t); start <= 80 {
		t.Skipf("net.ipv4.ip_unprivileged_port_start is %d: anyone may bind port 80 here", start)
	}
	if os.Geteuid() == 0 {
		permissionAsNobody(t)
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
}

// permissionAsNobody builds sockit and runs `sockit serve tcp://127.0.0.1:80`
// as user nobody.
func permissionAsNobody(t *testing.T) {
	dir, err := os.MkdirTemp("", "sockit-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // nobody must reach the binary
		t.Fatal(err)
	}
	bin, err := testkit.BuildSockit(dir)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skipf("running as root, and cannot build sockit to run as nobody: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "tcp://127.0.0.1:80")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := runBounded(t, cmd, testkit.Timeout)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
			t.Skipf("running as root, but cannot start a process as uid %d here: %v", nobody, err)
		}
		t.Fatalf("sockit serve tcp://127.0.0.1:80 as nobody: %v, want exit code %d\n%s", err, ExitLocalAddr, out)
	}
	if got := exit.ExitCode(); got != ExitLocalAddr {
		t.Errorf("sockit serve tcp://127.0.0.1:80 as nobody exited %d, want %d\n%s", got, ExitLocalAddr, out)
	}
	testkit.MustContain(t, "output", string(out), "sockit: listen tcp 127.0.0.1:80", "permission denied", lowPortHint)
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
