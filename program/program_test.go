package program_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/program"
)

// helperEnv makes this test binary a program that Run runs: it acts as
// the variable's value says (see helper).
const helperEnv = "SOCKIT_PROGRAM_HELPER"

// fileEnv names the file "lateread" waits for.
const fileEnv = "SOCKIT_PROGRAM_FILE"

// stubbornReady is what "stubborn-ready" says once it ignores SIGTERM: a
// SIGTERM before then (a race build starts slowly on a loaded machine)
// still ends it.
const stubbornReady = "ready\n"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(testkit.Main(m))
}

// helper is the program: "readall" reads its whole input and only then
// answers with its length and its last byte; "early" answers and exits
// without reading; "hang" neither reads nor writes nor exits, and
// "stubborn" does not exit on SIGTERM either ("stubborn-ready" says
// "ready" once it ignores it); "graceful" says "ready" and exits with 7
// on SIGTERM; "flood" writes for ever;
// "env" prints the connection's variables; "talk" greets before it reads,
// then answers each read upper-cased, and says bye at the end of its
// input; "closeout" answers, closes its output and then reads all its
// input; "lateread" reads nothing until the file fileEnv names exists,
// then answers with its input's length and SHA-256.
func helper(mode string) int {
	switch mode {
	case "stubborn", "stubborn-ready":
		signal.Ignore(syscall.SIGTERM)
		if mode == "stubborn-ready" {
			fmt.Println("ready")
		}
		time.Sleep(time.Hour) // killed by the test; exits on its own after an hour at most
	case "graceful":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("ready")
		select {
		case <-term:
			return 7
		case <-time.After(time.Hour): // the test stops it; an hour at most
		}
	case "talk":
		fmt.Println("hello")
		buf := make([]byte, 4096)
		for {
			n, err := os.Stdin.Read(buf)
			os.Stdout.Write(bytes.ToUpper(buf[:n]))
			if err != nil {
				break
			}
		}
		fmt.Println("bye")
	case "closeout":
		fmt.Println("done")
		os.Stdout.Close()
		if in, err := io.ReadAll(os.Stdin); err != nil || len(in) == 0 {
			return 4
		}
	case "lateread":
		for i := 0; i < 3000; i++ { // 30 s at most
			if _, err := os.Stat(os.Getenv(fileEnv)); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling for the test's go-ahead, with a bound
		}
		h := sha256.New()
		n, err := io.Copy(h, os.Stdin)
		if err != nil {
			return 3
		}
		fmt.Printf("%d %x", n, h.Sum(nil))
	case "readall":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 3
		}
		fmt.Printf("read %d bytes to EOF, last %q\n", len(in), in[len(in)-1:])
	case "early":
		fmt.Print("bye")
	case "hang":
		time.Sleep(time.Hour) // killed by the test; exits on its own after an hour at most
	case "flood":
		buf := bytes.Repeat([]byte("y\n"), 16<<10)
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				return 0
			}
		}
	case "env":
		fmt.Printf("%s %s %s", os.Getenv(program.EnvPeer), os.Getenv(program.EnvLocal), os.Getenv(program.EnvNetwork))
	}
	return 0
}

// self is a Program running this test binary as helper mode.
func self(mode string) (program.Program, program.Options) {
	return program.Program{Argv: []string{os.Args[0], "-test.run=^$"}}, program.Options{Env: []string{helperEnv + "=" + mode}}
}

// result is what Run returned, on its goroutine.
type result struct {
	rep program.Report
	err error
}

// start runs p on the accepted end of a fresh loopback TCP connection and
// returns the dialed end and Run's result to come.
func start(t *testing.T, p program.Program, o program.Options) (*net.TCPConn, <-chan result) {
	t.Helper()
	return startCtx(t, context.Background(), p, o)
}

// startCtx is start with Run's ctx.
func startCtx(t *testing.T, ctx context.Context, p program.Program, o program.Options) (*net.TCPConn, <-chan result) {
	t.Helper()
	peer, ours := testkit.TCPPair(t)
	done := make(chan result, 1)
	go func() {
		rep, err := program.Run(ctx, ours, p, o)
		ours.Close()
		done <- result{rep, err}
	}()
	return peer, done
}

