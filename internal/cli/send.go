package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
)

// SendOptions are the inputs of `sockit send`.
type SendOptions struct {
	IO             IOStreams
	Endpoint       string
	Message        []string // joined with spaces; a single "-" reads stdin
	NoNewline      bool
	Hex            bool
	Count          int
	Timeout        time.Duration
	ConnectTimeout time.Duration
	Verbose        bool
	States         bool // with Verbose: note the TCP state after each step
	Preview        bool // -vv: with Verbose, the first bytes of each read and write
	TLS            tlsFlags
	Sock           sockFlags
	API            apiFlags
	PassFD         []string // files whose descriptors go with the message (SCM_RIGHTS)
	NC             ncFlags  // mapped onto Endpoint, the timeouts and the source address
	Proxy          string   // client.Options.Proxy
	// Events streams NDJSON events to standard error (--json) or a file
	// (--events FILE): standard output carries the data.
	Events eventFlags
}

// NewCmdSend builds `sockit send`. runF replaces runSend in tests.
func NewCmdSend(app *App, runF func(context.Context, *SendOptions) error) *cobra.Command {
	opts := &SendOptions{}
	cmd := &cobra.Command{
		Use:   "send ENDPOINT MESSAGE... | HOST PORT MESSAGE...",
		Short: "Send one message, half-close, and print the reply until the server closes",
		Long: `Connect, send MESSAGE (its words joined by spaces, plus a newline unless -n),
half-close with shutdown(SHUT_WR) so the server reads EOF, print everything the
server returns until its EOF, and exit 0. On udp and unixgram: send one datagram
and print the reply datagram, waiting up to --timeout. MESSAGE "-" reads the
message from standard input, as is, and streams it: sent as it is read, with
the reply printed meanwhile, however long it is.

nc's flags work as nc users type them: HOST PORT, -u, -4, -6, -w SECS,
-s ADDR and -p PORT (the local address and port to connect from).`,
		Example: `  sockit send 127.0.0.1:7007 hello
  sockit send udp://127.0.0.1:7007 hello
  echo hi | sockit send unix:///tmp/echo.sock - --hex
  sockit send tcp6://[::1]:7007 ping --count 3 -v
  sockit send tls://127.0.0.1:7443 hello --insecure
  sockit send ws://127.0.0.1:7080/echo hello`,
		Args: argsBetween(2, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			epArgs, msg := sendArgs(args)
			var err error
			if opts.Endpoint, err = opts.NC.endpoint(epArgs, cmd.UseLine()); err != nil {
				return err
			}
			opts.Message = msg
			opts.NC.wait(cmd.Flags(), map[string]*time.Duration{"connect-timeout": &opts.ConnectTimeout, "timeout": &opts.Timeout})
			opts.Verbose, opts.Preview = verbosity(cmd)
			opts.States, _ = cmd.Flags().GetBool("states")
			opts.Verbose = opts.Verbose || opts.States
			opts.Sock.resolveLinger(cmd.Flags())
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSend(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.NoNewline, "no-newline", "n", false, "do not add a newline to the message")
	fs.BoolVar(&opts.Hex, "hex", false, "print the reply as a hex dump")
	fs.IntVar(&opts.Count, "count", 1, "send the message this many times (a message from standard input is then held in memory; once, it is streamed)")
	fs.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "give up when the server sends nothing for this long (0 = wait forever)")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 10*time.Second, "give up connecting after this long")
	fs.CountP("verbose", "v", "narrate each socket step, as the call was made; -vv adds the first bytes of each read and write")
	fs.Bool("states", false, "with -v (implied): also show the TCP state of the socket after each step (TCP_INFO; Linux)")
	opts.TLS.register(fs)
	opts.Sock.register(fs, false)
	opts.API.register(fs)
	fs.StringArrayVar(&opts.PassFD, "pass-fd", nil, "unix: open this file and pass its descriptor with the message (sendmsg with SCM_RIGHTS); the server receives it open (repeatable)")
	opts.NC.register(fs, "send")
	registerProxy(fs, &opts.Proxy)
	opts.Events.register(fs, "standard error (standard output carries the data)")
	positive(fs, "count")
	return cmd
}

// fromStdin reports whether the message is standard input ("-").
func (o *SendOptions) fromStdin() bool { return len(o.Message) == 1 && o.Message[0] == "-" }

// message is the message to send; standard input only with --count above
// 1, which must hold it to repeat it (once, it is streamed).
func (o *SendOptions) message() ([]byte, error) {
	if o.fromStdin() {
		return io.ReadAll(o.IO.In)
	}
	msg := strings.Join(o.Message, " ")
	if !o.NoNewline {
		msg += "\n"
	}
	return []byte(msg), nil
}

func (o *SendOptions) dialOptions(log observerLog) client.Options {
	return client.Options{
		ConnectTimeout: o.ConnectTimeout,
		Nagle:          !o.Sock.NoDelay,
		KeepAlive:      o.Sock.KeepAlive,
		RecvBuf:        o.Sock.RecvBuf,
		SendBuf:        o.Sock.SendBuf,
		Linger:         o.Sock.Linger,
		Source:         o.NC.source(),
		Proxy:          o.Proxy,
		Observer:       log.obs,
	}
}

func runSend(ctx context.Context, opts *SendOptions) (err error) {
	ep, err := endpoint.Parse(opts.Endpoint)
	if err != nil {
		return err
	}
	var msg []byte
	stream := opts.fromStdin() && opts.Count <= 1
	if !stream {
		if msg, err = opts.message(); err != nil {
			return err
		}
	}
	api, err := opts.API.resolve(ep)
	if err != nil {
		return err
	}
	files, err := openFiles(opts.PassFD)
	if err != nil {
		return err
	}
	defer closeFiles(files)
	events, err := opts.Events.open("send", opts.IO, true)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, events.finish(opts.IO.ErrOut, err)) }()
	log := newObserverLog(opts.IO.ErrOut, opts.Verbose)
	defer log.finish(opts.IO.ErrOut)
	log.obs = withPreview(withStates(withEvents(log.obs, events), opts.States), opts.Preview)
	c, err := dialLayers(ctx, ep, opts.TLS, opts.API.options(opts.dialOptions(log), api), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	out := opts.IO.Out
	var dumper io.WriteCloser
	if opts.Hex {
		dumper = hex.Dumper(out)
		out = dumper
	}
	so := client.SendOptions{Count: opts.Count, Timeout: opts.Timeout,
		Shutdown: api.shutdown, Urgent: api.urgent, Rights: files, Hold: opts.API.Hold}
	if stream {
		err = client.SendFrom(ctx, c, opts.IO.In, out, so)
	} else {
		err = client.Send(ctx, c, msg, out, so)
	}
	if dumper != nil {
		dumper.Close()
	}
	if sockit.KindOf(err) == sockit.KindTimeout && ctx.Err() == nil {
		return fmt.Errorf("%w: nothing arrived for %s (--timeout)", err, opts.Timeout)
	}
	return err
}
