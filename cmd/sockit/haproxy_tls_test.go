//go:build linux

package main

import (
	"crypto/tls"
	"io"
	"net"
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
	p, eps := serve(t, "tls://127.0.0.1:0", "--proxy-protocol", "-v")
	front, hp := startHAProxy(t, strings.TrimPrefix(eps[0], "tls://"), "send-proxy", 50)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 31)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", front)
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