// TestReadsAllBeforeAnswering: the peer's FIN is the program's end of
// input, and the end of its output is our FIN: a program that reads
// everything before it answers gets all 1 MiB, then its answer, then EOF.
func TestReadsAllBeforeAnswering(t *testing.T) {
	t.Parallel()
	p, o := self("readall")
	peer, done := start(t, p, o)
	msg := append(bytes.Repeat([]byte("x"), 1<<20-1), '!')
	go func() {
		peer.Write(msg)
		peer.CloseWrite()
	}()
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("reading the answer: %v (after %q)", err, got)
	}
	if want := "read 1048576 bytes to EOF, last \"!\"\n"; string(got) != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	r := testkit.Receive(t, done, "Run's return")
	if r.err != nil || r.rep.ExitCode != 0 || r.rep.In != 1<<20 || r.rep.Out != int64(len(got)) || r.rep.Killed != "" {
		t.Errorf("Run = %+v, %v; want exit 0, In 1 MiB, Out %d, not killed", r.rep, r.err, len(got))
	}
}

// TestExitsEarly: a program that answers and exits without reading ends
// the connection with its answer and our FIN, while the peer still sends.
func TestExitsEarly(t *testing.T) {
	t.Parallel()
	p, o := self("early")
	peer, done := start(t, p, o)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a peer that goes on sending
		chunk := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := peer.Write(chunk); err != nil {
				return
			}
		}
	}()
	r := testkit.Receive(t, done, "Run's return")
	if r.err != nil || r.rep.ExitCode != 0 || r.rep.Out != 3 {
		t.Errorf("Run = %+v, %v; want exit 0 and 3 bytes out", r.rep, r.err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "bye" {
		t.Errorf("peer read %q, %v; want bye", got, err)
	}
}

// TestHangs: a program that neither reads, writes nor exits is killed
// after IdleTimeout, and the peer gets our FIN.
func TestHangs(t *testing.T) {
	t.Parallel()
	p, o := self("hang")
	o.IdleTimeout = 200 * time.Millisecond
	peer, done := start(t, p, o)
	r := testkit.Receive(t, done, "Run's return")
	if r.err != nil || r.rep.ExitCode != -1 || !strings.HasPrefix(r.rep.Killed, "idle for 200ms") {
		t.Errorf("Run = %+v, %v; want killed for idleness", r.rep, r.err)
	}
	if b, err := io.ReadAll(peer); len(b) != 0 || err != nil {
		t.Errorf("peer read %q, %v; want EOF", b, err)
	}
}

// TestFloods: a program that writes for ever to a peer who reads 1 MiB
// and goes away is killed, and Run returns.
func TestFloods(t *testing.T) {
	t.Parallel()
	p, o := self("flood")
	peer, done := start(t, p, o)
	if _, err := io.ReadFull(peer, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	peer.SetLinger(0)
	peer.Close() // a reset: the next write fails
	r := testkit.Receive(t, done, "Run's return")
	if r.err != nil || r.rep.Killed != "the peer is gone" || r.rep.Out < 1<<20 {
		t.Errorf("Run = %+v, %v; want killed as the peer is gone, after 1 MiB out at least", r.rep, r.err)
	}
}

// TestFloodsSlowPeer: a program flooding a peer who does not read is held
// by flow control, and killed when idle (nothing moved: the writes are
// blocked).
func TestFloodsSlowPeer(t *testing.T) {
	t.Parallel()
	p, o := self("flood")
	o.IdleTimeout = 300 * time.Millisecond
	_, done := start(t, p, o)
	r := testkit.Receive(t, done, "Run's return")
	if r.err != nil || !strings.HasPrefix(r.rep.Killed, "idle for") {
		t.Errorf("Run = %+v, %v; want killed when idle", r.rep, r.err)
	}
	if r.rep.Out > 64<<20 {
		t.Errorf("%d bytes went out to a peer who read none", r.rep.Out)
	}
}

// TestEnvironment: the program knows the connection's addresses.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	p, o := self("env")
	peer, done := start(t, p, o)
	peer.CloseWrite()
	got, _ := io.ReadAll(peer)
	if want := peer.LocalAddr().String() + " " + peer.RemoteAddr().String() + " tcp"; string(got) != want {
		t.Errorf("environment %q, want %q", got, want)
	}
	testkit.Receive(t, done, "Run's return")
}

// TestShell runs a command line through the shell.
func TestShell(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the command line is for /bin/sh")
	}
	peer, done := start(t, program.Program{Shell: `read line; echo "got $line from $SOCKIT_NETWORK"`}, program.Options{})
	peer.Write([]byte("hello\n"))
	peer.CloseWrite()
	got, _ := io.ReadAll(peer)
	if string(got) != "got hello from tcp\n" {
		t.Errorf("answer %q", got)
	}
	if r := testkit.Receive(t, done, "Run's return"); r.err != nil || r.rep.ExitCode != 0 {
		t.Errorf("Run = %+v, %v", r.rep, r.err)
	}
}

