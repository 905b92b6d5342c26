package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/icmpwatch"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// The socket API lab from the command line: each flag of send, connect
// and serve that chooses a call, and what -v and -vv then show.

// Urgent data sent with --oob reaches serve's narration as urgent, never
// dropped silently; --recv-flags peek narrates recv(MSG_PEEK) before each
// read; -vv shows the bytes of each read and write on both sides.
func TestLabUrgentPeekAndPreview(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Verbose: true, Preview: true})
	opts, out, errOut := sendOpts(s.endpoint(0), "abc")
	opts.Verbose, opts.Preview = true, true
	opts.API = apiFlags{OOB: "!", RecvFlags: "PEEK", Shutdown: "wr"}
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend: %v\n%s", err, errOut)
	}
	if out.String() != "abc\n" {
		t.Errorf("send printed %q, want the echo without the urgent byte: %q", out, "abc\n")
	}
	testkit.MustContain(t, "client narration", errOut.String(),
		`write 4 bytes "abc\n"`, `send(MSG_OOB) 1 byte "!"`, "shutdown(SHUT_WR)", `recv(MSG_PEEK) 4 bytes "abc\n"`, `read 4 bytes "abc\n"`)
	if strings.Contains(errOut.String(), `""`) {
		t.Errorf("-vv previews an empty read:\n%s", errOut)
	}
	s.errOut.WaitFor(t, "closed conn")
	s.stopWith(t, "1 urgent byte taken with recv(MSG_OOB), not echoed")
	testkit.MustContain(t, "server narration", s.errOut.String(),
		`read 4 bytes "abc\n"`, `write 4 bytes "abc\n"`, "urgent data: recv(MSG_OOB) 1 byte")
}

// --urgent inline keeps the urgent byte in the stream (SO_OOBINLINE):
// the echo carries it.
func TestLabUrgentInline(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Urgent: "inline"})
	opts, out, errOut := sendOpts(s.endpoint(0), "abc")
	opts.API = apiFlags{OOB: "!"}
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend: %v\n%s", err, errOut)
	}
	if out.String() != "abc\n!" {
		t.Errorf("send printed %q, want the urgent byte inline: %q", out, "abc\n!")
	}
}

// --exit-word stops serve, which returns nil, when a client sends
// exactly the word: a line on a stream, a datagram on UDP.
func TestLabExitWord(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"tcp", "udp"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, &ServeOptions{Endpoints: []string{scheme + "://127.0.0.1:0"}, ExitWord: "exit"})
			if got := send(t, s.endpoint(0), "exit please"); got != "exit please\n" {
				t.Errorf("send printed %q, want the echo", got)
			}
			select {
			case err := <-s.done:
				t.Fatalf("serve stopped on a message that is not the word: %v", err)
			default:
			}
			send(t, s.endpoint(0), "exit")
			err := testkit.Receive(t, s.done, "serve's end after the exit word")
			s.exited, s.err = true, err
			if err != nil {
				t.Fatalf("runServe after the exit word = %v, want nil", err)
			}
			testkit.MustContain(t, "serve's log", s.errOut.String(), `exit word "exit" from 127.0.0.1:`)
		})
	}
}

// --pass-fd passes an open file over a Unix socket: the server narrates
// the descriptor, answers with the file's first line, and its accept
// names the client's pid, uid and gid (SO_PEERCRED).
func TestLabPassFD(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "passed.txt")
	if err := os.WriteFile(file, []byte("the first line\nthe second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, &ServeOptions{Endpoints: []string{"unix://" + testkit.SockPath(t, "fd.sock")}, Verbose: true})
	opts, out, errOut := sendOpts(s.endpoint(0), "hi")
	opts.Verbose, opts.PassFD = true, []string{file}
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend: %v\n%s", err, errOut)
	}
	testkit.MustContain(t, "send's output", out.String(), "hi\n", "first line: the first line")
	testkit.MustContain(t, "client narration", errOut.String(), "sendmsg 3 bytes (SCM_RIGHTS fd ", "regular file, 26 bytes")
	s.errOut.WaitFor(t, "closed conn")
	s.stopWith(t, "1 descriptor received with SCM_RIGHTS")
	log := s.errOut.String()
	testkit.MustContain(t, "server narration", log, "SCM_RIGHTS fd ", "(regular file, 26 bytes)")
	peer := regexp.MustCompile(`accept \(unnamed\) → fd \d+ \(peer pid ` + strconv.Itoa(os.Getpid()) + ` uid \d+ gid \d+, SO_PEERCRED\)`)
	if !peer.MatchString(log) {
		t.Errorf("accept narration lacks %q:\n%s", peer, log)
	}

	// Not over TCP: the descriptor would be lost.
	tcp := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, _, _ = sendOpts(tcp.endpoint(0), "hi")
	opts.PassFD = []string{file}
	line := errorOf(t, runSend(context.Background(), opts), ExitUsage)
	testkit.MustContain(t, "error", line, "--pass-fd", "Unix sockets only")
}

