// Package cli is the sockit command line: one file per verb, each with an
// Options struct, a NewCmd constructor and a run function that tests call
// with injected streams. Exit codes are decided in exit.go, and only here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sockit/sockit/internal/version"
)

// IOStreams are the standard streams a verb reads and writes. Tests pass
// buffers; Main passes the process's own.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	InTTY  bool // In is a terminal: connect switches to line mode
	ErrTTY bool // ErrOut is a terminal: bench shows a refreshing progress line
}

// App is what every verb shares: its streams and the context that the
// second interrupt cancels (the first cancels the command's own context).
type App struct {
	IO   IOStreams
	Hard context.Context
	// Self is how the user runs sockit again, in the commands a verb
	// suggests: "sockit", "./sockit", "go run ./cmd/sockit"; "" =
	// "sockit".
	Self string
}

// Main runs sockit with os.Args and returns the process exit code.
func Main() int {
	soft, cancelSoft := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelSoft()
	defer cancelHard()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go relaySignals(sigs, cancelSoft, cancelHard)

	app := &App{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
			ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		},
		Hard: hard,
		Self: selfCommand(),
	}
	cmd := NewRootCmd(app)
	err := cmd.ExecuteContext(soft)
	if err != nil {
		msg := describe(err)
		if errors.Is(err, context.Canceled) {
			msg = "interrupted"
		}
		fmt.Fprintln(app.IO.ErrOut, "sockit: "+msg)
	}
	return ExitCode(err)
}

// relaySignals turns the first signal on sigs into soft and the second into
// hard, then stops relaying: a third signal gets the default action, which
// for Ctrl-C kills the process even if the shutdown is stuck. sigs is never
// closed (signal.Stop does not close it), so the goroutine lives as long as
// the process unless two signals come.
func relaySignals(sigs chan os.Signal, soft, hard context.CancelFunc) {
	<-sigs
	soft()
	<-sigs
	signal.Stop(sigs)
	hard()
}

// NewRootCmd builds the sockit command tree.
func NewRootCmd(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "sockit",
		Short: "Serve, connect to and observe sockets: TCP, UDP and Unix, IPv4 and IPv6",
		Long: `sockit serves, connects to and observes sockets.

Endpoints are scheme://address: tcp, tcp4, tcp6, udp, udp4, udp6 take host:port
(IPv6 in brackets: tcp6://[::1]:7007); unix, unixgram, unixpacket take a path
(unix:///tmp/echo.sock) or @name for Linux's abstract namespace. A bare :7007,
host:7007 or 7007 means TCP.

Exit codes: 0 ok, 1 other error, 2 bad usage or endpoint, 3 connection failed
(refused, unreachable, unknown host, timeout, reset; a Unix socket file that is
missing, not a socket or not writable), 4 cannot use the local address (in use,
permission, not a socket), 5 a tour lesson's check did not match what
was observed, 130 interrupted (for serve: by a second Ctrl-C, the
first one shuts down gracefully and exits 0).`,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Set here because only cobra's own unknown-command path defaults it.
		SuggestionsMinimumDistance: 2,
		// Without Args cobra reports an unknown verb as a plain error (exit
		// 1); with them it is a usage error (exit 2). RunE keeps a bare
		// `sockit` printing the help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageErr{errors.New(msg)}
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		// Every verb: a flag marked positive must not be given as zero.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return checkPositive(cmd) },
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(app.IO.In)
	root.SetOut(app.IO.Out)
	root.SetErr(app.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr{flagAdvice(c, err)}
	})
	root.AddCommand(NewCmdServe(app, nil), NewCmdSend(app, nil), NewCmdConnect(app, nil), NewCmdListen(app, nil), NewCmdBench(app, nil), NewCmdRelay(app, nil), NewCmdWatch(app, nil), NewCmdTrace(app, nil), NewCmdProbe(app, nil), NewCmdICMP(app, nil), NewCmdTour(app, nil), NewCmdVersion(app, nil))
	registerCompletions(root)
	for _, c := range append(root.Commands(), root) {
		secondsDurations(c.Flags())
		secondsDurations(c.PersistentFlags())
	}
	return root
}

// argsBetween accepts lo to hi arguments (hi < 0: no limit), else a usage
// error.
func argsBetween(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || (hi >= 0 && len(args) > hi) {
			return usageErr{fmt.Errorf("%s: wrong number of arguments\nusage: %s", cmd.Name(), cmd.UseLine())}
		}
		return nil
	}
}
