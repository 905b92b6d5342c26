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
// buffer, and returns when the program has exited and its output has gone
// out. A program that exits early ends the connection, however much the
// peer still sends. A program still running when the peer is gone (a
// write to the peer fails), when Options.IdleTimeout passes with nothing
// moving either way, or when ctx ends is stopped, with the processes it
// started: SIGTERM to its process group (on Unix), then SIGKILL
// Options.StopGrace later, as a Service stops its programs.
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

func (p Program) command() *exec.Cmd {
	if p.Shell != "" {
		return shellCommand(p.Shell)
	}
	return exec.Command(p.Argv[0], p.Argv[1:]...)
}

// start starts p on pp, in a process group of its own, with this
// process's environment, o.Env and env, and its standard error to
// o.Stderr; the program's ends of pp are closed once it has them. Run
// and Service start their programs here.
func (p Program) start(o Options, env []string, pp pipes) (*exec.Cmd, error) {
	cmd := p.command()
	cmd.Env = append(append(os.Environ(), o.Env...), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pp.childIn, pp.childOut, o.Stderr
	cmd.WaitDelay = o.KillWait // a Stderr that is not a file: its copy ends
	ownGroup(cmd)
	err := cmd.Start()
	pp.childIn.Close()
	pp.childOut.Close()
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	return cmd, nil
}

// pipes are a program's standard input and output: our ends, and the
// program's. They are our own, not exec.Cmd's, so that Wait closes
// neither of ours: output the program leaves in its pipe as it exits
// still goes out.
type pipes struct {
	stdin, stdout     *os.File // ours: we write its input, read its output
	childIn, childOut *os.File // the program's, closed once it has started
}

func newPipes() (pipes, error) {
	var pp pipes
	var err error
	if pp.childIn, pp.stdin, err = os.Pipe(); err != nil {
		return pp, err
	}
	if pp.stdout, pp.childOut, err = os.Pipe(); err != nil {
		pp.childIn.Close()
		pp.stdin.Close()
		return pp, err
	}
	return pp, nil
}

// Conn is the connection a program runs on: a net.Conn that can end its
// writing side (*client.Conn is one; on a socket CloseWrite sends FIN).
type Conn interface {
	net.Conn
	CloseWrite() error
}

// Options configure Run (and, inside ServiceOptions, Service). The zero
// value runs the program with this process's environment plus the
// connection's addresses, its standard error discarded, no idle timeout,
// and the defaults below for stopping it.
type Options struct {
	// Env is added to the environment the program gets, after this
	// process's and before the connection's variables.
	Env []string
	// Stderr receives the program's standard error; nil = discarded.
	Stderr io.Writer
	// IdleTimeout stops the program when no byte has moved either way
	// for this long; 0 = never.
	IdleTimeout time.Duration
	// StopGrace is how long a program asked to stop (SIGTERM to its
	// process group) has to exit before it is killed (SIGKILL).
	// 0 = DefaultStopGrace.
	StopGrace time.Duration
	// KillWait bounds the wait for the program's output once it has
	// exited, when something it started keeps that output open (then its
	// process group is killed); 0 = DefaultKillWait.
	KillWait time.Duration
}

// Defaults of Options.
const (
	DefaultStopGrace = 2 * time.Second
	DefaultKillWait  = 2 * time.Second
)

// resolve checks o, for the option owner (a *sockit.OptionError names its
// fields), and fills in the defaults.
func (o Options) resolve(owner string) (Options, error) {
	switch {
	case o.StopGrace < 0:
		return o, sockit.BadOption(owner, "StopGrace", fmt.Sprintf("is %s; it must be 0 (the default) or more", o.StopGrace))
	case o.IdleTimeout < 0:
		return o, sockit.BadOption(owner, "IdleTimeout", fmt.Sprintf("is %s; it must be 0 (never) or more", o.IdleTimeout))
	case o.KillWait < 0:
		return o, sockit.BadOption(owner, "KillWait", fmt.Sprintf("is %s; it must be 0 (the default) or more", o.KillWait))
	}
	if o.StopGrace == 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.KillWait == 0 {
		o.KillWait = DefaultKillWait
	}
	return o, nil
}

// Report is how one program run ended.
type Report struct {
	In, Out  int64  // bytes peer → program, program → peer
	ExitCode int    // -1 if it was killed (or died of a signal) or did not start
	Killed   string // why sockit asked it to stop while it ran ("idle for 30s", "interrupted"); "" = it ended by itself
}

// Environment variables a program gets, besides its own.
const (
	EnvPeer    = "SOCKIT_PEER_ADDR"  // the peer's address: "127.0.0.1:43512", a socket path
	EnvLocal   = "SOCKIT_LOCAL_ADDR" // our address on the connection
	EnvNetwork = "SOCKIT_NETWORK"    // tcp, tcp6, unix, udp …
)

// Run runs p for c until it has exited and its output has gone to c (see
// the package doc), and closes neither: the caller closes c. The error
// is the program's failure to start, bad Options (a *sockit.OptionError),
// or an error on c; a program that exits with a status other than 0 is
// in the Report, not an error.
//
// The program is stopped as a Service stops it (SIGTERM to its process
// group, SIGKILL Options.StopGrace later) when ctx ends, when
// Options.IdleTimeout passes with nothing moving either way, or when the
// peer is gone (a write to it fails).
func Run(ctx context.Context, c Conn, p Program, o Options) (Report, error) {
	rep := Report{ExitCode: -1}
	o, err := o.resolve("program.Options")
	if err != nil {
		return rep, err
	}
	pp, err := newPipes()
	if err != nil {
		return rep, err
	}
	stdin, stdout := pp.stdin, pp.stdout
	defer stdin.Close()
	defer stdout.Close()
	cmd, err := p.start(o, connEnv(c), pp)
	if err != nil {
		return rep, err
	}
	pr := &proc{grace: o.StopGrace}
	pr.start(cmd)
	// A program stopped gets no more of the peer's time either: what it
	// still writes to a peer who does not read is cut, so that Run ends.
	stop := func(why string) {
		pr.stop(why)
		c.SetWriteDeadline(time.Unix(1, 0))
	}
	stopOnCancel := context.AfterFunc(ctx, func() { stop("interrupted") })
	defer stopOnCancel()

	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if o.IdleTimeout > 0 {
		stop := watchIdle(ctx, &last, o.IdleTimeout, func() { stop("idle for " + o.IdleTimeout.String()) })
		defer stop()
	}

	var wg sync.WaitGroup
	wg.Go(func() { // peer → program; ends at the peer's FIN, or when the program stops reading
		rep.In, _ = copyCounting(stdin, c, touch) // the program stopped reading (EPIPE) or the read was cut: its business
		stdin.Close()                             // the peer's FIN is the program's end of input
	})
	// program → peer: its end is our FIN.
	var outErr error
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		rep.Out, outErr = copyCounting(c, stdout, touch)
		switch {
		case outErr == nil: // its output ended (it closed it, or exited): our FIN, now
			if err := c.CloseWrite(); err != nil && !errors.Is(err, sock.ErrUnsupported) {
				outErr = err
			}
		case !isPipeEnd(outErr):
			stop("the peer is gone")
		}
	}()
	werr := pr.await(outDone, o.KillWait) // the program has exited and been reaped
	<-outDone                             // and its output has gone out, or been cut
	c.SetWriteDeadline(time.Time{})
	// The program is gone: what the peer still sends has nowhere to go.
	c.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	c.SetReadDeadline(time.Time{})
	if why := pr.killed(); why != "" {
		rep.Killed = why
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		rep.ExitCode = 0
	case errors.As(werr, &ee):
		rep.ExitCode = ee.ExitCode()
	}
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
