package program_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/program"
)

// service is a program.Service on an engine server, as a test sees it.
type service struct {
	srv  *engine.Server
	svc  *program.Service
	ep   endpoint.Endpoint
	ends chan program.End
}

// serve runs p as a Service on a fresh loopback endpoint of network, on
// backend b. When the test ends the server closes, then the test waits
// for the service's programs and goroutines.
func serve(t *testing.T, b engine.Backend, network string, p program.Program, so program.ServiceOptions, cfg engine.Config) *service {
	t.Helper()
	s := &service{ends: make(chan program.End, 64)}
	so.OnEnd = func(e program.End) { s.ends <- e }
	var err error
	if s.svc, err = program.NewService(p, so); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.svc.Wait) // after the server's Close, which the next line registers
	cfg.Backend = b
	s.srv, s.ep = testkit.ServeEngine(t, &cfg, network, s.svc)
	return s
}

func (s *service) dial(t *testing.T) net.Conn {
	t.Helper()
	return testkit.Dial(t, s.ep.Scheme, s.ep.Addr)
}

// end is the End of the next connection to end.
func (s *service) end(t *testing.T) program.End {
	t.Helper()
	return testkit.Receive(t, s.ends, "the End of a connection")
}

func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// TestServiceReadsAllBeforeAnswering: the peer's FIN is the program's end
// of input, the end of its output our FIN, over TCP and Unix sockets.
func TestServiceReadsAllBeforeAnswering(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network, func(t *testing.T) {
				t.Parallel()
				p, o := self("readall")
				s := serve(t, b, network, p, program.ServiceOptions{Options: o}, engine.Config{})
				c := s.dial(t)
				msg := append(bytes.Repeat([]byte("x"), 1<<20-1), '!')
				go func() {
					c.Write(msg)
					c.(interface{ CloseWrite() error }).CloseWrite()
				}()
				got, err := testkit.ReadAll(c, 1<<10)
				if want := "read 1048576 bytes to EOF, last \"!\"\n"; err != nil || string(got) != want {
					t.Fatalf("answer %q, %v; want %q, then EOF", got, err, want)
				}
				e := s.end(t)
				if e.Err != nil || e.ExitCode != 0 || e.In != 1<<20 || e.Out != int64(len(got)) || e.Killed != "" || e.Refused {
					t.Errorf("End = %+v; want exit 0, In 1 MiB, Out %d, not stopped", e, len(got))
				}
			})
		}
	})
}

// TestServiceAnswersFirst: a program that speaks before it reads, then
// answers each line, and a last word after the peer's FIN.
func TestServiceAnswersFirst(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("talk")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		c := s.dial(t)
		hello := make([]byte, 6)
		if _, err := io.ReadFull(c, hello); err != nil || string(hello) != "hello\n" {
			t.Fatalf("before sending anything, read %q, %v; want hello", hello, err)
		}
		if _, err := c.Write([]byte("abc\n")); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 4)
		if _, err := io.ReadFull(c, line); err != nil || string(line) != "ABC\n" {
			t.Fatalf("answer %q, %v; want ABC", line, err)
		}
		closeWrite(t, c)
		if rest, err := testkit.ReadAll(c, 64); err != nil || string(rest) != "bye\n" {
			t.Fatalf("after our FIN, read %q, %v; want bye, then EOF", rest, err)
		}
		if e := s.end(t); e.Err != nil || e.ExitCode != 0 || e.In != 4 || e.Out != 14 {
			t.Errorf("End = %+v; want exit 0, In 4, Out 14", e)
		}
	})
}

// TestServiceClosesOutputFirst: the end of the program's output is our
// FIN at once, while the peer still sends and the program still reads.
func TestServiceClosesOutputFirst(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("closeout")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		c := s.dial(t)
		if got, err := testkit.ReadAll(c, 64); err != nil || string(got) != "done\n" {
			t.Fatalf("read %q, %v; want the answer, then EOF while the program still runs", got, err)
		}
		msg := []byte("more input after the server's FIN")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		closeWrite(t, c)
		// The program exits 4 unless it got the input.
		if e := s.end(t); e.Err != nil || e.ExitCode != 0 || e.In != int64(len(msg)) || e.Killed != "" {
			t.Errorf("End = %+v; want exit 0 and In %d", e, len(msg))
		}
	})
}

