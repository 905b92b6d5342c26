//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// Behind a real HAProxy in TCP mode sending PROXY protocol v1
// (send-proxy), `sockit serve tls:// --proxy-protocol` reads the header
// first on the connection, then does the TLS handshake the client started
// through HAProxy, and sees the client as itself.
func TestTLSBehindHAProxy(t *testing.T) {
	needBinary(t)
	t.Parallel()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("no haproxy here (Debian package haproxy); CI installs it")
	}
	p, eps := serve(t, "tls://127.0.0.1:0", "--proxy-protocol", "-v")
	backend := strings.TrimPrefix(eps[0], "tls://")
	// HAProxy's front end is a socket this test listens on and hands over
	// ("bind fd@3"), as in TestBehindHAProxy.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 50
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  bind fd@3
  default_backend sockit
backend sockit
  server s1 %s send-proxy
`, backend)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.ExtraFiles = []*os.File{lf} // fd 3 in the child
	hp := testkit.Start(t, cmd)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 31)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("%v\nhaproxy:\n%s%s", err, hp.Stdout, hp.Stderr)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	msg := "hello over tls through haproxy"
	if _, err := tc.Write([]byte(msg)); err != nil {
		t.Fatalf("TLS through haproxy: %v\nserver:\n%s\nhaproxy:\n%s%s", err, p.Stderr, hp.Stdout, hp.Stderr)
	}
	tc.CloseWrite()
	got, err := io.ReadAll(tc)
	tc.Close()
	if err != nil || string(got) != msg {
		t.Fatalf("through haproxy: %q, %v\nserver:\n%s", got, err, p.Stderr)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.Wait(t, testkit.Timeout); code != 0 {
		t.Errorf("serve exit %d", code)
	}
	testkit.MustContain(t, "narration", p.Stderr.String(), "PROXY v1 header: real client 127.0.0.31:")
	testkit.MustContain(t, "summary", p.Stdout.String(), "PROXY headers: 1 read", "TLS handshakes: 1 completed, 0 failed")
}
