//go:build linux

package main

import (
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

// Behind a real HAProxy sending PROXY protocol v2, two `sockit serve
// --reuseport --proxy-protocol` processes sharing one port see each
// client's own address, not HAProxy's.
func TestBehindHAProxy(t *testing.T) {
	needBinary(t)
	t.Parallel()
	// The first server takes a port, the second shares it (SO_REUSEPORT).
	first, eps := serve(t, "tcp://127.0.0.1:0", "--reuseport", "--proxy-protocol", "-v")
	second, _ := serve(t, eps[0], "--reuseport", "--proxy-protocol", "-v")
	servers := []*testkit.Proc{first, second}
	front, hp := startHAProxy(t, strings.TrimPrefix(eps[0], "tcp://"), "send-proxy-v2", 200)

	// Clients from 127.0.0.21 … 127.0.0.28: each must be seen as itself.
	var clients []string
	for i := 21; i <= 28; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", front)
		if err != nil {
			t.Fatalf("%v\nhaproxy:\n%s%s", err, hp.Stdout, hp.Stderr)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := fmt.Sprintf("hello from 127.0.0.%d", i)
		c.Write([]byte(msg))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != msg {
			t.Fatalf("through haproxy: %q, %v\nhaproxy:\n%s%s", got, err, hp.Stdout, hp.Stderr)
		}
		clients = append(clients, fmt.Sprintf("real client 127.0.0.%d:", i))
	}
	var logs string
	for _, p := range servers {
		p.Cmd.Process.Signal(syscall.SIGTERM)
		if code := p.Wait(t, 10*time.Second); code != 0 {
			t.Errorf("serve exit %d", code)
		}
		logs += p.Stderr.String()
	}
	for _, want := range clients {
		if !strings.Contains(logs, want) {
			t.Errorf("no server saw %q; their narration:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "rejected") {
		t.Errorf("a connection was rejected:\n%s", logs)
	}
}

// startHAProxy runs HAProxy in TCP mode in front of backend, sending it a
// PROXY header (proxyOpt: send-proxy or send-proxy-v2), and returns the
// address clients connect to. Its front end is a socket this test listens
// on and hands over ("bind fd@3"): it has its port from the start, and
// takes no port another test could have. It skips the test without
// haproxy.
func startHAProxy(t *testing.T, backend, proxyOpt string, maxconn int) (string, *testkit.Proc) {
	t.Helper()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("no haproxy here (Debian package haproxy); CI installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // the child keeps its own copy
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn %d
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  bind fd@3
  default_backend sockit
backend sockit
  server s1 %s %s
`, maxconn, backend, proxyOpt)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.ExtraFiles = []*os.File{lf} // fd 3 in the child
	return ln.Addr().String(), testkit.Start(t, cmd)
}
