package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
)

// Only a backend name that does not exist is a usage error (exit 2, the
// engine's OptionError named as the flag): other NewServer failures, such
// as epoll_create1 failing with EMFILE, pass through unchanged with their
// own exit code.
func TestServeNewServerErrors(t *testing.T) {
	t.Parallel()
	emfile := os.NewSyscallError("epoll_create1", syscall.EMFILE)
	tests := []struct {
		name        string
		engine      string
		newErr      error // what NewServer fails with
		wantCode    int
		wantIs      error
		wantCreated bool // NewServer is called
	}{
		{name: "unknown engine", engine: "kqueue", wantCode: ExitUsage, wantCreated: true},
		{name: "EMFILE on epoll", engine: string(engine.BackendEpoll), newErr: emfile, wantCode: ExitError, wantIs: syscall.EMFILE, wantCreated: true},
		{name: "EMFILE on the default", engine: "", newErr: emfile, wantCode: ExitError, wantIs: syscall.EMFILE, wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			created := false
			opts := &ServeOptions{
				IO:        IOStreams{Out: new(syncBuffer), ErrOut: new(syncBuffer)},
				Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Engine: tt.engine,
				Ready: func([]net.Addr) { t.Error("Ready called, but NewServer fails") },
				newServer: func(cfg *engine.Config) (*engine.Server, error) {
					created = true
					if tt.newErr == nil { // the real one, which refuses the name
						return engine.NewServer(cfg)
					}
					return nil, tt.newErr
				},
			}
			err := runServe(context.Background(), opts)
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("runServe = %v: exit code %d, want %d", err, got, tt.wantCode)
			}
			if tt.newErr == nil && !strings.Contains(describe(err), `--engine "kqueue" is not std or epoll`) {
				t.Errorf("error %q does not name the flag and the choices", describe(err))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false; want NewServer's error passed through", err, tt.wantIs)
			}
			if created != tt.wantCreated {
				t.Errorf("NewServer called = %v, want %v", created, tt.wantCreated)
			}
		})
	}
}

// With --grace 0 and nothing open, no backend makes serve claim it closed
// connections.
func TestServeNoGraceNothingOpenEachEngine(t *testing.T) {
	t.Parallel()
	for _, backend := range []engine.Backend{engine.BackendStd, engine.BackendEpoll} {
		t.Run(string(backend), func(t *testing.T) {
			t.Parallel()
			probe, err := engine.NewServer(&engine.Config{Backend: backend})
			if err != nil {
				t.Skipf("no %s backend here: %v", backend, err)
			}
			probe.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // stop as soon as it listens
			for i := range 20 {
				out, errOut := new(syncBuffer), new(syncBuffer)
				opts := &ServeOptions{IO: IOStreams{Out: out, ErrOut: errOut}, Endpoints: []string{"tcp://127.0.0.1:0"},
					Service: "echo", Engine: string(backend), Loops: 1}
				if err := runServe(ctx, opts); err != nil {
					t.Fatalf("run %d: runServe = %v, want nil", i, err)
				}
				if got := errOut.String(); got != "shutting down\n" {
					t.Fatalf("run %d: stderr = %q, want %q", i, got, "shutting down\n")
				}
			}
		})
	}
}

// relayChildEnv makes TestRelaySignals the child process it signals.
const relayChildEnv = "SOCKIT_TEST_RELAY_SIGNALS"

// The first signal cancels the soft context, the second the hard one, and
// a third gets the default action: it kills the process, as a third Ctrl-C
// must when a shutdown is stuck.
func TestRelaySignals(t *testing.T) {
	if os.Getenv(relayChildEnv) != "" {
		relayChild()
		return
	}
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("os.Process.Signal cannot send SIGINT or SIGTERM on Windows")
	}
	tests := []struct {
		name string
		sig  os.Signal
	}{
		{name: "SIGINT", sig: os.Interrupt},
		{name: "SIGTERM", sig: syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if signal.Ignored(tt.sig) {
				t.Skipf("%v is ignored in this process, and a child would inherit that", tt.sig)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestRelaySignals$", "-test.count=1")
			cmd.Env = append(os.Environ(), relayChildEnv+"=1")
			stdin, err := cmd.StdinPipe() // the child waits for its EOF
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killer := time.AfterFunc(waitLimit, func() { cmd.Process.Kill() })
			lines := bufio.NewScanner(stdout)
			expect := func(want string) {
				t.Helper()
				for lines.Scan() {
					if lines.Text() == want {
						return
					}
				}
				t.Errorf("child ended before printing %q", want)
			}
			expect("ready")
			for _, want := range []string{"soft", "hard"} {
				if err := cmd.Process.Signal(tt.sig); err != nil {
					t.Fatal(err)
				}
				expect(want)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, stdout)
			err = cmd.Wait()
			if !killer.Stop() {
				t.Fatalf("the child still ran %v after the third %v, and was killed", waitLimit, tt.sig)
			}
			// A process killed by a signal has no exit code: -1.
			if code := cmd.ProcessState.ExitCode(); code != -1 {
				t.Errorf("after a third %v the child exited with %v (code %d); want it killed by the signal", tt.sig, err, code)
			}
		})
	}
}

// relayChild runs relaySignals as Main sets it up, says what each signal
// did, and waits for its standard input to end.
func relayChild() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go relaySignals(sigs, func() { fmt.Println("soft") }, func() { fmt.Println("hard") })
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
