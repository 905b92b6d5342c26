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
)

// Behind a real HAProxy in TCP mode sending PROXY protocol v1
// (send-proxy), `sockit serve tls:// --proxy-protocol` reads the header
// first on the connection, then does the TLS handshake the client started
// through HAProxy, and sees the client as itself.
func TestTLSBehindHAProxy(t *testing.T) {
	needBinary(t)
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("no haproxy here (Debian package haproxy); CI installs it")
	}
	fe, be := freePort(t), freePort(t)
	p, _ := serve(t, fmt.Sprintf("tls://127.0.0.1:%d", be), "--proxy-protocol", "-v")
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 50
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  bind 127.0.0.1:%d
  default_backend sockit
backend sockit
  server s1 127.0.0.1:%d send-proxy
`, fe, be)), 0o600)
	hp := exec.Command(haproxy, "-db", "-f", cfg)
	var hlog strings.Builder
	hp.Stdout, hp.Stderr = &hlog, &hlog
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hp.Process.Kill()
		hp.Wait()
	})
	front := fmt.Sprintf("127.0.0.1:%d", fe)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 31)}, Timeout: 5 * time.Second}
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = d.Dial("tcp", front); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s: %v\n%s", front, err, hlog.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener to appear
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	msg := "hello over tls through haproxy"
	if _, err := tc.Write([]byte(msg)); err != nil {
		t.Fatalf("TLS through haproxy: %v\nserver:\n%s\nhaproxy:\n%s", err, p.stderr, hlog.String())
	}
	tc.CloseWrite()
	got, err := io.ReadAll(tc)
	tc.Close()
	if err != nil || string(got) != msg {
		t.Fatalf("through haproxy: %q, %v\nserver:\n%s", got, err, p.stderr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("serve exit %d", code)
	}
	mustContain(t, p.stderr.String(), "PROXY v1 header: real client 127.0.0.31:")
	mustContain(t, p.stdout.String(), "PROXY headers: 1 read", "TLS handshakes: 1 completed, 0 failed")
}
