//go:build linux

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

var (
	fingerprintRE = regexp.MustCompile(`(?m)^  TLS: a self-signed certificate for this session, SHA-256 ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$`)
	caFileRE      = regexp.MustCompile(`(?m)^\s+clients: --insecure, or --ca (\S+)$`)
	tlsSummaryRE  = regexp.MustCompile(`TLS handshakes: (\d+) completed, (\d+) failed \(not TLS (\d+), timeout 0, bad certificate (\d+), peer alert 0, peer closed (\d+), protocol 0\)`)
)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hostPort is the address part of a scheme://host:port[/path] endpoint.
func hostPort(t *testing.T, ep string) string {
	t.Helper()
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		t.Fatalf("endpoint %q: no host:port (%v)", ep, err)
	}
	return u.Host
}

// certFingerprint is the SHA-256 of the first certificate in a PEM file,
// in the banner's form.
func certFingerprint(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate:\n%s", path, data)
	}
	sum := sha256.Sum256(block.Bytes)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// rawDial connects to addr with a deadline on everything that follows.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	return testkit.Dial(t, "tcp", addr)
}

// readToEOF reads r, a connection's reader, until the server closes it; a
// reset counts as closed.
func readToEOF(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading until the server closes: got %q, then %v", b, err)
	}
	return b
}

// upgrade runs a WebSocket opening handshake by hand and returns the
// connection, positioned after the 101 response.
func upgrade(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := rawDial(t, addr)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, addr)
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answer %q, %v; want 101", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the 101 response head: %v", err)
		}
		if line == "\r\n" {
			return c, br
		}
	}
}

// closeCodeOf reads c until EOF, closes it, and returns the status code
// of the close frame the server sent. (A server that fails a connection
// sends FIN and waits, up to its linger time, for the client's.)
func closeCodeOf(t *testing.T, c net.Conn, br *bufio.Reader) int {
	t.Helper()
	rest := readToEOF(t, br)
	c.Close()
	// A server's close frame: FIN|close, unmasked length, code, reason.
	if len(rest) < 4 || rest[0] != 0x88 || int(rest[1]) != len(rest)-2 {
		t.Fatalf("the server sent %q, want one close frame with a code and nothing after it", rest)
	}
	return int(binary.BigEndian.Uint16(rest[2:4]))
}