// TestCheck: a program that cannot run is an option error before any
// connection.
func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    program.Program
	}{
		{name: "nothing", p: program.Program{}},
		{name: "both", p: program.Program{Argv: []string{"cat"}, Shell: "cat"}},
		{name: "missing", p: program.Program{Argv: []string{"sockit-no-such-program"}}},
	}
	for _, tt := range tests {
		var oe *sockit.OptionError
		if err := tt.p.Check(); !errors.As(err, &oe) {
			t.Errorf("%s: Check() = %v, want a *sockit.OptionError", tt.name, err)
		}
	}
	if p, _ := self("early"); p.Check() != nil {
		t.Errorf("Check(%v) = %v", p, p.Check())
	}
}

// TestClosesOutputFirst: a program that closes its standard output and
// goes on running gets the peer our FIN at once, not when it exits.
func TestClosesOutputFirst(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the command line is for /bin/sh")
	}
	peer, done := start(t, program.Program{Shell: `echo done; exec >&-; read line || true`}, program.Options{})
	if got, err := io.ReadAll(peer); err != nil || string(got) != "done\n" {
		t.Fatalf("peer read %q, %v; want the answer, then EOF while the program still runs", got, err)
	}
	select {
	case r := <-done:
		t.Fatalf("Run returned %+v before the program exited", r)
	default:
	}
	peer.CloseWrite() // the program's read ends, and it exits
	if r := testkit.Receive(t, done, "Run's return"); r.err != nil || r.rep.ExitCode != 0 {
		t.Errorf("Run = %+v, %v", r.rep, r.err)
	}
}

// TestStopsAsServiceDoes: Run stops a program as a Service does — SIGTERM
// to its group first, which a program may catch to end in order (its exit
// status is reported), and SIGKILL StopGrace later for one that ignores
// it.
func TestStopsAsServiceDoes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no SIGTERM: the program is killed at once")
	}
	tests := []struct {
		mode     string
		exitCode int
		atLeast  time.Duration // from the cancel to Run's return
	}{
		{mode: "graceful", exitCode: 7},
		{mode: "stubborn-ready", exitCode: -1, atLeast: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, o := self(tt.mode)
			o.StopGrace = 300 * time.Millisecond
			peer, done := startCtx(t, ctx, p, o)
			peer.SetReadDeadline(time.Now().Add(testkit.Timeout))
			ready := make([]byte, len("ready\n"))
			if _, err := io.ReadFull(peer, ready); err != nil || string(ready) != "ready\n" {
				t.Fatalf("read %q, %v; want ready", ready, err)
			}
			begin := time.Now()
			cancel()
			r := testkit.Receive(t, done, "Run's return")
			took := time.Since(begin)
			if r.err != nil || r.rep.ExitCode != tt.exitCode || r.rep.Killed != "interrupted" {
				t.Errorf("Run = %+v, %v; want exit code %d, stopped as interrupted", r.rep, r.err, tt.exitCode)
			}
			if took < tt.atLeast {
				t.Errorf("Run returned %v after the cancel; SIGKILL should wait StopGrace (%v)", took, o.StopGrace)
			}
		})
	}
}