// The UDP client is the classic one, sendto and recvfrom, unless
// --connected; -v says that a UDP connect sends nothing; a refusal names
// the ICMP message behind it and ends with the errno's name.
func TestLabUDPClient(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"udp://127.0.0.1:0"}, Verbose: true})
	opts, out, errOut := sendOpts(s.endpoint(0), "hello")
	opts.Verbose = true
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend: %v\n%s", err, errOut)
	}
	if out.String() != "hello\n" {
		t.Errorf("send printed %q", out)
	}
	testkit.MustContain(t, "unconnected narration", errOut.String(), "sendto 6 bytes to "+s.addrs[0].String(), "recvfrom 6 bytes from "+s.addrs[0].String())
	testkit.MustContain(t, "server narration", s.errOut.WaitFor(t, "sendmmsg"), "recvmmsg 6 bytes from 127.0.0.1:")

	opts, _, errOut = sendOpts(s.endpoint(0), "hello")
	opts.Verbose, opts.API.Connected = true, true
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend --connected: %v\n%s", err, errOut)
	}
	testkit.MustContain(t, "connected narration", errOut.String(), "a datagram socket's connect sends nothing", "write 6 bytes", "read 6 bytes")

	for _, connected := range []bool{false, true} {
		opts, _, errOut = sendOpts("udp://"+testkit.RefusedUDP(t), "hello")
		opts.Verbose, opts.API.Connected = true, connected
		line := errorOf(t, runSend(context.Background(), opts), ExitConnect)
		testkit.MustContain(t, "refusal", line, "ICMP port unreachable", "[ECONNREFUSED]")
		testkit.MustContain(t, "narration", errOut.String(), "= -1 ECONNREFUSED")
	}
}

// A read that fails is narrated as a step, with -1 and the errno name.
func TestLabFailedReadNamesTheErrno(t *testing.T) {
	t.Parallel()
	ep := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
		buf := make([]byte, 16)
		c.Read(buf)
		c.SetLinger(0) // close with RST
	})
	opts, _, errOut := sendOpts(ep, "hi")
	opts.Verbose, opts.API.Shutdown = true, "none"
	line := errorOf(t, runSend(context.Background(), opts), ExitConnect)
	testkit.MustContain(t, "error", line, "[ECONNRESET]")
	testkit.MustContain(t, "narration", errOut.String(), "read = -1 ECONNRESET")
}

// --shutdown rd narrates shutdown(SHUT_RD), and the read that ends it.
func TestLabShutdownRead(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out, errOut := sendOpts(s.endpoint(0), "hi")
	opts.Verbose, opts.API.Shutdown = true, "rd"
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatalf("runSend: %v\n%s", err, errOut)
	}
	testkit.MustContain(t, "narration", errOut.String(), "shutdown(SHUT_RD)", "read 0: end of file: reading was shut down here (SHUT_RD)")
	// What had arrived before the shutdown is still read (tcp(7): SHUT_RD
	// ends reading once the queue is empty); nothing after it is.
	if got := out.String(); got != "" && got != "hi\n" {
		t.Errorf("send after SHUT_RD printed %q, want nothing or the echo that came first", got)
	}
}

// Bad names are usage errors that name the flag; calls on the socket
// itself are refused under TLS or WebSocket, which would not survive them.
func TestLabBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		api  apiFlags
		ep   string
		want string
	}{
		{name: "send call", api: apiFlags{SendCall: "sendfile"}, ep: "tcp://127.0.0.1:1", want: "--send-call"},
		{name: "recv flag", api: apiFlags{RecvFlags: "peek,nosuch"}, ep: "tcp://127.0.0.1:1", want: "--recv-flags"},
		{name: "shutdown", api: apiFlags{Shutdown: "both"}, ep: "tcp://127.0.0.1:1", want: "--shutdown"},
		{name: "oob over tls", api: apiFlags{OOB: "!"}, ep: "tls://127.0.0.1:1", want: "stacks TLS"},
	}
	for _, tt := range tests {
		opts, _, _ := sendOpts(tt.ep, "x")
		opts.API = tt.api
		line := errorOf(t, runSend(context.Background(), opts), ExitUsage)
		testkit.MustContain(t, tt.name, line, tt.want)
	}
	if _, err := urgentMode("sideways", ""); ExitCode(err) != ExitUsage {
		t.Errorf("--urgent sideways: %v, want a usage error", err)
	}
	// What an engine cannot do is refused naming the flag, not ignored.
	opts := &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Engine: string(engine.BackendStd), Urgent: "receive", Service: "echo", Grace: time.Second,
		IO: IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}}
	line := errorOf(t, runServe(context.Background(), opts), ExitUsage)
	testkit.MustContain(t, "serve --engine std --urgent receive", line, "--urgent", "not supported on the std backend")
}