// TestServiceExitsEarly: a program that answers and exits without reading
// ends the connection with its answer and our FIN, while the peer sends.
func TestServiceExitsEarly(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("early")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		c := s.dial(t)
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() { // a peer that goes on sending until told
			defer close(sent)
			chunk := make([]byte, 4096)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		got, err := testkit.ReadAll(c, 64)
		close(stop)
		<-sent
		if err != nil || string(got) != "bye" {
			t.Fatalf("read %q, %v; want bye, then EOF", got, err)
		}
		closeWrite(t, c)
		if e := s.end(t); e.Err != nil || e.ExitCode != 0 || e.Out != 3 || e.Killed != "" {
			t.Errorf("End = %+v; want exit 0 and 3 bytes out", e)
		}
	})
}

// TestServiceHangs: a program that neither reads, writes nor exits is
// stopped after IdleTimeout; one that ignores SIGTERM is killed StopGrace
// later. The peer gets our FIN.
func TestServiceHangs(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const grace = 400 * time.Millisecond
		t.Run("hang", func(t *testing.T) {
			t.Parallel()
			const idle = 200 * time.Millisecond
			s := hangingService(t, b, "hang", idle, grace)
			start := time.Now() // before the dial: the idle timeout counts from the program's start
			c := s.dial(t)
			if got, err := testkit.ReadAll(c, 64); err != nil || len(got) != 0 {
				t.Fatalf("read %q, %v; want EOF", got, err)
			}
			if took := time.Since(start); took < idle {
				t.Errorf("our FIN came after %v, before the idle timeout (%v)", took, idle)
			}
			c.Close()
			checkStoppedIdle(t, s, idle)
		})
		t.Run("stubborn", func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" {
				t.Skip("Windows has no SIGTERM to ignore: the program is killed at once")
			}
			// The program ignores SIGTERM only once it has started: a race
			// build on a loaded machine can take over a second, and a
			// SIGTERM before then ends it at once, as it should. So while
			// the idle timeout passes before the program says it ignores
			// SIGTERM, try again with twice the timeout.
			for idle := 200 * time.Millisecond; ; idle *= 2 {
				s := hangingService(t, b, "stubborn-ready", idle, grace)
				start := time.Now() // before the dial, and so before anything the idle timeout counts from
				c := s.dial(t)
				ready := make([]byte, len(stubbornReady))
				if n, err := io.ReadFull(c, ready); n == 0 && errors.Is(err, io.EOF) {
					c.Close()
					checkStoppedIdle(t, s, idle)
					if idle >= 5*time.Second {
						t.Fatalf("the program did not ignore SIGTERM within an idle timeout of %v", idle)
					}
					t.Logf("stopped before it ignored SIGTERM, within an idle timeout of %v: again with %v", idle, 2*idle)
					continue
				} else if err != nil || string(ready) != stubbornReady {
					t.Fatalf("read %q, %v; want %q", ready[:n], err, stubbornReady)
				}
				// It said so before the idle timeout counted down from its
				// words: SIGTERM cannot end it, only SIGKILL, StopGrace later.
				if got, err := testkit.ReadAll(c, 64); err != nil || len(got) != 0 {
					t.Fatalf("after %q: read %q, %v; want EOF", stubbornReady, got, err)
				}
				if took := time.Since(start); took < idle+grace {
					t.Errorf("our FIN came after %v: before the idle timeout (%v) and StopGrace (%v) for SIGTERM ignored", took, idle, grace)
				}
				c.Close()
				checkStoppedIdle(t, s, idle)
				return
			}
		})
	})
}

// hangingService serves the helper mode with IdleTimeout idle and
// StopGrace grace.
func hangingService(t *testing.T, b engine.Backend, mode string, idle, grace time.Duration) *service {
	t.Helper()
	p, o := self(mode)
	o.IdleTimeout, o.StopGrace = idle, grace
	return serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
}

// checkStoppedIdle checks the End and Stats of s's one connection: its
// program was stopped for idleness.
func checkStoppedIdle(t *testing.T, s *service, idle time.Duration) {
	t.Helper()
	e := s.end(t)
	if want := "idle for " + idle.String(); e.Err != nil || e.ExitCode != -1 || e.Killed != want {
		t.Errorf("End = %+v; want stopped for idleness (%q), exit -1", e, want)
	}
	if st := s.svc.Stats(); st.Stopped != 1 || st.Started != 1 {
		t.Errorf("Stats = %+v; want 1 started, 1 stopped", st)
	}
}

