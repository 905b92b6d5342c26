package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// holdStates leaves sockets on a new port in lasting states: LISTEN, two
// ESTABLISHED, FIN_WAIT_2 with CLOSE_WAIT, and TIME_WAIT on the side that
// closed first. It returns the port and a test for the sockets it made:
// another test's old TIME_WAIT may use the same port as its ephemeral one.
func holdStates(t *testing.T, host string) (string, func(local, remote string) bool) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ours := map[string]bool{ln.Addr().String() + " *:*": true}
	pair := func() (net.Conn, net.Conn) {
		c, s := testkit.Connect(t, ln)
		ours[c.LocalAddr().String()+" "+s.LocalAddr().String()] = true
		ours[s.LocalAddr().String()+" "+c.LocalAddr().String()] = true
		return c, s
	}
	pair()
	c, _ := pair()
	c.(*net.TCPConn).CloseWrite()
	c, s := pair()
	c.Close()
	readAll(t, s)
	s.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	keep := func(local, remote string) bool { return ours[local+" "+remote] }
	waitSettled(t, port, keep, heldStates)
	return port, keep
}

var heldStates = []string{"CLOSE_WAIT", "ESTABLISHED", "ESTABLISHED", "FIN_WAIT_2", "LISTEN", "TIME_WAIT"}

// waitSettled polls sock_diag until the sockets keep selects on port are
// in want: the peer's ACK of a FIN can take a delayed-ACK moment.
func waitSettled(t *testing.T, port string, keep func(local, remote string) bool, want []string) {
	t.Helper()
	p, _ := strconv.Atoi(port)
	deadline := time.Now().Add(testkit.Timeout)
	for backoff := 100 * time.Microsecond; ; backoff = min(2*backoff, 20*time.Millisecond) {
		socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: uint16(p)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range socks {
			if keep(s.Local.String(), remoteText(s)) {
				got = append(got, s.State.String())
			}
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: states %v after %s, want %v", port, got, testkit.Timeout, want)
		}
		time.Sleep(backoff) // polling the kernel's state with a deadline
	}
}

func TestWatchJSONMatchesSS(t *testing.T) {
	t.Parallel()
	ssPath, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("needs ss (Debian package iproute2) to compare with")
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		port, keep := holdStates(t, host)
		var out bytes.Buffer
		opts := &WatchOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: port, JSON: true, Once: true, Interval: time.Second}
		if err := runWatch(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		var got watchJSON
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v in:\n%s", err, out.String())
		}
		got.Sockets = slices.DeleteFunc(got.Sockets, func(s watchSocket) bool {
			return !keep(s.Local.String(), remoteText(tcpstate.Socket{State: s.State, Remote: s.Remote}))
		})
		if !slices.Equal(states(got), heldStates) {
			t.Fatalf("watch --json states %v, want %v", states(got), heldStates)
		}
		ssOut, err := exec.Command(ssPath, "-tanH", "( sport = :"+port+" or dport = :"+port+" )").Output()
		if err != nil {
			t.Fatalf("ss: %v", err)
		}
		if g, w := watchRows(got), ssRows(t, string(ssOut), keep); !slices.Equal(g, w) {
			t.Errorf("%s: watch --json:\n%s\nss -tan:\n%s", host, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		if got.Counts["TIME_WAIT"] < 1 || got.Total < 6 {
			t.Errorf("counts %v total %d, want at least 1 TIME_WAIT of 6", got.Counts, got.Total)
		}
	}
}

func states(w watchJSON) []string {
	var out []string
	for _, s := range w.Sockets {
		out = append(out, s.State.String())
	}
	slices.Sort(out)
	return out
}

// watchRows and ssRows put both outputs in one form: "STATE recvq sendq
// local peer", sorted.
func watchRows(w watchJSON) []string {
	var rows []string
	for _, s := range w.Sockets {
		peer := s.Remote.String()
		if s.State == tcpstate.Listen {
			peer = "*"
		}
		rows = append(rows, strings.Join([]string{s.State.String(), itoa(s.RecvQ), itoa(s.SendQ), s.Local.String(), peer}, " "))
	}
	slices.Sort(rows)
	return rows
}

func ssRows(t *testing.T, out string, keep func(local, remote string) bool) []string {
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Fatalf("ss line %q", line)
		}
		st, ok := tcpstate.ParseState(f[0])
		if !ok {
			t.Fatalf("ss state %q", f[0])
		}
		peer := f[4]
		if strings.HasSuffix(peer, ":*") {
			peer = "*"
		}
		if remote := strings.Replace(peer, "*", "*:*", 1); !keep(f[3], remote) {
			continue
		}
		rows = append(rows, strings.Join([]string{st.String(), f[1], f[2], f[3], peer}, " "))
	}
	slices.Sort(rows)
	return rows
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func TestWatchTable(t *testing.T) {
	t.Parallel()
	// An address of its own in 127/8: no other test's socket shares it.
	port, _ := holdStates(t, "127.77.0.1")
	var out bytes.Buffer
	opts := &WatchOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: "tcp://127.77.0.1:" + port, Interval: time.Second}
	if err := runWatch(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "watch table", out.String(), "STATE", "SEND-Q", "RECV-Q", "IN STATE", "LISTEN", "FIN_WAIT_2",
		"CLOSE_WAIT", "TIME_WAIT", "s left)", "6 sockets: 1 LISTEN, 2 ESTABLISHED, 1 FIN_WAIT_2, 1 TIME_WAIT, 1 CLOSE_WAIT")
}

func TestWatchAndTraceBadTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		want   string
	}{
		{target: "http", want: `bad endpoint "http"`},
		{target: "70000", want: "port 70000 is out of range"},
		{target: ":x1", want: `port "x1" is not a number`},
		{target: "0", want: "port 0 is not a port a connection uses"},
		{target: "udp://127.0.0.1:53", want: "only TCP has connection states"},
		{target: "unix:///tmp/x.sock", want: "only TCP has connection states"},
	} {
		var out bytes.Buffer
		err := runWatch(context.Background(), &WatchOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: tc.target, Interval: time.Second})
		testkit.MustContain(t, "watch error", errorOf(t, err, ExitUsage), tc.want)
		err = runTrace(context.Background(), &TraceOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: tc.target, Interval: time.Second})
		testkit.MustContain(t, "trace error", errorOf(t, err, ExitUsage), tc.want)
	}
}

// Every way to name a port selects it; an IP address also selects the
// address, IPv4-mapped or not; a host name does not, and says so.
func TestWatchTargetForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg   string
		port  uint16
		addr  string // "" = any
		label string
	}{
		{arg: "8080", port: 8080, label: "port 8080"},
		{arg: ":8080", port: 8080, label: "port 8080"},
		{arg: "tcp://:8080", port: 8080, label: "port 8080"},
		{arg: "tcp4://:8080", port: 8080, label: "port 8080"},
		{arg: "tcp://0.0.0.0:8080", port: 8080, label: "port 8080"},
		{arg: "tcp://[::]:8080", port: 8080, label: "port 8080"},
		{arg: "127.0.0.1:8080", port: 8080, addr: "127.0.0.1", label: "127.0.0.1:8080"},
		{arg: "tcp://127.0.0.1:8080", port: 8080, addr: "127.0.0.1", label: "127.0.0.1:8080"},
		{arg: "tcp://[::ffff:127.0.0.1]:8080", port: 8080, addr: "127.0.0.1", label: "127.0.0.1:8080"},
		{arg: "[::1]:8080", port: 8080, addr: "::1", label: "[::1]:8080"},
		{arg: "tcp6://[::1]:8080", port: 8080, addr: "::1", label: "[::1]:8080"},
		{arg: "localhost:8080", port: 8080, label: "port 8080 (any address: only an IP address, not a name, narrows it)"},
		{arg: "", port: 0, label: "all TCP sockets"},
	} {
		f, label, err := tcpTarget(tc.arg)
		if err != nil {
			t.Errorf("tcpTarget(%q): %v", tc.arg, err)
			continue
		}
		addr := ""
		if f.Addr.IsValid() {
			addr = f.Addr.String()
		}
		if f.Port != tc.port || addr != tc.addr || label != tc.label {
			t.Errorf("tcpTarget(%q) = port %d addr %q label %q; want %d %q %q", tc.arg, f.Port, addr, label, tc.port, tc.addr, tc.label)
		}
	}
}

// Through the command tree, with output that is not a terminal: one table,
// no escape codes, exit 0, on IPv6 too; and a port with nothing on it says
// so, in the table and in JSON.
func TestWatchCommandNotATerminal(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	testkit.Connect(t, ln)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	empty := ":" + emptyPort(t)

	for _, tc := range []struct {
		args  []string
		wants []string
	}{
		{args: []string{"watch", "tcp6://[::1]:" + port}, wants: []string{"STATE", "LISTEN       [::1]:" + port, "ESTABLISHED", "3 sockets: 1 LISTEN, 2 ESTABLISHED"}},
		// Every address: a TIME_WAIT of another test on 127.0.0.1 may share
		// the port number, so only this test's own sockets are pinned.
		{args: []string{"watch", port, "--interval", "10ms"}, wants: []string{"sockets: 1 LISTEN, 2 ESTABLISHED", "LISTEN       [::1]:" + port}},
		{args: []string{"watch", empty}, wants: []string{"no TCP sockets on port " + strings.TrimPrefix(empty, ":") + " (nothing listens or connects there)"}},
		{args: []string{"watch", "--json", "--once", empty}, wants: []string{`"sockets":[]`, `"total":0`, `"counts":{}`}},
	} {
		app, out, errOut := newTestApp()
		cmd := NewRootCmd(app)
		cmd.SetArgs(tc.args)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		err := cmd.ExecuteContext(ctx) // returns at once: not a terminal
		cancel()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, errOut)
		}
		testkit.MustContain(t, strings.Join(tc.args, " "), out.String(), tc.wants...)
		if strings.Contains(out.String(), "\x1b") {
			t.Errorf("%v: escape codes in output that is not a terminal:\n%q", tc.args, out.String())
		}
	}
}

