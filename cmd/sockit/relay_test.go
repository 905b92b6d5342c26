//go:build linux

package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var relayRE = regexp.MustCompile(`(?m)^sockit relay: (\S+) → `)

// sockit relay tcp → unix in front of sockit serve: send works through it,
// the relay prints each connection's bytes and its totals when stopped.
func TestRelayBinary(t *testing.T) {
	needBinary(t)
	unix := "unix://" + sockPath(t)
	srv, _ := serve(t, unix)
	r := start(t, "relay", "tcp://127.0.0.1:0", unix)
	banner := r.stdout.waitFor(t, r, "stop: ")
	m := relayRE.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no listening address in the banner:\n%s", banner)
	}
	code, out, stderr := run(t, "send", m[1], "through the relay")
	if code != 0 || out != "through the relay\n" {
		t.Fatalf("send: exit %d, %q, %s", code, out, stderr)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t, 10*time.Second); code != 0 {
		t.Errorf("relay exit %d\n%s", code, r.stderr)
	}
	mustContain(t, r.stdout.String(), "18 bytes → "+unix+", 18 bytes back", "relayed 1 connection (0 failed to connect); bytes → 18, bytes back 18")
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.wait(t, 10*time.Second)
}

// A stream cannot be relayed to datagrams: a usage error that says why.
func TestRelayMismatch(t *testing.T) {
	needBinary(t)
	code, _, stderr := run(t, "relay", "tcp://127.0.0.1:0", "udp://127.0.0.1:9")
	if code != 2 || !strings.Contains(stderr, "cannot relay between a stream") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// Listening where another server listens: exit 4 and the usual words.
func TestRelayAddressInUse(t *testing.T) {
	needBinary(t)
	_, eps := serve(t, "tcp://127.0.0.1:0")
	code, _, stderr := run(t, "relay", eps[0], "tcp://127.0.0.1:9")
	if code != 4 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, stderr %q; want 4 and address already in use", code, stderr)
	}
}
