package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// parseEvents parses an NDJSON stream, failing the test on a line that is
// not one JSON object of schema v1 from verb.
func parseEvents(t *testing.T, verb, stream string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stream))
	for sc.Scan() {
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
		}
		if o["v"] != float64(eventsVersion) || o["verb"] != verb || o["event"] == "" {
			t.Fatalf("line %q: want v %d, verb %q and an event", sc.Text(), eventsVersion, verb)
		}
		if _, err := time.Parse(time.RFC3339Nano, o["time"].(string)); err != nil {
			t.Fatalf("line %q: time: %v", sc.Text(), err)
		}
		objs = append(objs, o)
	}
	return objs
}

// findEvent returns the first object of event with all the fields of
// want, failing the test when there is none.
func findEvent(t *testing.T, objs []map[string]any, event string, want map[string]any) map[string]any {
	t.Helper()
next:
	for _, o := range objs {
		if o["event"] != event {
			continue
		}
		for k, v := range want {
			if o[k] != v {
				continue next
			}
		}
		return o
	}
	t.Fatalf("no %q event with %v among %d events:\n%v", event, want, len(objs), objs)
	return nil
}

// TestServeJSON: serve --json streams one object per socket step on
// standard output, in place of the banner, and ends with the summary; the
// counts match the run: one connection, 6 bytes each way.
func TestServeJSON(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Events: eventFlags{JSON: true}})
	c := testkit.Dial(t, "tcp", s.addrs[0].String())
	if err := testkit.RoundTrip(c, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	readAll(t, c)
	s.out.WaitFor(t, `"event":"closed"`)
	if err := s.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	out := s.out.String()
	if strings.Contains(out, "sockit serve:") || strings.Contains(out, "served ") {
		t.Errorf("the banner or the summary line went to standard output with --json:\n%s", out)
	}
	objs := parseEvents(t, "serve", out)
	local := s.addrs[0].String()
	findEvent(t, objs, "listening", map[string]any{"local": local, "net": "tcp", "service": "echo"})
	findEvent(t, objs, "listen", map[string]any{"net": "tcp"})
	findEvent(t, objs, "accept", map[string]any{"peer": c.LocalAddr().String()})
	findEvent(t, objs, "read", map[string]any{"size_bytes": 6.0})
	findEvent(t, objs, "write", map[string]any{"size_bytes": 6.0})
	findEvent(t, objs, "read", map[string]any{"size_bytes": 0.0}) // the FIN
	closed := findEvent(t, objs, "closed", map[string]any{"in_bytes": 6.0, "out_bytes": 6.0, "peer": c.LocalAddr().String()})
	if d, ok := closed["duration_us"].(float64); !ok || d < 0 {
		t.Errorf("closed event: duration_us = %v, want a number of µs", closed["duration_us"])
	}
	if last := objs[len(objs)-1]; last["event"] != "summary" {
		t.Errorf("last event = %v, want the summary", last)
	}
	findEvent(t, objs, "summary", map[string]any{"conns": 1.0, "in_bytes": 6.0, "out_bytes": 6.0})
}

// TestSendJSON: send's standard output carries the reply, so --json goes
// to standard error and --events FILE to the file; -v narration and the
// events are built from the same steps.
func TestSendJSON(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	file := filepath.Join(t.TempDir(), "events.ndjson")
	for _, tt := range []struct {
		name   string
		events eventFlags
	}{
		{name: "stderr", events: eventFlags{JSON: true}},
		{name: "file", events: eventFlags{Events: file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, out, errOut := sendOpts(s.endpoint(0), "hi")
			opts.Events = tt.events
			if err := runSend(context.Background(), opts); err != nil {
				t.Fatalf("runSend = %v\nstderr:\n%s", err, errOut)
			}
			if got := out.String(); got != "hi\n" {
				t.Errorf("standard output = %q, want the reply alone", got)
			}
			stream := errOut.String()
			if tt.events.Events != "" {
				if stream != "" {
					t.Errorf("standard error = %q with --events FILE, want nothing", stream)
				}
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				stream = string(b)
			}
			objs := parseEvents(t, "send", stream)
			findEvent(t, objs, "connect", map[string]any{"peer": s.addrs[0].String()})
			findEvent(t, objs, "connected", map[string]any{"peer": s.addrs[0].String()})
			findEvent(t, objs, "write", map[string]any{"size_bytes": 3.0})
			findEvent(t, objs, "read", map[string]any{"size_bytes": 3.0})
		})
	}
}