// emptyPort returns a port no TCP socket uses, and that stays so until
// the test ends: a socket is bound to it and neither listens nor connects
// (testkit.Refused), which sock_diag (like ss -tan) does not show. A port
// another test's server had may still have a connection to it in
// TIME_WAIT (for 60s, per tcp(7)); such a port is passed over.
func emptyPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		_, port, _ := net.SplitHostPort(testkit.Refused(t))
		p, _ := strconv.Atoi(port)
		socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: uint16(p)})
		if err != nil {
			t.Fatal(err)
		}
		if len(socks) == 0 {
			return port
		}
	}
	t.Fatal("100 ports held in a row all had sockets in TIME_WAIT")
	return ""
}

// TestWatchSummaryGroupsProcess: the summary comes first (counts, the
// accept queue, TIME_WAIT time left), rows are grouped by peer and cut to
// the rows given with "… and N more", and PROCESS names this test's
// process for its own sockets.
func TestWatchSummaryGroupsProcess(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.78.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range 12 {
		testkit.Connect(t, ln)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var out bytes.Buffer
	opts := &WatchOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: "tcp://127.78.0.1:" + port, Interval: time.Second, Rows: 14}
	// The target's filter, as watch makes it: the port alone would also
	// select another test's sockets on the same port at another address
	// (a TIME_WAIT to 127.0.0.1 with it made this 26 sockets).
	f, _, err := tcpTarget(opts.Target)
	if err != nil {
		t.Fatal(err)
	}
	socks, err := tcpstate.Snapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	owners, _ := tcpstate.Owners()
	ages := newStateAges()
	ages.update(socks, time.Now())
	writeWatchSummary(&out, socks, "x")
	writeWatchTable(&out, socks, ages, owners, time.Now(), opts.Rows)
	text := out.String()
	testkit.MustContain(t, "watch", text, "25 sockets: 1 LISTEN, 24 ESTABLISHED", "  127.78.0.1:"+port+": accept queue 0 of backlog ",
		"PROCESS", strconv.Itoa(os.Getpid())+"/", "listening:", "peer 127.78.0.1: 12 sockets: 12 ESTABLISHED", "peer 127.0.0.1: 12 sockets: 12 ESTABLISHED", "… and ")
	if i, j := strings.Index(text, "25 sockets"), strings.Index(text, "STATE"); i > j {
		t.Errorf("the summary comes after the table:\n%s", text)
	}
	if n := strings.Count(text, "ESTABLISHED  "); n >= 24 {
		t.Errorf("%d ESTABLISHED rows in a table cut to %d rows:\n%s", n, opts.Rows, text)
	}
}

// TestWatchStateFilter: --state keeps the states named, in any spelling;
// an unknown one is a usage error that lists the states.
func TestWatchStateFilter(t *testing.T) {
	t.Parallel()
	port, _ := holdStates(t, "127.79.0.1")
	var out bytes.Buffer
	opts := &WatchOptions{IO: IOStreams{Out: &out, ErrOut: &out}, Target: "tcp://127.79.0.1:" + port, Interval: time.Second,
		States: []string{"time-wait", "Fin_Wait_2"}}
	if err := runWatch(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	testkit.MustContain(t, "watch --state", text, "2 sockets: 1 FIN_WAIT_2, 1 TIME_WAIT", "TIME_WAIT left: 0–10s ")
	if strings.Contains(text, "ESTABLISHED") || strings.Contains(text, "LISTEN ") {
		t.Errorf("--state time-wait,fin_wait_2 shows other states:\n%s", text)
	}
	opts.States = []string{"waiting"}
	err := runWatch(context.Background(), opts)
	testkit.MustContain(t, "bad --state", errorOf(t, err, ExitUsage), `--state "waiting" is not a TCP state`, "TIME_WAIT")
}

// TestWatchJSONStream: --json prints a snapshot a line every --interval
// until its context ends.
func TestWatchJSONStream(t *testing.T) {
	t.Parallel()
	port, _ := holdStates(t, "127.80.0.1")
	out := new(testkit.Buffer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	opts := &WatchOptions{IO: IOStreams{Out: out, ErrOut: out}, Target: "tcp://127.80.0.1:" + port, JSON: true, Interval: 20 * time.Millisecond}
	go func() { done <- runWatch(ctx, opts) }()
	testkit.Eventually(t, "three snapshots", func() bool { return strings.Count(out.String(), "\n") >= 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("watch --json did not stop with its context")
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var snap watchJSON
		if err := json.Unmarshal([]byte(line), &snap); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if snap.Total != 6 || len(snap.TimeWaitLeft) != 6 {
			t.Errorf("snapshot %d: total %d, TIME_WAIT bins %v; want 6 sockets and 6 bins", i, snap.Total, snap.TimeWaitLeft)
		}
		for _, s := range snap.Sockets {
			if s.State == tcpstate.Listen && (s.PID != os.Getpid() || s.Process == "") {
				t.Errorf("snapshot %d: the listener's pid %d process %q, want this process", i, s.PID, s.Process)
			}
		}
	}
}
