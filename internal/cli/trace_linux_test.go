package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// runTraceInBackground runs runTrace with opts until the test ends and
// returns once tracing has started.
func runTraceInBackground(t *testing.T, opts *TraceOptions) (out, errOut *testkit.Buffer) {
	t.Helper()
	out, errOut = new(testkit.Buffer), new(testkit.Buffer)
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
	case <-time.After(testkit.Timeout):
		t.Fatalf("runTrace not tracing after %s", testkit.Timeout)
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
	testkit.MustContain(t, "notice", errOut.String(), "polling sock_diag every 10ms", "not root", "no segments are shown", "Run as root")

	c, _ := testkit.Connect(t, ln)
	c.(*net.TCPConn).CloseWrite() // client FIN_WAIT_2, server CLOSE_WAIT: both last
	out.WaitFor(t, "→ FIN_WAIT_2")
	text := out.WaitFor(t, "→ CLOSE_WAIT")
	testkit.MustContain(t, "trace", text, "── connection #1: ", c.LocalAddr().String())
}

// As root, trace shows the handshake and teardown of a sockit send to
// sockit serve, segment by segment, with TIME_WAIT on the client.
func TestTraceAsRoot(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "the tracepoint and the packet capture")
	srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	port := srv.addrs[0].(*net.TCPAddr).Port
	for _, asJSON := range []bool{false, true} {
		out, errOut := runTraceInBackground(t, &TraceOptions{Target: itoaInt(port), JSON: asJSON})
		testkit.MustContain(t, "banner", errOut.String(), "tracepoint sock:inet_sock_set_state", "packet capture")
		send(t, srv.endpoint(0), "hello")
		if !asJSON {
			// Each line is waited for: the states (the tracepoint) and
			// the segments (the capture) come from two sources, and on a
			// loaded machine the capture can lag well behind.
			var text string
			for _, want := range []string{"── connection #1", "CLOSED → SYN_SENT", " SYN seq=0 win=", "SYN-ACK seq=0 ack=1 ",
				"SYN_SENT → ESTABLISHED after", "LISTEN → SYN_RECV", "ESTABLISHED → FIN_WAIT_1", "ESTABLISHED → CLOSE_WAIT",
				"CLOSE_WAIT → LAST_ACK", "FIN_WAIT_1 → FIN_WAIT_2", "LAST_ACK → CLOSED", "FIN_WAIT_2 → TIME_WAIT",
				"PSH-ACK seq=1 ack=1 win=", "len=6", "FIN-ACK seq=7 ack="} {
				text = out.WaitFor(t, want)
			}
			if strings.Contains(text, "connection #2") {
				t.Errorf("one connection traced as two:\n%s", text)
			}
			continue
		}
		out.WaitFor(t, `"to":"TIME_WAIT"`)
		// The segments come from the capture, which can lag the
		// tracepoint: wait for them too.
		testkit.Eventually(t, "≥ 9 state changes and ≥ 7 segments in the NDJSON", func() bool {
			kinds := ndjsonKinds(t, out.String())
			return kinds["state"] >= 9 && kinds["segment"] >= 7
		})
	}
}

// ndjsonKinds counts the steps of each kind in the whole lines of text.
func ndjsonKinds(t *testing.T, text string) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text[:strings.LastIndexByte(text, '\n')+1]))
	for sc.Scan() {
		var step map[string]any
		if err := json.Unmarshal(sc.Bytes(), &step); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		kind, _ := step["kind"].(string)
		kinds[kind]++
	}
	return kinds
}

func itoaInt(n int) string { return strconv.Itoa(n) }

// A port with nothing on it: trace says so, and waits.
func TestTraceSaysWhenNothingIsOnThePort(t *testing.T) {
	t.Parallel()
	port := emptyPort(t)
	_, errOut := runTraceInBackground(t, &TraceOptions{Target: ":" + port, isRoot: func() bool { return false }})
	testkit.MustContain(t, "notice", errOut.String(), "no TCP socket on port "+port+" yet (nothing listens or connects there)")
}

// failingWriter fails every write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// When its output cannot be written, trace stops on its own (and so cleans
// up): quietly for a reader that went away (EPIPE), with the error
// otherwise.
func TestTraceStopsWhenOutputFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string // "" = no error
	}{
		{err: syscall.EPIPE},
		{err: syscall.ENOSPC, want: "trace: write output: no space left on device"},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		opts := &TraceOptions{
			IO:       IOStreams{In: strings.NewReader(""), Out: failingWriter{err: tc.err}, ErrOut: io.Discard},
			Target:   ln.Addr().String(),
			Interval: 10 * time.Millisecond,
		}
		ready := make(chan struct{})
		opts.Ready = func() { close(ready) }
		done := make(chan error, 1)
		go func() { done <- runTrace(context.Background(), opts) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("runTrace returned before tracing: %v", err)
		}
		// A connection that lasts, so that even polling sees it.
		c, err := net.DialTimeout("tcp", ln.Addr().String(), testkit.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		timer := time.NewTimer(testkit.Timeout)
		select {
		case err := <-done:
			timer.Stop()
			if tc.want == "" && err != nil {
				t.Errorf("%v: runTrace = %v, want nil", tc.err, err)
			}
			if tc.want != "" {
				testkit.MustContain(t, "error", errorOf(t, err, ExitError), tc.want)
			}
		case <-timer.C:
			t.Fatalf("%v: runTrace still running %s after its output failed", tc.err, testkit.Timeout)
		}
	}
}