// TestServiceFloodHeldBack: a program that writes for ever to a peer who
// does not read is read only as the connection drains: the server holds
// no more than the low watermark and a read of it. Nothing moving, it is
// stopped for idleness; what it wrote before still all arrives.
func TestServiceFloodHeldBack(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const high, low = 256 << 10, 128 << 10
		p, o := self("flood")
		o.IdleTimeout = 300 * time.Millisecond
		cfg := engine.Config{HighWatermark: high, LowWatermark: low, SendBuf: 64 << 10}
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, cfg)
		c := testkit.DialSmall(t, s.ep.Addr, 64<<10)
		// Pending output is low, a 32 KiB read more, in 16 KiB chunks.
		const limit = low + 32<<10 + 2*16<<10
		var held int64
		testkit.Eventually(t, "the flood stopped for idleness", func() bool {
			held = max(held, s.srv.Stats().Held)
			return held > limit || s.svc.Stats().Stopped == 1
		})
		if held > limit {
			t.Fatalf("the server held %d bytes of the program's output; want at most %d", held, limit)
		}
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		e := s.end(t)
		if e.Err != nil || e.Killed != "idle for 300ms" || e.Out != got {
			t.Errorf("End = %+v; want stopped for idleness, and the %d bytes read as Out", e, got)
		}
		if got > 4<<20 {
			t.Errorf("%d bytes came out to a peer who read none until the program was stopped", got)
		}
	})
}

// TestServiceFloodPeerGone: a program flooding a peer who goes away is
// stopped with the connection.
func TestServiceFloodPeerGone(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("flood")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		c := s.dial(t).(*net.TCPConn)
		if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		c.SetLinger(0)
		c.Close() // a reset
		e := s.end(t)
		if e.Err == nil || e.Killed != "its connection failed" || e.Out < 1<<20 {
			t.Errorf("End = %+v; want the connection's error, stopped with it, after 1 MiB out at least", e)
		}
	})
}

// TestServiceSlowReader: a peer who floods a program that does not read
// is held back by flow control — the server stops reading it, and holds a
// bounded part of its input — and once the program reads, every byte
// arrives in order.
func TestServiceSlowReader(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const read = 16 << 10
		p, o := self("lateread")
		goAhead := filepath.Join(t.TempDir(), "go")
		o.Env = append(o.Env, fileEnv+"="+goAhead)
		cfg := engine.Config{ReadBuffer: read, RecvBuf: 64 << 10}
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, cfg)
		c := s.dial(t)
		if err := c.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
		const total = 16 << 20
		msg := testkit.Pattern(total, 3)
		sent := 0
		for sent < total { // until a write makes no progress for 300 ms
			c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := c.Write(msg[sent:min(sent+64<<10, total)])
			sent += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("write after %d bytes: %v", sent, err)
			}
		}
		if sent == total {
			t.Fatalf("all %d bytes went in while the program read nothing", total)
		}
		// 64 KiB waiting and a read more, and as much given to the program
		// (in the pipe, or in the write blocked on it).
		if held, limit := s.srv.Stats().Held, int64(2*(64<<10+read)); held > limit {
			t.Errorf("the server held %d bytes of input for a program that reads none; want at most %d", held, limit)
		}
		if err := os.WriteFile(goAhead, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(testkit.Timeout))
		if _, err := c.Write(msg[sent:]); err != nil {
			t.Fatalf("writing the rest once the program reads: %v", err)
		}
		closeWrite(t, c)
		got, err := testkit.ReadAll(c, 256)
		if want := fmt.Sprintf("%d %x", total, sha256.Sum256(msg)); err != nil || string(got) != want {
			t.Fatalf("answer %q, %v; want %q (every byte, in order)", got, err, want)
		}
		if e := s.end(t); e.Err != nil || e.ExitCode != 0 || e.In != total {
			t.Errorf("End = %+v; want exit 0, In %d", e, total)
		}
	})
}

// TestServiceMaxRunning: a connection beyond MaxRunning programs is reset
// at once, without a program, and counted.
func TestServiceMaxRunning(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("hang")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o, MaxRunning: 2}, engine.Config{})
		s.dial(t)
		s.dial(t)
		testkit.Eventually(t, "two programs started", func() bool { return s.svc.Stats().Started == 2 })
		// The reset can come before the dial has returned.
		c, err := net.DialTimeout("tcp", s.ep.Addr, testkit.Timeout)
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(testkit.Timeout))
			_, err = c.Read(make([]byte, 1))
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("the third connection: %v; want a reset", err)
		}
		if e := s.end(t); !e.Refused || e.Pid != 0 || e.Peer == nil {
			t.Errorf("End = %+v; want the third connection, refused", e)
		}
		if st := s.svc.Stats(); st.Refused != 1 || st.Running != 2 {
			t.Errorf("Stats = %+v; want 1 refused, 2 running", st)
		}
	})
}