// TestSendJSONError: a refused connection is an event with the error and
// its kind.
func TestSendJSONError(t *testing.T) {
	t.Parallel()
	opts, _, errOut := sendOpts(refused(t), "hi")
	opts.Events = eventFlags{JSON: true}
	if err := runSend(context.Background(), opts); err == nil {
		t.Fatal("runSend to a refused port succeeded")
	}
	objs := parseEvents(t, "send", errOut.String())
	o := findEvent(t, objs, "error", map[string]any{"error_kind": "connection_refused"})
	if o["error"] == "" {
		t.Errorf("the error event has no error text: %v", o)
	}
	if last := objs[len(objs)-1]; last["event"] != "error" {
		t.Errorf("last event = %v, want the error", last)
	}
}

// TestEventsFileBad: --events naming a file that cannot be made is a
// usage error, before anything is served.
func TestEventsFileBad(t *testing.T) {
	t.Parallel()
	opts := &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Events: eventFlags{Events: filepath.Join(t.TempDir(), "no", "such", "dir", "e.ndjson")}}
	opts.IO = IOStreams{In: strings.NewReader(""), Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)}
	err := runServe(context.Background(), opts)
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--events") {
		t.Fatalf("runServe with --events in a missing directory = %v (exit %d), want a usage error naming --events", err, ExitCode(err))
	}
}

// TestRelayJSON: relay --json reports each relayed connection with its
// byte counts and ends with the summary.
func TestRelayJSON(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	out, errOut := new(testkit.Buffer), new(testkit.Buffer)
	ready := make(chan net.Addr, 1)
	opts := &RelayOptions{
		IO:   IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		From: "tcp://127.0.0.1:0", To: s.endpoint(0), ConnectTimeout: testkit.Timeout, Grace: testkit.Timeout,
		Events: eventFlags{JSON: true}, Ready: func(a net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runRelay(ctx, opts) }()
	var at net.Addr
	select {
	case at = <-ready:
	case err := <-done:
		t.Fatalf("runRelay: %v\n%s", err, errOut)
	case <-time.After(testkit.Timeout):
		t.Fatalf("relay not listening after %s", testkit.Timeout)
	}
	c := testkit.Dial(t, "tcp", at.String())
	if err := testkit.RoundTrip(c, []byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	readAll(t, c)
	out.WaitFor(t, `"event":"relayed"`)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runRelay: %v\n%s", err, errOut)
		}
	case <-time.After(testkit.Timeout):
		t.Fatalf("relay did not stop %s after cancel", testkit.Timeout)
	}
	objs := parseEvents(t, "relay", out.String())
	findEvent(t, objs, "listening", map[string]any{"local": at.String(), "target": s.endpoint(0)})
	findEvent(t, objs, "relayed", map[string]any{"client": c.LocalAddr().String(), "up_bytes": 5.0, "down_bytes": 5.0})
	findEvent(t, objs, "summary", map[string]any{"conns": 1.0, "up_bytes": 5.0, "down_bytes": 5.0, "failed_conns": 0.0})
}

// TestConnectJSON: connect --json streams the steps of a half-closed
// exchange to standard error, the data alone to standard output.
func TestConnectJSON(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out, errOut := connectOpts(s.endpoint(0), strings.NewReader("abc"))
	opts.Events = eventFlags{JSON: true}
	if err := runConnectBounded(t, context.Background(), opts); err != nil {
		t.Fatalf("runConnect = %v\nstderr:\n%s", err, errOut)
	}
	if got := out.String(); got != "abc" {
		t.Errorf("standard output = %q, want the echo alone", got)
	}
	objs := parseEvents(t, "connect", errOut.String())
	findEvent(t, objs, "connected", map[string]any{"peer": s.addrs[0].String()})
	findEvent(t, objs, "shutdown", map[string]any{"detail": "SHUT_WR"})
	findEvent(t, objs, "read", map[string]any{"size_bytes": 0.0})
}