// --accept-delay lets the backlog fill; watch labels the listener's
// queues as "accept queue N of backlog M".
func TestLabAcceptDelayFillsTheBacklog(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, AcceptDelay: time.Hour, Sock: sockFlags{Backlog: 8}, Grace: time.Millisecond})
	for range 2 {
		testkit.Dial(t, "tcp", s.addrs[0].String())
	}
	port := strconv.Itoa(s.addrs[0].(*net.TCPAddr).Port)
	var table string
	testkit.Eventually(t, "two connections in the accept queue", func() bool {
		out := new(strings.Builder)
		if err := runWatch(context.Background(), &WatchOptions{IO: IOStreams{Out: out, ErrOut: out}, Target: port, Once: true, Interval: time.Second}); err != nil {
			t.Fatal(err)
		}
		table = out.String()
		return strings.Contains(table, "accept queue 2 of backlog 8")
	})
	if strings.Count(table, "accept queue") != 1 {
		t.Errorf("only the listener's row has queues to label:\n%s", table)
	}
}

// --close-delay holds the client's FIN: the server sits in CLOSE_WAIT
// and the client in FIN_WAIT_2 for the delay, and the teardown then ends.
func TestLabCloseDelay(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, CloseDelay: delay})
	start := time.Now()
	done := make(chan string, 1)
	go func() {
		opts, out, _ := sendOpts(s.endpoint(0), "bye")
		runSend(context.Background(), opts)
		done <- out.String()
	}()
	srv := s.addrs[0].(*net.TCPAddr).AddrPort()
	testkit.Eventually(t, "server in CLOSE_WAIT, client in FIN_WAIT_2", func() bool {
		socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: srv.Port(), Addr: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		var closeWait, finWait2 bool
		for _, k := range socks {
			closeWait = closeWait || (k.Local == srv && k.State == tcpstate.CloseWait)
			finWait2 = finWait2 || (k.Remote == srv && k.State == tcpstate.FinWait2)
		}
		return closeWait && finWait2
	})
	if got := testkit.Receive(t, done, "send's end"); got != "bye\n" {
		t.Errorf("send printed %q, want the echo", got)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("send ended after %v, want at least the close delay %v", d, delay)
	}
}

