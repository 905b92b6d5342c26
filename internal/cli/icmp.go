package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/icmpwatch"
)

// ICMPOptions are the inputs of `sockit icmp`.
type ICMPOptions struct {
	IO   IOStreams
	JSON bool
	// Ready, if set, is called once the raw sockets are open (tests).
	Ready func()
	// listen replaces icmpwatch.Listen in tests.
	listen func() (*icmpwatch.Watcher, error)
}

// NewCmdICMP builds `sockit icmp`. runF replaces runICMP in tests.
func NewCmdICMP(app *App, runF func(context.Context, *ICMPOptions) error) *cobra.Command {
	opts := &ICMPOptions{}
	cmd := &cobra.Command{
		Use:   "icmp",
		Short: "Show the ICMP and ICMPv6 messages arriving at this machine, in plain words",
		Long: `Show each ICMP and ICMPv6 message arriving at this machine, read from raw
sockets (SOCK_RAW), in plain words. An error message quotes the start of the
datagram it is about; icmp names that datagram's protocol and ends:

  port unreachable: udp 127.0.0.1:40312 → 127.0.0.1:9 (ICMP type 3 code 3 from 127.0.0.1)

This is what stands behind "connection refused" on a UDP socket: nothing
listened on the port, and the kernel there answered with an ICMP port
unreachable. Raw sockets need root, or CAP_NET_RAW on Linux. Ctrl-C ends it
(exit 0).

--json prints one JSON object a line (NDJSON):
  {"time", "v6" (ICMPv6 only), "from", "type", "code", "text",
   "id", "seq", "size" (echo request and reply only),
   "quoted": {"proto", "src", "dst"} (error messages only)}`,
		Example: `  sudo sockit icmp
  sudo sockit icmp --json
  # in another terminal: a datagram to a port where nothing listens
  sockit send udp://127.0.0.1:9 hello`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runICMP(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print each message as a JSON object on its own line (NDJSON)")
	return cmd
}

// needRawError is what sockit says when it may not open raw sockets: in
// one line, what to do; it unwraps to the error of socket(2), whose kind
// (permission) sets the exit code.
type needRawError struct{ err error }

func (e needRawError) Error() string {
	s := "icmp reads raw sockets (SOCK_RAW), which need root or CAP_NET_RAW: run it with sudo, or give the binary the capability (sudo setcap cap_net_raw+ep ./sockit)"
	if name := sockit.ErrnoName(e.err); name != "" {
		s += " [" + name + "]"
	}
	return s
}
func (e needRawError) Unwrap() error { return e.err }

func runICMP(ctx context.Context, opts *ICMPOptions) error {
	listen := icmpwatch.Listen
	if opts.listen != nil {
		listen = opts.listen
	}
	w, err := listen()
	if errors.Is(err, icmpwatch.ErrNeedRaw) {
		return needRawError{err}
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if opts.Ready != nil {
		opts.Ready()
	}
	if !opts.JSON {
		fmt.Fprintln(opts.IO.ErrOut, "watching ICMP and ICMPv6 messages (Ctrl-C to stop)")
	}
	enc := json.NewEncoder(opts.IO.Out)
	var werr error
	err = w.Run(ctx, func(m icmpwatch.Message) {
		if werr != nil {
			return
		}
		if opts.JSON {
			werr = enc.Encode(m)
			return
		}
		_, werr = fmt.Fprintf(opts.IO.Out, "%s %s\n", m.Time.Format(stampLayout), m)
	})
	return errors.Join(err, werr)
}
