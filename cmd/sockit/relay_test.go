//go:build linux

package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

var relayRE = regexp.MustCompile(`(?m)^sockit relay: (\S+) → `)

// sockit relay tcp → unix in front of sockit serve: send works through it,
// the relay prints each connection's bytes and its totals when stopped.
func TestRelayBinary(t *testing.T) {
	needBinary(t)
	t.Parallel()
	unix := "unix://" + testkit.SockPath(t, "s.sock")
	srv, _ := serve(t, unix)
	r := start(t, "relay", "tcp://127.0.0.1:0", unix)
	banner := r.WaitFor(t, r.Stdout, "stop: ")
	m := relayRE.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no listening address in the banner:\n%s", banner)
	}
	code, out, stderr := run(t, "send", m[1], "through the relay")
	if code != 0 || out != "through the relay\n" {
		t.Fatalf("send: exit %d, %q, %s", code, out, stderr)
	}
	r.Cmd.Process.Signal(syscall.SIGTERM)
	if code := r.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("relay exit %d\n%s", code, r.Stderr)
	}
	testkit.MustContain(t, "output", r.Stdout.String(), "18 bytes → "+unix+", 18 bytes back", "relayed 1 connection (0 failed to connect); bytes → 18, bytes back 18")
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	srv.Wait(t, 10*time.Second)
}

// relay --max-conns 1: while one connection is forwarded, a second client
// is reset at once, with a warning, and counted in the totals.
func TestRelayMaxConnsBinary(t *testing.T) {
	needBinary(t)
	t.Parallel()
	_, eps := serve(t, "tcp://127.0.0.1:0")
	r := start(t, "relay", "tcp://127.0.0.1:0", eps[0], "--max-conns", "1")
	m := relayRE.FindStringSubmatch(r.WaitFor(t, r.Stdout, "stop: "))
	if m == nil {
		t.Fatalf("no listening address in the banner:\n%s", r.Stdout)
	}
	held := testkit.Dial(t, "tcp", strings.TrimPrefix(m[1], "tcp://"))
	if err := testkit.RoundTrip(held, []byte("held")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "send", m[1], "one too many")
	if code != 3 || !strings.Contains(stderr, "reset") {
		t.Errorf("send beyond --max-conns: exit %d, stderr %q; want 3 and a reset", code, stderr)
	}
	r.WaitFor(t, r.Stderr, "connection reset: 1 connection was being forwarded, the most --max-conns allows (1 refused so far)")
	held.Close()
	r.Cmd.Process.Signal(syscall.SIGTERM)
	if code := r.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("relay exit %d\n%s", code, r.Stderr)
	}
	testkit.MustContain(t, "output", r.Stdout.String(), "reset 1 client at once at --max-conns")
}

// A stream cannot be relayed to datagrams: a usage error that says why.
func TestRelayMismatch(t *testing.T) {
	needBinary(t)
	t.Parallel()
	code, _, stderr := run(t, "relay", "tcp://127.0.0.1:0", "udp://"+testkit.QuietUDP(t))
	if code != 2 || !strings.Contains(stderr, "cannot relay between a stream") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// Listening where another server listens: exit 4 and the usual words.
func TestRelayAddressInUse(t *testing.T) {
	needBinary(t)
	t.Parallel()
	_, eps := serve(t, "tcp://127.0.0.1:0")
	code, _, stderr := run(t, "relay", eps[0], "tcp://"+testkit.Refused(t))
	if code != 4 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, stderr %q; want 4 and address already in use", code, stderr)
	}
}
