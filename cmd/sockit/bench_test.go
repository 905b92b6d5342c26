//go:build linux

package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// benchJSON runs `sockit bench args... --json` and decodes its result.
func benchJSON(t *testing.T, args ...string) (code int, res map[string]any, stderr string) {
	t.Helper()
	p := start(t, append(append([]string{"bench"}, args...), "--json")...)
	code = p.Wait(t, 60*time.Second)
	if err := json.Unmarshal([]byte(p.Stdout.String()), &res); err != nil {
		t.Fatalf("bench %v: output is not JSON (%v):\n%s\nstderr:\n%s", args, err, p.Stdout, p.Stderr)
	}
	return code, res, p.Stderr.String()
}

func num(m map[string]any, key string) uint64 {
	f, _ := m[key].(float64)
	return uint64(f)
}

var servedRE = regexp.MustCompile(`bytes in (\d+), bytes out (\d+)`)

// What bench sends and receives over TCP (one process and two), Unix and
// UDP adds up, to the byte, to what the server counted in its own summary.
func TestBenchTotalsEqualServerCounters(t *testing.T) {
	needBinary(t)
	unix := "unix://" + testkit.SockPath(t, "s.sock")
	// A closed loop from a few sockets is as fast as a datagram loop
	// between two services, which serve's per-source rate limit is there
	// to stop: lifted here, as for any benchmark on a trusted network.
	p, eps := serve(t, "tcp://127.0.0.1:0", "udp://127.0.0.1:0", unix, "--udp-rate", "0")
	if len(eps) != 3 {
		t.Fatalf("serve printed endpoints %v", eps)
	}
	var sent, recv uint64
	for _, args := range [][]string{
		{eps[0], "-c", "20", "--depth", "3"},
		{eps[0], "-c", "20", "--procs", "2", "--rate", "4000"},
		{eps[1], "-c", "4", "--depth", "4"},
		{eps[2], "-c", "10", "--size", "4096"},
	} {
		args = append(args, "-d", "700ms", "--warmup", "100ms")
		code, res, stderr := benchJSON(t, args...)
		if code != 0 {
			t.Fatalf("bench %v: exit %d\n%s", args, code, stderr)
		}
		v := res["verification"].(map[string]any)
		if num(v, "mismatched_msgs")+num(v, "missing_bytes")+num(v, "extra_bytes") != 0 || len(res["errors"].([]any)) != 0 {
			t.Fatalf("bench %v: verification %v, errors %v", args, v, res["errors"])
		}
		if num(res, "messages") == 0 {
			t.Fatalf("bench %v measured nothing", args)
		}
		sent += num(res, "total_sent_bytes")
		recv += num(res, "total_recv_bytes")
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	m := servedRE.FindStringSubmatch(p.Stdout.String())
	if m == nil {
		t.Fatalf("no byte counts in the server's summary:\n%s", p.Stdout)
	}
	in, _ := strconv.ParseUint(m[1], 10, 64)
	out, _ := strconv.ParseUint(m[2], 10, 64)
	if in != sent || out != recv {
		t.Errorf("server counted in %d / out %d; bench sent %d / received %d", in, out, sent, recv)
	}
}

// A server that corrupts one byte in a million is caught: exit 1, the
// first bad offset and both values in the report.
func TestBenchCatchesCorruptingServer(t *testing.T) {
	needBinary(t)
	addr := testkit.Serve(t, func(c net.Conn) { corruptEcho(c, 1_000_000) })
	p := start(t, "bench", addr.String(), "-c", "4", "--depth", "8", "--size", "512", "-d", "1s", "--warmup", "0s")
	code := p.Wait(t, 60*time.Second)
	out := p.Stdout.String()
	if code != 1 {
		t.Errorf("exit %d, want 1 for a failed verification\n%s\n%s", code, out, p.Stderr)
	}
	testkit.MustContain(t, "output", out, "first mismatch: connection", "of its stream: sent 0x")
	testkit.MustContain(t, "output", p.Stderr.String(), "verification failed")
	if !regexp.MustCompile(`[1-9][0-9 ]* mismatched messages?`).MatchString(out) {
		t.Errorf("no mismatch counted:\n%s", out)
	}
}

// corruptEcho echoes c, flipping a bit of every every-th byte.
func corruptEcho(c net.Conn, every int64) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := c.Read(buf)
		for i := 0; i < n; i++ {
			if (off+int64(i))%every == every-1 {
				buf[i] ^= 1
			}
		}
		off += int64(n)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err == io.EOF {
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
			return
		}
		if err != nil {
			return
		}
	}
}

