package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/sockapi"
)

// ConnectOptions are the inputs of `sockit connect`.
type ConnectOptions struct {
	IO             IOStreams
	Endpoint       string
	NoShutdown     bool
	IdleTimeout    time.Duration
	ReplyWait      time.Duration
	ConnectTimeout time.Duration
	Verbose        bool
	States         bool // with Verbose: note the TCP state after each step
	ProxyProtocol  int  // 1 or 2: begin with a PROXY protocol header naming this client
	Preview        bool // -vv: with Verbose, the first bytes of each read and write
	TLS            tlsFlags
	Sock           sockFlags
	API            apiFlags
	NC             ncFlags // -l runs listen instead; the rest is in Endpoint and the fields above
	Cert, Key      string  // with -l: tls, wss
	Proxy          string  // client.Options.Proxy
	// Events streams NDJSON events to standard error (--json) or a file
	// (--events FILE): standard output carries the data.
	Events eventFlags
}

// NewCmdConnect builds `sockit connect`. runF replaces runConnect in tests.
func NewCmdConnect(app *App, runF func(context.Context, *ConnectOptions) error) *cobra.Command {
	opts := &ConnectOptions{}
	cmd := &cobra.Command{
		Use:   "connect ENDPOINT | HOST PORT",
		Short: "Copy standard input to a socket and the socket to standard output, like nc",
		Long: `Copy standard input to the socket and the socket to standard output.

Half-close is explicit: at end of input (Ctrl-D) sockit sends FIN with
shutdown(SHUT_WR) and keeps printing until the peer closes; --no-shutdown keeps
the connection fully open instead. On a terminal it works a line at a time with
a prompt. On udp and unixgram each input line is one datagram, and replies are
printed until --reply-wait after the input ends.

nc's flags work as nc users type them: HOST PORT, -u, -4, -6, -w SECS,
-s ADDR and -p PORT (the local address and port to connect from), and -l
(with -p PORT, -k) to listen instead, as sockit listen does.`,
		Example: `  sockit connect 127.0.0.1:7007
  printf 'GET / HTTP/1.0\r\n\r\n' | sockit connect tcp://127.0.0.1:8080
  sockit connect unixgram:///tmp/dgram.sock --reply-wait 3s
  sockit connect tls://127.0.0.1:7443 --insecure
  sockit connect ws://127.0.0.1:7080/echo      (a line is a message)
  sockit connect -u 127.0.0.1 7007             (nc -u 127.0.0.1 7007)
  sockit connect -l -p 9000 > file             (nc -l -p 9000 > file)`,
		Args: argsBetween(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if fs := cmd.Flags(); fs.Changed("no-shutdown") && fs.Changed("shutdown") {
				// ncat's spelling and ours of one choice: with both, one
				// would be silently ignored.
				return usageErr{errors.New("--no-shutdown and --shutdown exclude each other: --no-shutdown is --shutdown none")}
			}
			var err error
			if opts.Endpoint, err = opts.NC.endpoint(args, cmd.UseLine()); err != nil {
				return err
			}
			opts.NC.wait(cmd.Flags(), map[string]*time.Duration{"connect-timeout": &opts.ConnectTimeout, "idle-timeout": &opts.IdleTimeout})
			opts.Verbose, opts.Preview = verbosity(cmd)
			opts.States, _ = cmd.Flags().GetBool("states")
			opts.Verbose = opts.Verbose || opts.States
			opts.Sock.resolveLinger(cmd.Flags())
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runConnect(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.NoShutdown, "no-shutdown", false, "at end of input, do not send FIN; still exit when the peer closes")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 0, "exit when nothing moves either way for this long (0 = never)")
	fs.DurationVar(&opts.ReplyWait, "reply-wait", time.Second, "datagrams: how long to wait for replies after the input ends")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 10*time.Second, "give up connecting after this long")
	fs.CountP("verbose", "v", "narrate each socket step, as the call was made; -vv adds the first bytes of each read and write")
	fs.Bool("states", false, "with -v (implied): also show the TCP state of the socket after each step (TCP_INFO; Linux)")
	fs.IntVar(&opts.ProxyProtocol, "proxy-protocol", 0, "begin with a PROXY protocol header of this version (1 or 2) naming this connection's own addresses, as a load balancer would (to test a server that accepts it)")
	fs.StringVar(&opts.Cert, "cert", "", "with -l, tls, wss: the certificate (PEM) to serve; without it a self-signed one is made for the session")
	fs.StringVar(&opts.Key, "key", "", "with -l: the private key (PEM) of --cert")
	opts.TLS.register(fs)
	opts.Sock.register(fs, false)
	opts.API.register(fs)
	opts.NC.register(fs, "connect")
	registerProxy(fs, &opts.Proxy)
	opts.Events.register(fs, "standard error (standard output carries the data)")
	return cmd
}

