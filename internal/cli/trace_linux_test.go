package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runTraceInBackground runs runTrace with opts until the test ends and
// returns once tracing has started.
func runTraceInBackground(t *testing.T, opts *TraceOptions) (out, errOut *syncBuffer) {
	t.Helper()
	out, errOut = new(syncBuffer), new(syncBuffer)
	opts.IO = IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	if opts.Interval == 0 {
		opts.Interval = 10 * time.Millisecond
	}
	ready := make(chan struct{})
	opts.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runTrace(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runTrace = %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("runTrace returned before tracing: %v\n%s", err, errOut)
	case <-time.After(waitLimit):
		t.Fatalf("runTrace not tracing after %s", waitLimit)
	}
	return out, errOut
}

// Without root, trace polls, says what that misses, and still shows the
// states that last.
func TestTracePollingSaysWhatIsMissed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, errOut := runTraceInBackground(t, &TraceOptions{Target: ln.Addr().String(), isRoot: func() bool { return false }})
	mustContain(t, "notice", errOut.String(), "polling sock_diag every 10ms", "not root", "no segments are shown", "Run as root")

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.(*net.TCPConn).CloseWrite() // client FIN_WAIT_2, server CLOSE_WAIT: both last
	out.waitFor(t, "→ FIN_WAIT_2")
	text := out.waitFor(t, "→ CLOSE_WAIT")
	mustContain(t, "trace", text, "── connection #1: ", c.LocalAddr().String())
}

// As root, trace shows the handshake and teardown of a sockit send to
// sockit serve, segment by segment, with TIME_WAIT on the client.
func TestTraceAsRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root for the tracepoint and the packet capture; CI runs this as root")
	}
	srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	port := srv.addrs[0].(*net.TCPAddr).Port
	for _, asJSON := range []bool{false, true} {
		out, errOut := runTraceInBackground(t, &TraceOptions{Target: itoaInt(port), JSON: asJSON})
		mustContain(t, "banner", errOut.String(), "tracepoint sock:inet_sock_set_state", "packet capture")
		send(t, srv.endpoint(0), "hello")
		if !asJSON {
			out.waitFor(t, "LAST_ACK → CLOSED")
			text := out.waitFor(t, "FIN_WAIT_2 → TIME_WAIT")
			mustContain(t, "trace", text, "── connection #1", "CLOSED → SYN_SENT", " SYN seq=0 win=", "SYN-ACK seq=0 ack=1 ",
				"SYN_SENT → ESTABLISHED after", "LISTEN → SYN_RECV", "ESTABLISHED → FIN_WAIT_1", "ESTABLISHED → CLOSE_WAIT",
				"CLOSE_WAIT → LAST_ACK", "FIN_WAIT_1 → FIN_WAIT_2", "PSH-ACK seq=1 ack=1 win=", "len=6", "FIN-ACK seq=7 ack=")
			continue
		}
		out.waitFor(t, `"to":"TIME_WAIT"`)
		kinds := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var step map[string]any
			if err := json.Unmarshal(sc.Bytes(), &step); err != nil {
				t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
			}
			kinds[step["kind"].(string)]++
		}
		if kinds["state"] < 9 || kinds["segment"] < 7 {
			t.Errorf("NDJSON kinds %v, want ≥ 9 state changes and ≥ 7 segments", kinds)
		}
	}
}

func itoaInt(n int) string { return strconv.Itoa(n) }