// Nothing listening: the run counts the refusals, reports, and exits 3.
func TestBenchRefused(t *testing.T) {
	needBinary(t)
	code, out, stderr := run(t, "bench", testkit.Refused(t), "-c", "5", "-d", "200ms")
	if code != 3 {
		t.Errorf("exit %d, want 3\n%s\n%s", code, out, stderr)
	}
	testkit.MustContain(t, "output", out, "connect: connection refused", "0 opened of 5")
	if !strings.Contains(stderr, "no connection could be made") {
		t.Errorf("stderr: %s", stderr)
	}
}

// Bad flags are usage errors (exit 2) that name the problem.
func TestBenchBadFlags(t *testing.T) {
	needBinary(t)
	dead := testkit.Refused(t) // refuses, should a usage error get as far as a socket
	for _, args := range [][]string{
		{dead, "--mode", "mirror"},
		{dead, "--payload", "ones"},
		{dead, "--depth", "0"},
		{"udp://" + testkit.QuietUDP(t), "--size", "4"},
		{"tpc://" + dead},
	} {
		code, _, stderr := run(t, append([]string{"bench"}, args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "sockit: ") {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

// Rates that are not finite numbers and a --size that disagrees with the
// payload file are usage errors; without --size the file sets the size.
func TestBenchRateAndPayloadFlags(t *testing.T) {
	needBinary(t)
	dead := testkit.Refused(t) // refuses, should a usage error get as far as a socket
	file := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{dead, "--rate", "NaN"},
		{dead, "--rate", "+Inf"},
		{dead, "--connect-rate", "nan"},
		{dead, "--payload", "@" + file, "--size", "64"},
	} {
		code, _, stderr := run(t, append([]string{"bench"}, args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "sockit: ") {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
	echo := testkit.Serve(t, testkit.Echo)
	code, res, stderr := benchJSON(t, echo.String(), "-c", "2", "--payload", "@"+file, "-d", "200ms", "--warmup", "0s")
	if code != 0 || num(res, "size_bytes") != 1 || num(res, "messages") == 0 {
		t.Errorf("a 1-byte payload file: exit %d, size %d, %d messages\n%s", code, num(res, "size_bytes"), num(res, "messages"), stderr)
	}
}

// SIGTERM to the parent of a --procs run alone (not its process group,
// as a supervisor or `timeout` sends it) reaches the workers: the run ends
// early and still reports what it measured.
func TestBenchProcsSIGTERM(t *testing.T) {
	needBinary(t)
	// Each connection signals once its first message is echoed: the load
	// starts only when every connection of the worker is up, so after four
	// signals both workers count all their connections.
	loaded := make(chan struct{}, 4)
	addr := testkit.Serve(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		n, err := io.ReadFull(c, buf)
		if err == nil {
			_, err = c.Write(buf[:n])
		}
		if err != nil {
			return
		}
		loaded <- struct{}{}
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	p := start(t, "bench", addr.String(), "-c", "4", "--procs", "2", "-d", "1h", "--warmup", "0s", "--json")
	for i := 0; i < 4; i++ {
		select {
		case <-loaded:
		case <-time.After(testkit.Timeout):
			t.Fatalf("%d of 4 connections loaded after %v\n%s", i, testkit.Timeout, p.Stderr)
		}
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	code := p.Wait(t, 30*time.Second)
	var res map[string]any
	if err := json.Unmarshal([]byte(p.Stdout.String()), &res); err != nil {
		t.Fatalf("exit %d, output is not JSON (%v):\n%s\nstderr:\n%s", code, err, p.Stdout, p.Stderr)
	}
	if code != 0 || num(res, "procs") != 2 || num(res, "conns_up") != 4 {
		t.Errorf("exit %d, procs %d, %d connections up\n%s", code, num(res, "procs"), num(res, "conns_up"), p.Stderr)
	}
}
