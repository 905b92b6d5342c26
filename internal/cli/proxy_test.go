package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/proxy"
)

// Clients that send half a PROXY header and then nothing are reset once
// --proxy-timeout has passed, and the summary counts them.
func TestServeProxyHeaderTimeout(t *testing.T) {
	t.Parallel()
	const timeout, conns = 200 * time.Millisecond, 5
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0", "tls://127.0.0.1:0"}, ProxyProtocol: true, ProxyTimeout: timeout})
	start := time.Now()
	for i := range conns {
		c, err := net.DialTimeout("tcp", s.addrs[i%2].String(), testkit.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		c.Write([]byte("PROXY TCP4 192.0.2.1 "))
		n, err := io.Copy(io.Discard, c)
		var ne net.Error
		if n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection %d: %d bytes, %v; want a reset after %v", i, n, err, timeout)
		}
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("reset after %v, before --proxy-timeout %v", waited, timeout)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "summary", s.out.String(), "PROXY headers: 0 read; 0 connections rejected without a valid one, 5 without a whole one within --proxy-timeout\n")
}

// tls:// and wss:// with --proxy-protocol read the PROXY header first on
// the socket, before the TLS handshake, as HAProxy's send-proxy sends it,
// and serve the client it names.
func TestServeTLSBehindProxyHeader(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tls://127.0.0.1:0", "wss://127.0.0.1:0/ws", "ws://127.0.0.1:0/ws"}, ProxyProtocol: true, Verbose: true})
	real := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 44), Port: 5555}

	c, err := net.DialTimeout("tcp", s.addrs[0].String(), testkit.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	h, _ := proxy.Header(1, real, c.RemoteAddr())
	c.Write(h)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if _, err := tc.Write([]byte("through tls")); err != nil {
		t.Fatalf("TLS after the PROXY header: %v", err)
	}
	tc.CloseWrite()
	if got, err := io.ReadAll(tc); err != nil || string(got) != "through tls" {
		t.Fatalf("echo over tls:// behind a PROXY header: %q, %v", got, err)
	}
	tc.Close()

	for i := 1; i <= 2; i++ {
		ep := endpoint.MustParse(s.endpoint(i) + "/ws")
		cfg := layer.ClientConfig{TLS: &tls.Config{InsecureSkipVerify: true}, Preamble: func(_, remote net.Addr) ([]byte, error) {
			return proxy.Header(2, real, remote)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		wc, err := layer.Dial(ctx, ep, cfg, client.Options{ConnectTimeout: testkit.Timeout})
		if err != nil {
			t.Fatalf("%s behind a PROXY header: %v", ep, err)
		}
		var out bytes.Buffer
		err = client.Send(ctx, wc, []byte("through "+ep.Scheme), &out, client.SendOptions{Timeout: testkit.Timeout})
		wc.Close()
		if err != nil || out.String() != "through "+ep.Scheme {
			t.Fatalf("echo over %s behind a PROXY header: %q, %v", ep, out.String(), err)
		}
	}
	s.errOut.WaitFor(t, "PROXY v2 header: real client 192.0.2.44:5555")
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "narration", s.errOut.String(), "PROXY v1 header: real client 192.0.2.44:5555")
	testkit.MustContain(t, "summary", s.out.String(),
		"PROXY headers: 3 read; 0 connections rejected",
		"TLS handshakes: 2 completed, 0 failed")
}