// maskedFrame is a client's frame: FIN, opcode op, masked payload (length
// below 126).
func maskedFrame(op byte, payload []byte) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	f := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// sockit serve tls:// ws:// wss:// with the session's self-signed
// certificate: the banner names it; send, connect and bench speak each
// layer with --insecure or --ca; bad clients are closed with the right
// code and counted while the server keeps serving; the summary counts
// them; the --ca file is gone after exit.
func TestLayersServe(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tls://127.0.0.1:0", "ws://127.0.0.1:0/echo", "wss://127.0.0.1:0/ws")
	if len(eps) != 3 {
		t.Fatalf("banner lists endpoints %q, want 3:\n%s", eps, p.Stdout)
	}
	tlsEP, wsEP, wssEP := eps[0], eps[1], eps[2]
	for i, want := range []string{`^tls://127\.0\.0\.1:[1-9]\d*$`, `^ws://127\.0\.0\.1:[1-9]\d*/echo$`, `^wss://127\.0\.0\.1:[1-9]\d*/ws$`} {
		if !regexp.MustCompile(want).MatchString(eps[i]) {
			t.Errorf("endpoint %d is %q, want it to match %s", i, eps[i], want)
		}
	}
	banner := p.Stdout.String()
	fp, ca := fingerprintRE.FindStringSubmatch(banner), caFileRE.FindStringSubmatch(banner)
	if fp == nil || ca == nil {
		t.Fatalf("banner lacks the certificate's SHA-256 fingerprint or the --ca file:\n%s", banner)
	}
	caFile := ca[1]
	if got := certFingerprint(t, caFile); got != fp[1] {
		t.Errorf("the banner's fingerprint %s is not that of the certificate in %s, %s", fp[1], caFile, got)
	}
	testkit.MustContain(t, "output", banner, "sockit send "+tlsEP+" hello --insecure", "open http://"+hostPort(t, wsEP)+"/echo in a browser")

	t.Run("send", func(t *testing.T) {
		for _, ep := range eps {
			for _, trust := range [][]string{{"--insecure"}, {"--ca", caFile}} {
				args := append([]string{"send", ep, "hello", "layers", "--count", "2"}, trust...)
				code, out, errOut := run(t, args...)
				if want := "hello layers\nhello layers\n"; code != 0 || out != want {
					t.Errorf("sockit %q: exit %d, printed %q; want exit 0 and %q\nstderr:\n%s", args, code, out, want, errOut)
				}
			}
		}
	})

	t.Run("untrusted", func(t *testing.T) {
		// Without --insecure or --ca the self-signed certificate is
		// refused: exit 1 (the connection was made; its certificate was
		// not accepted), a message that says what to do, and no reply.
		for _, ep := range []string{tlsEP, wssEP} {
			code, out, errOut := run(t, "send", ep, "hello")
			if code != 1 || out != "" {
				t.Errorf("sockit send %s hello (no --insecure): exit %d, printed %q; want exit 1 and nothing", ep, code, out)
			}
			testkit.MustContain(t, "output", errOut, "sockit: tls tcp "+hostPort(t, ep)+": ", "certificate signed by unknown authority", "pass --ca FILE, or --insecure")
		}
	})

	t.Run("connect", func(t *testing.T) {
		for _, args := range [][]string{{wsEP}, {wssEP, "--ca", caFile}, {tlsEP, "--insecure"}} {
			in := "first line\nsecond line\n"
			c := startIn(t, strings.NewReader(in), append([]string{"connect"}, args...)...)
			if code := c.Wait(t, testkit.Timeout); code != 0 || c.Stdout.String() != in {
				t.Errorf("sockit connect %q with %q piped in: exit %d, printed %q; want exit 0 and the same lines\nstderr:\n%s",
					args, in, code, c.Stdout, c.Stderr)
			}
		}
	})

	t.Run("bench", func(t *testing.T) {
		for _, args := range [][]string{{wsEP}, {tlsEP, "--insecure"}, {wssEP, "--ca", caFile}} {
			args = append(args, "-c", "4", "-d", "500ms", "--warmup", "100ms")
			code, res, stderr := benchJSON(t, args...)
			if code != 0 {
				t.Fatalf("bench %q: exit %d\n%s", args, code, stderr)
			}
			v := res["verification"].(map[string]any)
			if num(v, "mismatched_msgs")+num(v, "missing_bytes")+num(v, "extra_bytes") != 0 || len(res["errors"].([]any)) != 0 {
				t.Errorf("bench %q: verification %v, errors %v", args, v, res["errors"])
			}
			if num(res, "messages") == 0 || num(res, "msgs_per_sec") == 0 {
				t.Errorf("bench %q measured no messages: %v", args, res)
			}
			if lat, ok := res["latency"].(map[string]any); !ok || num(lat, "count") == 0 {
				t.Errorf("bench %q: no latency: %v", args, res["latency"])
			}
		}
	})

	t.Run("page", func(t *testing.T) {
		// A browser's plain GET on the WebSocket port gets the echo page.
		for _, path := range []string{"/", "/echo"} {
			c := rawDial(t, hostPort(t, wsEP))
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/html\r\n\r\n", path, hostPort(t, wsEP))
			resp := string(readToEOF(t, c))
			head, body, _ := strings.Cut(resp, "\r\n\r\n")
			if !strings.HasPrefix(head, "HTTP/1.1 200 ") || !strings.Contains(head, "Content-Type: text/html") {
				t.Errorf("GET %s: response head\n%s\nwant 200 with text/html", path, head)
			}
			if !strings.Contains(head, fmt.Sprintf("Content-Length: %d", len(body))) {
				t.Errorf("GET %s: Content-Length does not match the %d-byte body:\n%s", path, len(body), head)
			}
			testkit.MustContain(t, "output", body, "<!doctype html>", "<title>sockit · WebSocket echo</title>", `const path = "/echo";`)
		}
	})

	// From here the server's counters are checked exactly: no subtest
	// runs in parallel with these.
	t.Run("garbage to tls", func(t *testing.T) {
		c := rawDial(t, hostPort(t, tlsEP))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		// crypto/tls sends no alert to a plain-text client: the
		// connection just ends.
		if b := readToEOF(t, c); len(b) != 0 && b[0] != 0x15 {
			t.Errorf("after plain text the TLS port sent %q, want nothing or an alert record", b)
		}
	})

	t.Run("unmasked frame", func(t *testing.T) {
		c, br := upgrade(t, hostPort(t, wsEP), "/echo")
		c.Write([]byte{0x81, 0x02, 'h', 'i'}) // RFC 6455 5.1: a client must mask
		if code := closeCodeOf(t, c, br); code != 1002 {
			t.Errorf("unmasked client frame: close code %d, want 1002 (protocol error)", code)
		}
	})

	t.Run("invalid utf-8", func(t *testing.T) {
		c, br := upgrade(t, hostPort(t, wsEP), "/echo")
		c.Write(maskedFrame(0x1, []byte{'o', 'k', 0xff, 0xfe}))
		if code := closeCodeOf(t, c, br); code != 1007 {
			t.Errorf("text frame with invalid UTF-8: close code %d, want 1007 (invalid payload)", code)
		}
	})

	// The server kept serving all three.
	for _, ep := range eps {
		if code, out, errOut := run(t, "send", ep, "still", "here", "--insecure"); code != 0 || out != "still here\n" {
			t.Errorf("after the bad clients, send %s: exit %d, %q\nstderr:\n%s", ep, code, out, errOut)
		}
	}

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, testkit.Timeout); code != 0 {
		t.Fatalf("after SIGTERM exit %d\nstderr:\n%s", code, p.Stderr)
	}
	out := p.Stdout.String()
	// The two clients that refused the certificate sent an alert, which
	// the server reads unless their close reset the connection first.
	m := tlsSummaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no TLS handshake summary in:\n%s", out)
	} else if m[2] != "3" || m[3] != "1" || atoi(t, m[4])+atoi(t, m[5]) != 2 {
		t.Errorf("TLS summary %q; want 3 failed: 1 not TLS, 2 with a bad certificate or closed by the client", m[0])
	}
	testkit.MustContain(t, "output", out,
		"2 pages served;",
		"2 connections closed for protocol errors (1002 protocol error: 1, 1007 invalid payload: 1)")
	if _, err := os.Stat(filepath.Dir(caFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after exit, the directory of the --ca file %s: %v; want it removed", caFile, err)
	}
}

