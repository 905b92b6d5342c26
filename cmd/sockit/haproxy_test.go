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
)

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Behind a real HAProxy sending PROXY protocol v2, two `sockit serve
// --reuseport --proxy-protocol` processes sharing one port see each
// client's own address, not HAProxy's.
func TestBehindHAProxy(t *testing.T) {
	needBinary(t)
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("no haproxy here (Debian package haproxy); CI installs it")
	}
	fe, be := freePort(t), freePort(t)
	backend := fmt.Sprintf("tcp://127.0.0.1:%d", be)
	var servers []*proc
	for i := 0; i < 2; i++ {
		p, _ := serve(t, backend, "--reuseport", "--proxy-protocol", "-v")
		servers = append(servers, p)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 200
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  bind 127.0.0.1:%d
  default_backend sockit
backend sockit
  server s1 127.0.0.1:%d send-proxy-v2
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
	// Wait until HAProxy listens (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", front)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s: %v\n%s", front, err, hlog.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener to appear
	}

	// Clients from 127.0.0.21 … 127.0.0.28: each must be seen as itself.
	var clients []string
	for i := 21; i <= 28; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := fmt.Sprintf("hello from 127.0.0.%d", i)
		c.Write([]byte(msg))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != msg {
			t.Fatalf("through haproxy: %q, %v", got, err)
		}
		clients = append(clients, fmt.Sprintf("real client 127.0.0.%d:", i))
	}
	var logs string
	for _, p := range servers {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Errorf("serve exit %d", code)
		}
		logs += p.stderr.String()
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
