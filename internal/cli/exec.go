package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/sockit/sockit/program"
)

// execFlags are the flags of a program per connection, listen's and
// serve's: --exec or --sh names the program (package program's rules:
// program.Command splits --exec at spaces, --sh is a shell's command
// line), --max-conns bounds how many run at once.
type execFlags struct {
	Exec, Sh string
	MaxConns int
}

// register adds the flags to fs; maxConns says what --max-conns does
// beyond its bound.
func (f *execFlags) register(fs *pflag.FlagSet, maxConns string) {
	fs.StringVarP(&f.Exec, "exec", "e", "", "run this program for each connection, the connection as its standard input and output (arguments split at spaces; no shell)")
	fs.StringVarP(&f.Sh, "sh", "c", "", "run this command line with /bin/sh -c for each connection, as --exec does")
	fs.IntVar(&f.MaxConns, "max-conns", program.DefaultMaxRunning, "with --exec or --sh: the most programs running at once; "+maxConns)
	positive(fs, "max-conns")
}

// program is the program --exec or --sh names, nil for none.
func (f *execFlags) program() (*program.Program, error) {
	var p program.Program
	switch {
	case f.Exec == "" && f.Sh == "":
		return nil, nil
	case f.Exec != "" && f.Sh != "":
		return nil, usageErr{errors.New("--exec and --sh exclude each other: run a program, or a shell command line")}
	case f.Exec != "":
		p = program.Command(f.Exec)
	default:
		p.Shell = f.Sh
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// text is the program as the user gave it.
func (f *execFlags) text() string {
	if f.Exec != "" {
		return f.Exec
	}
	return "sh -c '" + f.Sh + "'"
}

// programLine is the line that tells how a connection's program ended;
// stopped is the word for a program sockit ended (killed, stopped).
func programLine(peer net.Addr, rep program.Report, stopped string) string {
	if rep.Killed != "" {
		return fmt.Sprintf("%s: program %s (%s); bytes in %d, out %d", addrName(peer), stopped, rep.Killed, rep.In, rep.Out)
	}
	return fmt.Sprintf("%s: program exited %d; bytes in %d, out %d", addrName(peer), rep.ExitCode, rep.In, rep.Out)
}

// programEnds is serve's word on each connection of --exec: with -v how
// each program ended; always, a program that could not start, and the
// connections refused at --max-conns (the first at once, then at most one
// line a second with how many there were), so that a flood of them
// cannot flood the log; with --json, a "program" event each.
type programEnds struct {
	log      *slog.Logger
	verbose  bool
	events   *jsonEvents // nil: none
	maxConns int

	refusals throttle
}

func (p *programEnds) end(e program.End) {
	if p.events != nil {
		o := programObject{eventHead: p.events.head("program"), Peer: addrName(e.Peer), Pid: e.Pid, ExitCode: e.ExitCode,
			Stopped: e.Killed, InBytes: e.In, OutBytes: e.Out, Refused: e.Refused}
		o.Error, o.ErrorKind = errorFields(e.Err)
		p.events.post(o)
	}
	switch {
	case e.Refused:
		p.refuse(e.Peer)
	case e.Pid == 0:
		p.log.Warn(fmt.Sprintf("%s: the program could not start: %s", addrName(e.Peer), describe(e.Err)))
	case p.verbose:
		line := programLine(e.Peer, e.Report, "stopped")
		if e.Err != nil {
			line += "; " + describe(e.Err)
		}
		p.log.Info(line)
	}
}

func (p *programEnds) refuse(peer net.Addr) {
	if line, ok := p.refusals.refused(peer, p.verbose, pluralWas(uint64(p.maxConns), "program")+" running"); ok {
		p.log.Warn(line)
	}
}

// throttle says when to warn of connections reset at a --max-conns
// bound: each with -v, else the first and then at most one warning a
// second, which counts those untold since. A flood of them costs a line a
// second, not a line each.
type throttle struct {
	mu     sync.Mutex
	told   time.Time // the last warning
	untold uint64    // refusals since
	total  uint64
}

// refused counts a connection from peer reset because why ("1 program
// was running"), and returns the warning to give, if one is due.
func (t *throttle) refused(peer net.Addr, verbose bool, why string) (string, bool) {
	t.mu.Lock()
	t.total++
	t.untold++
	now := time.Now()
	say := verbose || now.Sub(t.told) >= time.Second
	n, total := t.untold, t.total
	if say {
		t.told, t.untold = now, 0
	}
	t.mu.Unlock()
	if !say {
		return "", false
	}
	who := addrName(peer) + ": connection"
	if n > 1 {
		who = plural(n, "connection") + ", the last from " + addrName(peer) + ","
	}
	return fmt.Sprintf("%s reset: %s, the most --max-conns allows (%d refused so far)", who, why, total), true
}

// programObject is serve --exec's event for each connection's program.
type programObject struct {
	eventHead
	Peer      string `json:"peer"`
	Pid       int    `json:"pid,omitempty"`
	ExitCode  int    `json:"exit_code"`
	Stopped   string `json:"stopped,omitempty"` // why sockit stopped it (SIGTERM, then SIGKILL)
	InBytes   int64  `json:"in_bytes"`
	OutBytes  int64  `json:"out_bytes"`
	Refused   bool   `json:"refused,omitempty"` // reset at --max-conns: no program ran
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
}
