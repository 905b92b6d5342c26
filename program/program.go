// Package program runs a program for a connection, with the connection as
// its standard input and output, as inetd, ncat -e and socat EXEC: do: Run
// on a blocking connection (a net.Conn; sockit listen --exec), Service on
// every connection of an engine server, through its event loops (sockit
// serve --exec).
//
// The two directions end separately, as TCP's half-close lets them: the
// peer's end of data (FIN) closes the program's standard input, so a
// program that reads all its input before it answers gets its EOF and
// then answers; the end of the program's standard output (it closed it,
// or exited) sends our FIN, after every byte it wrote. Neither side can
// make the other hold more than a bounded buffer: a program that floods
// a peer who does not read is held back by its pipe, and a peer who
// floods a program that does not read is held back by TCP's flow control.
// The program gets the connection's addresses in its environment
// (EnvPeer, EnvLocal, EnvNetwork).
//
// Run copies each direction on a goroutine of its own, through one fixed
// buffer, and returns when the program has exited and its output has gone out. A
// program that exits early ends the connection, however much the peer
// still sends. A program still running when the peer is gone (a write to
// the peer fails), when Options.IdleTimeout passes with nothing moving
// either way, or when ctx ends is killed, with the processes it started
// (its process group, on Unix).
package program

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// Program is what runs for each connection: Argv run directly (Argv[0]
// looked up in PATH), or Shell run by /bin/sh -c (cmd /C on Windows).
// Exactly one of them is set.
type Program struct {
	Argv  []string
	Shell string
}

// Command is the Program a command line names when no shell reads it:
// its words, split at spaces and tabs, with no quoting and no variables,
// as ncat's -e and inetd take them.
func Command(line string) Program { return Program{Argv: strings.Fields(line)} }

// Check reports a Program that cannot run: neither or both of its
// fields, or an Argv[0] not found. Errors are *sockit.OptionError.
func (p Program) Check() error {
	switch {
	case len(p.Argv) == 0 && p.Shell == "":
		return &sockit.OptionError{Owner: "program.Program", Fields: []string{"Argv", "Shell"}, Reason: "are both empty: name the program to run"}
	case len(p.Argv) > 0 && p.Shell != "":
		return &sockit.OptionError{Owner: "program.Program", Fields: []string{"Argv", "Shell"}, Reason: "are both set: run a program, or a shell command line, not both"}
	case len(p.Argv) > 0:
		if _, err := exec.LookPath(p.Argv[0]); err != nil {
			return sockit.BadOption("program.Program", "Argv", fmt.Sprintf("%q cannot be run: %v", p.Argv[0], errors.Unwrap(err)))
		}
	}
	return nil
}

func (p Program) command(ctx context.Context) *exec.Cmd {
	if p.Shell != "" {
		return shellCommand(ctx, p.Shell)
	}
	return exec.CommandContext(ctx, p.Argv[0], p.Argv[1:]...)
}

// Conn is the connection a program runs on: a net.Conn that can end its
// writing side (*client.Conn is one; on a socket CloseWrite sends FIN).
type Conn interface {
	net.Conn
	CloseWrite() error
}

// Options configure Run. The zero value runs the program with this
// process's environment plus the connection's addresses, its standard
// error discarded, and no idle timeout.
type Options struct {
	// Env is added to the environment the program gets, after this
	// process's and before the connection's variables.
	Env []string
	// Stderr receives the program's standard error; nil = discarded.
	Stderr io.Writer
	// IdleTimeout kills the program when no byte has moved either way
	// for this long; 0 = never.
	IdleTimeout time.Duration
	// KillWait bounds the wait for the program's output once it has
	// exited, or has been killed, when something it started keeps its
	// output open; 0 = 2s.
	KillWait time.Duration
}

// Report is how one program run ended.
type Report struct {
	In, Out  int64 // bytes peer → program, program → peer
	ExitCode int   // -1 if it was killed or did not start
	Killed   string
}

// Environment variables a program gets, besides its own.
const (
	EnvPeer    = "SOCKIT_PEER_ADDR"  // the peer's address: "127.0.0.1:43512", a socket path
	EnvLocal   = "SOCKIT_LOCAL_ADDR" // our address on the connection
	EnvNetwork = "SOCKIT_NETWORK"    // tcp, tcp6, unix, udp …
)