// TestServiceShutdownReapsAll: a graceful shutdown stops every program,
// kills those that ignore SIGTERM, and reaps them all: Wait returns, and
// no zombie is left.
func TestServiceShutdownReapsAll(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		mode := "stubborn-ready"
		if runtime.GOOS == "windows" {
			mode = "hang"
		}
		p, o := self(mode)
		o.StopGrace = 300 * time.Millisecond
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		const n = 4
		eofs := make(chan error, n)
		for range n {
			c := s.dial(t)
			if mode == "stubborn-ready" { // it ignores SIGTERM from here on: Shutdown must kill it
				ready := make([]byte, len(stubbornReady))
				if _, err := io.ReadFull(c, ready); err != nil || string(ready) != stubbornReady {
					t.Fatalf("read %q, %v; want %q", ready, err, stubbornReady)
				}
			}
			go func() { // each peer reads to our FIN, then closes
				_, err := testkit.ReadAll(c, 0)
				c.Close()
				eofs <- err
			}()
		}
		testkit.Eventually(t, "every program started", func() bool { return s.svc.Stats().Started == n })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v; want every connection to finish in the grace", err)
		}
		s.svc.Wait()
		for range n {
			if err := testkit.Receive(t, eofs, "a peer's EOF"); err != nil {
				t.Errorf("a peer read %v; want our FIN", err)
			}
			e := s.end(t)
			if e.Killed != "the server is shutting down" || e.ExitCode != -1 {
				t.Errorf("End = %+v; want stopped for the shutdown", e)
			}
			if z := zombie(e.Pid); z != "" {
				t.Errorf("program %d: %s", e.Pid, z)
			}
		}
		if st := s.svc.Stats(); st.Running != 0 || st.Stopped != n {
			t.Errorf("Stats = %+v; want none running, %d stopped", st, n)
		}
	})
}

// zombie says whether pid is an unreaped child of this process, where
// /proc tells ("" when it is not, or cannot be known).
func zombie(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(os.Getpid()) {
		return "a zombie child of the server"
	}
	return ""
}

// TestServiceEnvironment: the program knows the connection's addresses.
func TestServiceEnvironment(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("env")
		s := serve(t, b, "tcp", p, program.ServiceOptions{Options: o}, engine.Config{})
		c := s.dial(t)
		closeWrite(t, c)
		got, _ := testkit.ReadAll(c, 256)
		if want := c.LocalAddr().String() + " " + c.RemoteAddr().String() + " tcp"; string(got) != want {
			t.Errorf("environment %q, want %q", got, want)
		}
		s.end(t)
	})
}

// TestServiceOverTLS: the layers pass the service's callbacks on: over
// tls://, close_notify is the FIN both ways.
func TestServiceOverTLS(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		p, o := self("readall")
		svc, err := program.NewService(p, program.ServiceOptions{Options: o})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Wait)
		srv := testkit.NewServer(t, &engine.Config{Backend: b})
		addr, err := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()}).Listen(srv, endpoint.Endpoint{Scheme: "tls", Addr: "127.0.0.1:0"}, svc)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", addr.String(), testkit.ClientTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		msg := append(bytes.Repeat([]byte("t"), 300<<10), '.')
		go func() {
			c.Write(msg)
			c.CloseWrite()
		}()
		got, err := testkit.ReadAll(c, 1<<10)
		if want := fmt.Sprintf("read %d bytes to EOF, last \".\"\n", len(msg)); err != nil || string(got) != want {
			t.Errorf("answer %q, %v; want %q", got, err, want)
		}
	})
}

// TestNewServiceRefuses: what cannot run is an option error before any
// connection.
func TestNewServiceRefuses(t *testing.T) {
	t.Parallel()
	p, _ := self("early")
	tests := []struct {
		name string
		p    program.Program
		o    program.ServiceOptions
	}{
		{name: "no program", p: program.Program{}},
		{name: "missing program", p: program.Command("sockit-no-such-program --flag")},
		{name: "negative MaxRunning", p: p, o: program.ServiceOptions{MaxRunning: -1}},
		{name: "negative StopGrace", p: p, o: program.ServiceOptions{Options: program.Options{StopGrace: -time.Second}}},
		{name: "negative IdleTimeout", p: p, o: program.ServiceOptions{Options: program.Options{IdleTimeout: -time.Second}}},
	}
	for _, tt := range tests {
		var oe *sockit.OptionError
		if _, err := program.NewService(tt.p, tt.o); !errors.As(err, &oe) {
			t.Errorf("%s: NewService = %v, want a *sockit.OptionError", tt.name, err)
		}
	}
}

// TestCommand: a command line is split at spaces and tabs, no shell.
func TestCommand(t *testing.T) {
	t.Parallel()
	got := program.Command(" tr\ta-z  'A-Z' ")
	if want := []string{"tr", "a-z", "'A-Z'"}; fmt.Sprint(got.Argv) != fmt.Sprint(want) || got.Shell != "" {
		t.Errorf("Command = %+v, want Argv %q", got, want)
	}
}