// serve --max-message bounds a client's WebSocket message: one byte more
// closes that connection with 1009, counted; the server keeps serving.
func TestLayersMaxMessage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "ws://127.0.0.1:0/echo", "wss://127.0.0.1:0/", "--max-message", "100")
	if len(eps) != 2 {
		t.Fatalf("banner lists endpoints %q, want 2", eps)
	}
	fits := strings.Repeat("x", 99) // and the newline: 100 bytes
	for _, ep := range eps {
		if code, out, errOut := run(t, "send", ep, fits, "--insecure"); code != 0 || out != fits+"\n" {
			t.Errorf("send 100 bytes to %s: exit %d, %q\nstderr:\n%s", ep, code, out, errOut)
		}
		code, out, errOut := run(t, "send", ep, fits+"x", "--insecure")
		if code != 1 || out != "" {
			t.Errorf("send 101 bytes to %s: exit %d, printed %q; want exit 1 and nothing", ep, code, out)
		}
		testkit.MustContain(t, "output", errOut, "1009 message too big", "message longer than 100 bytes")
	}
	// A frame header that announces too much is refused before its payload.
	c, br := upgrade(t, hostPort(t, eps[0]), "/echo")
	c.Write([]byte{0x82, 0x80 | 126, 0x10, 0x00, 1, 2, 3, 4}) // binary, 4096 bytes, mask key
	if code := closeCodeOf(t, c, br); code != 1009 {
		t.Errorf("a 4096-byte frame header: close code %d, want 1009", code)
	}

	if code, _, errOut := run(t, "serve", "ws://127.0.0.1:0", "--max-message", "0"); code != 2 || !strings.Contains(errOut, "--max-message must be at least 1") {
		t.Errorf("serve --max-message 0: exit %d, stderr %q; want a usage error", code, errOut)
	}

	p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.Wait(t, testkit.Timeout); code != 0 {
		t.Fatalf("after SIGTERM exit %d\nstderr:\n%s", code, p.Stderr)
	}
	testkit.MustContain(t, "output", p.Stdout.String(), "3 connections closed for protocol errors (1009 message too big: 3)")
}

// A server that accepts and never answers: the TLS handshake and the
// WebSocket upgrade give up after --connect-timeout with exit code 3,
// rather than hang.
func TestLayersHandshakeTimeout(t *testing.T) {
	needBinary(t)
	t.Parallel()
	p, eps := serve(t, "tcp://127.0.0.1:0", "--service", "discard")
	addr := hostPort(t, eps[0])
	for _, tt := range []struct {
		ep, want string
	}{
		{ep: "tls://" + addr, want: "sockit: tls tcp " + addr + ": no TLS handshake within 300ms (--connect-timeout)\n"},
		{ep: "wss://" + addr + "/x", want: "sockit: tls tcp " + addr + ": no TLS handshake within 300ms (--connect-timeout)\n"},
		{ep: "ws://" + addr + "/x", want: "sockit: websocket tcp " + addr + ": no answer to the WebSocket upgrade request within 300ms (--connect-timeout)\n"},
	} {
		for _, verb := range []string{"send", "connect"} {
			args := []string{verb, tt.ep, "--insecure", "--connect-timeout", "300ms"}
			if verb == "send" {
				args = append(args, "hi")
			}
			c := startIn(t, strings.NewReader("hi\n"), args...)
			code := c.Wait(t, testkit.Timeout)
			if code != 3 || c.Stderr.String() != tt.want {
				t.Errorf("sockit %q: exit %d, stderr %q; want exit 3 and %q", args, code, c.Stderr, tt.want)
			}
		}
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.Wait(t, testkit.Timeout)
}