// Run runs p for c until it has exited and its output has gone to c (see
// the package doc), and closes neither: the caller closes c. The error
// is the program's failure to start, or an error on c; a program that
// exits with a status other than 0 is in the Report, not an error.
func Run(ctx context.Context, c Conn, p Program, o Options) (Report, error) {
	rep := Report{ExitCode: -1}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := p.command(ctx)
	cmd.Env = append(append(os.Environ(), o.Env...), connEnv(c)...)
	cmd.Stderr = o.Stderr
	ownGroup(cmd)
	var killedWhy atomic.Value
	kill := func(why string) {
		killedWhy.CompareAndSwap(nil, why)
		cancel()
	}
	cmd.Cancel = func() error { return killGroup(cmd) }
	// A killed program's output stops here too: a write to a peer who
	// does not read must not outlive it.
	stopCut := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stopCut()
	cmd.WaitDelay = o.KillWait
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return rep, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return rep, err
	}
	if err := cmd.Start(); err != nil {
		return rep, fmt.Errorf("program: %w", err)
	}
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if o.IdleTimeout > 0 {
		stop := watchIdle(ctx, &last, o.IdleTimeout, func() { kill("idle for " + o.IdleTimeout.String()) })
		defer stop()
	}

	var wg sync.WaitGroup
	var inErr error
	wg.Add(1)
	go func() { // peer → program; ends at the peer's FIN, or when the program stops reading
		defer wg.Done()
		rep.In, inErr = copyCounting(stdin, c, touch)
		stdin.Close() // the peer's FIN is the program's end of input
	}()
	// program → peer, here: its end is our FIN.
	var outErr error
	rep.Out, outErr = copyCounting(c, stdout, touch)
	if outErr != nil && !isPipeEnd(outErr) && ctx.Err() == nil {
		kill("the peer is gone")
	}
	if outErr == nil { // its output ended (it closed it, or exited): our FIN, now
		if err := c.CloseWrite(); err != nil && !errors.Is(err, sock.ErrUnsupported) {
			outErr = err
		}
	}
	werr := cmd.Wait() // the program has exited; its output has been read
	// The program is gone: what the peer still sends has nowhere to go.
	c.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	c.SetReadDeadline(time.Time{})
	if why, ok := killedWhy.Load().(string); ok {
		rep.Killed = why
	} else if ctx.Err() != nil {
		rep.Killed = "interrupted"
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		rep.ExitCode = 0
	case errors.As(werr, &ee):
		rep.ExitCode = ee.ExitCode()
	}
	_ = inErr // the program stopped reading (EPIPE) or the peer's read was cut: the program's business
	if outErr != nil && (isPipeEnd(outErr) || rep.Killed != "") {
		outErr = nil // the program's end, or ours: the Report says which
	}
	return rep, outErr
}

// copyCounting copies src to dst until src ends, counting the bytes and
// touching the idle clock each time.
func copyCounting(dst io.Writer, src io.Reader, touch func()) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			touch()
			w, werr := dst.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// isPipeEnd reports an error that only says a pipe to the program was
// closed under us: the program exited, or Wait closed its output.
func isPipeEnd(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

// watchIdle calls idle once nothing has moved for d, checking at a
// quarter of d; the returned func stops it.
func watchIdle(ctx context.Context, last *atomic.Int64, d time.Duration, idle func()) (stop func()) {
	t := time.NewTicker(max(d/4, time.Millisecond))
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if time.Since(time.Unix(0, last.Load())) >= d {
					idle()
					return
				}
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// addressed is a connection with addresses: a net.Conn or an
// engine.Conn.
type addressed interface {
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// connEnv is the environment a program gets for a connection, besides
// its own: the connection's addresses, in the variables above.
func connEnv(c addressed) []string {
	var env []string
	if a := c.RemoteAddr(); a != nil {
		env = append(env, EnvPeer+"="+a.String(), EnvNetwork+"="+a.Network())
	}
	if a := c.LocalAddr(); a != nil {
		env = append(env, EnvLocal+"="+a.String())
	}
	return env
}