// sockit icmp prints the port unreachable behind a UDP refusal, with the
// datagram it quotes; --json as NDJSON.
func TestICMP(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		out := new(testkit.Buffer)
		ready := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runICMP(ctx, &ICMPOptions{IO: IOStreams{Out: out, ErrOut: out}, JSON: asJSON, Ready: func() { close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			cancel()
			if errors.As(err, new(needRawError)) {
				t.Skipf("needs root or CAP_NET_RAW: %v", err)
			}
			t.Fatal(err)
		}
		closed := testkit.RefusedUDP(t)
		c := testkit.Dial(t, "udp", closed)
		c.Write([]byte("x"))
		want := "port unreachable: udp " + c.LocalAddr().String() + " → " + closed
		if asJSON {
			want = `"text":"port unreachable","quoted":{"proto":"udp","src":"` + c.LocalAddr().String() + `","dst":"` + closed + `"}}`
		}
		out.WaitFor(t, want)
		cancel()
		if err := testkit.Receive(t, done, "icmp's end"); err != nil {
			t.Errorf("runICMP after cancel = %v, want nil", err)
		}
	}
}

// Without CAP_NET_RAW, icmp says what it needs, in one line ending with
// the errno, and exits as for a permission refused.
func TestICMPNeedsRaw(t *testing.T) {
	t.Parallel()
	denied := sockit.Wrap("socket", "ip4:icmp", "", errors.Join(icmpwatch.ErrNeedRaw, &os.SyscallError{Syscall: "socket", Err: syscall.EPERM}))
	err := runICMP(context.Background(), &ICMPOptions{listen: func() (*icmpwatch.Watcher, error) { return nil, denied }})
	line := errorOf(t, err, ExitLocalAddr)
	if want := "sockit: icmp reads raw sockets (SOCK_RAW), which need root or CAP_NET_RAW: run it with sudo, or give the binary the capability (sudo setcap cap_net_raw+ep ./sockit) [EPERM]"; line != want {
		t.Errorf("error line\n %q\nwant\n %q", line, want)
	}
}

// trace says that a state set again stays, instead of FIN_WAIT_1 →
// FIN_WAIT_1.
func TestTraceStateSetAgain(t *testing.T) {
	t.Parallel()
	st := tcpstate.Step{Kind: "state", Local: netip.MustParseAddrPort("127.0.0.1:4000"), From: tcpstate.FinWait1, To: tcpstate.FinWait1,
		Meaning: tcpstate.Meaning(tcpstate.FinWait1, tcpstate.FinWait1)}
	got := stepText(st)
	if strings.Contains(got, "FIN_WAIT_1 → FIN_WAIT_1") || !strings.Contains(got, "FIN_WAIT_1 (stays): close() after shutdown()") {
		t.Errorf("step text %q, want FIN_WAIT_1 (stays) and why", got)
	}
}

// With --close-delay the teardown is four segments, as the textbook draws
// it: the client's FIN, the server's ACK alone, the server's FIN after the
// delay, the client's ACK.
func TestLabCloseDelayFourSegments(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "AF_PACKET, to capture the segments")
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, CloseDelay: 300 * time.Millisecond})
	srv := s.addrs[0].(*net.TCPAddr).AddrPort()
	cp, err := tcpstate.NewCapture(tcpstate.Filter{Port: srv.Port()})
	if err != nil {
		t.Fatal(err)
	}
	segs := make(chan tcpstate.Segment, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cp.Run(ctx, func(sg tcpstate.Segment) {
			select {
			case segs <- sg:
			default:
			}
		})
	}()
	defer func() {
		cancel()
		testkit.Receive(t, done, "the capture's end")
		cp.Close()
	}()
	// The echo first, so that no data rides with the teardown.
	c := testkit.Dial(t, "tcp", srv.String())
	if err := testkit.RoundTrip(c, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if rest := readAll(t, c); len(rest) != 0 {
		t.Fatalf("after our FIN: %q", rest)
	}
	// From the client's FIN on, in order.
	var teardown []string
	for len(teardown) < 4 {
		sg := testkit.Receive(t, segs, "the teardown's segments")
		if len(teardown) == 0 && (sg.Flags&tcpstate.FIN == 0 || sg.Dst != srv) {
			continue
		}
		side := "client"
		if sg.Src == srv {
			side = "server"
		}
		teardown = append(teardown, side+" "+sg.Flags.String())
	}
	want := []string{"client FIN-ACK", "server ACK", "server FIN-ACK", "client ACK"}
	if !slices.Equal(teardown, want) {
		t.Errorf("teardown %q, want %q", teardown, want)
	}
}

// connect takes the same choices: writev and readv, urgent data at the
// end of input, then the shutdown asked for.
func TestLabConnect(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Verbose: true})
	opts, out, errOut := connectOpts(s.endpoint(0), strings.NewReader("one\n"))
	opts.Verbose = true
	opts.API = apiFlags{SendCall: "writev", RecvCall: "readv", OOB: "!", Shutdown: "wr"}
	if err := runConnectBounded(t, context.Background(), opts); err != nil {
		t.Fatalf("runConnect: %v\n%s", err, errOut)
	}
	if got := out.String(); got != "one\n" {
		t.Errorf("printed %q, want the echo without the urgent byte", got)
	}
	testkit.MustContain(t, "connect's narration", errOut.String(), "writev(", "send(MSG_OOB) 1 byte", "shutdown(SHUT_WR)", "readv(")
	s.errOut.WaitFor(t, "urgent data: recv(MSG_OOB) 1 byte")
}

// connect --shutdown rdwr ends well even when the echo comes after the
// shutdown and Linux answers it with RST: reading was given up.
func TestLabConnectShutdownBoth(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	for range 5 { // the echo races the shutdown: both orders, most likely
		opts, _, errOut := connectOpts(s.endpoint(0), strings.NewReader("one\n"))
		opts.Verbose, opts.API = true, apiFlags{Shutdown: "rdwr"}
		if err := runConnectBounded(t, context.Background(), opts); err != nil {
			t.Fatalf("runConnect --shutdown rdwr: %v\n%s", err, errOut)
		}
		testkit.MustContain(t, "narration", errOut.String(), "shutdown(SHUT_RDWR)")
	}
}