// TestTraceHelperProcess is sockit itself, run by TestTraceEndsCleanly in
// a process of its own.
func TestTraceHelperProcess(t *testing.T) {
	args := os.Getenv("SOCKIT_TEST_TRACE_ARGS")
	if args == "" {
		t.Skip("runs as sockit in a process of its own, for TestTraceEndsCleanly")
	}
	os.Args = append([]string{"sockit"}, strings.Fields(args)...)
	os.Exit(Main())
}

// sockit trace ends with exit 0 and leaves no tracefs instance behind when
// it is interrupted (Ctrl-C, SIGTERM), when its terminal goes away
// (SIGHUP) and when the reader of its output does (sockit trace | head).
func TestTraceEndsCleanly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal // 0: close the output pipe instead
	}{
		{name: "SIGINT", sig: syscall.SIGINT},
		{name: "SIGTERM", sig: syscall.SIGTERM},
		{name: "SIGHUP", sig: syscall.SIGHUP},
		{name: "closed pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTraceEndsCleanly(t, tc.sig)
		})
	}
}

func testTraceEndsCleanly(t *testing.T, sig syscall.Signal) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errOut := new(testkit.Buffer)
	cmd := testkit.HelperCommand("^TestTraceHelperProcess$", "SOCKIT_TEST_TRACE_ARGS=trace "+port)
	cmd.Stdout, cmd.Stderr = w, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill() // only the process this test started
			<-done
		}
	}()
	errOut.WaitFor(t, "Ctrl-C to stop.")
	if sig != 0 {
		go io.Copy(io.Discard, r) // ends when the child does
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	} else {
		r.Close()
		// A connection that lasts, so that even polling sees it: trace
		// writes about it and finds the pipe closed.
		c, err := net.DialTimeout("tcp", ln.Addr().String(), testkit.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	timer := time.NewTimer(testkit.Timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("sockit trace ended with %v, want exit 0\nstderr:\n%s", err, errOut)
		}
	case <-timer.C:
		t.Fatalf("sockit trace still running %s later\nstderr:\n%s", testkit.Timeout, errOut)
	}
	for _, root := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		left, _ := filepath.Glob(filepath.Join(root, "instances", "sockit-"+strconv.Itoa(cmd.Process.Pid)+"-*"))
		if len(left) > 0 {
			t.Errorf("tracefs instances left behind: %v", left)
		}
	}
}

// TestTraceWritePcap: trace -w writes the segments it shows, and tcpdump
// -r lists the same ones, in the same order, with the same addresses,
// flags and sequence numbers; --html draws an arrow for each of them.
func TestTraceWritePcap(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "the packet capture")
	tcpdump := testkit.Tcpdump(t)
	srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	port := srv.addrs[0].(*net.TCPAddr).Port
	file := filepath.Join(t.TempDir(), "trace.pcap")
	out, errOut := new(testkit.Buffer), new(testkit.Buffer)
	ready := make(chan struct{})
	opts := &TraceOptions{IO: IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}, Target: itoaInt(port), JSON: true,
		Interval: 10 * time.Millisecond, Write: file, HTML: filepath.Join(t.TempDir(), "ladder.html"), Ready: func() { close(ready) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runTrace(ctx, opts) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("runTrace: %v\n%s", err, errOut)
	case <-time.After(testkit.Timeout):
		t.Fatalf("trace not tracing after %s", testkit.Timeout)
	}
	send(t, srv.endpoint(0), "hello")
	out.WaitFor(t, `"to":"TIME_WAIT"`)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runTrace = %v\n%s", err, errOut)
	}
	type seg struct {
		Src, Dst, Flags string
		Seq, Ack        uint32
	}
	var segs []seg
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var step struct {
			Kind    string
			Segment *seg
		}
		if err := json.Unmarshal(sc.Bytes(), &step); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		if step.Segment != nil {
			segs = append(segs, *step.Segment)
		}
	}
	cmd := exec.Command(tcpdump, "-r", file, "-n", "-S")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", file, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(dump)), "\n")
	if len(segs) < 7 || len(lines) != len(segs) {
		t.Fatalf("trace showed %d segments, tcpdump -r lists %d (want the same, at least 7):\n%s\n%s", len(segs), len(lines), out, dump)
	}
	tcpdumpFlags := strings.NewReplacer("SYN", "S", "FIN", "F", "RST", "R", "PSH", "P", "ACK", ".", "-", "")
	for i, s := range segs {
		// tcpdump prints a host and port as 127.0.0.1.7007, and the
		// flags in its own order: F S R P then . for ACK.
		hostPort := func(ap string) string {
			i := strings.LastIndexByte(ap, ':')
			return ap[:i] + "." + ap[i+1:]
		}
		flags := tcpdumpFlags.Replace(s.Flags)
		want := []string{hostPort(s.Src) + " > " + hostPort(s.Dst), "Flags [" + flags + "]"}
		if flags != "." { // a bare ACK: tcpdump leaves out its seq
			want = append(want, "seq "+strconv.FormatUint(uint64(s.Seq), 10))
		}
		if strings.Contains(flags, ".") {
			want = append(want, "ack "+strconv.FormatUint(uint64(s.Ack), 10))
		}
		testkit.MustContain(t, "tcpdump's line "+itoaInt(i), lines[i], want...)
	}
	page, err := os.ReadFile(opts.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), `<g class="arrow `); n != len(segs) {
		t.Errorf("--html drew %d arrows for %d segments", n, len(segs))
	}
	testkit.MustContain(t, "--html page", string(page), "connection #1: ", ">SYN_SENT<", ">TIME_WAIT<")
	testkit.MustContain(t, "stderr", errOut.String(), "ladder diagrams of 1 connection in "+opts.HTML)
}