// listenOptions are the options of `sockit listen` that connect -l means.
func (o *ConnectOptions) listenOptions() *ListenOptions {
	return &ListenOptions{IO: o.IO, Endpoint: o.Endpoint, Keep: o.NC.Keep, NoShutdown: o.NoShutdown, IdleTimeout: o.IdleTimeout,
		ReplyWait: o.ReplyWait, Verbose: o.Verbose, States: o.States, CertFile: o.Cert, KeyFile: o.Key, Sock: o.Sock, Events: o.Events}
}

func runConnect(ctx context.Context, opts *ConnectOptions) (err error) {
	if opts.NC.Listen {
		return runListen(ctx, opts.listenOptions())
	}
	ep, err := endpoint.Parse(opts.Endpoint)
	if err != nil {
		return err
	}
	api, err := opts.API.resolve(ep)
	if err != nil {
		return err
	}
	events, err := opts.Events.open("connect", opts.IO, true)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, events.finish(opts.IO.ErrOut, err)) }()
	log := newObserverLog(opts.IO.ErrOut, opts.Verbose)
	defer log.finish(opts.IO.ErrOut)
	log.obs = withPreview(withStates(withEvents(log.obs, events), opts.States), opts.Preview)
	var preamble func(local, remote net.Addr) ([]byte, error)
	if opts.ProxyProtocol != 0 {
		if preamble, err = proxy.Preamble(opts.ProxyProtocol); err != nil {
			return err
		}
	}
	c, err := dialLayers(ctx, ep, opts.TLS, opts.API.options(client.Options{
		ConnectTimeout: opts.ConnectTimeout,
		Nagle:          !opts.Sock.NoDelay,
		KeepAlive:      opts.Sock.KeepAlive,
		RecvBuf:        opts.Sock.RecvBuf,
		SendBuf:        opts.Sock.SendBuf,
		Linger:         opts.Sock.Linger,
		Source:         opts.NC.source(),
		Proxy:          opts.Proxy,
		Observer:       log.obs,
	}, api), preamble)
	if err != nil {
		return err
	}
	defer c.Close()
	po := client.PipeOptions{NoShutdown: opts.NoShutdown, IdleTimeout: opts.IdleTimeout, ReplyWait: opts.ReplyWait,
		Shutdown: api.shutdown, Urgent: api.urgent, Hold: opts.API.Hold}
	if opts.IO.InTTY {
		po.Interactive, po.Prompt = true, "> "
		send, end := "type a line and Enter to send it", "Ctrl-D sends FIN (shutdown SHUT_WR)"
		switch {
		case ep.IsPacket() || opts.NoShutdown || api.shutdown == sockapi.ShutNone:
			end = "Ctrl-D ends input"
		case api.shutdown != sockapi.ShutWR:
			end = "Ctrl-D calls shutdown(" + api.shutdown.String() + ")"
		case ep.IsWebSocket():
			send, end = "each line is a message", "Ctrl-D sends a close frame"
		case ep.IsTLS():
			end = "Ctrl-D sends close_notify (TLS's end of data)"
		}
		fmt.Fprintf(opts.IO.ErrOut, "connected to %s; %s; %s; Ctrl-C quits\n", ep, send, end)
	}
	err = client.Pipe(ctx, c, opts.IO.In, opts.IO.Out, po)
	if sockit.KindOf(err) == sockit.KindTimeout && ctx.Err() == nil && opts.IdleTimeout > 0 {
		return fmt.Errorf("%w: nothing moved either way for %s (--idle-timeout)", err, opts.IdleTimeout)
	}
	return err
}
