package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/program"
)

// ListenOptions are the inputs of `sockit listen`.
type ListenOptions struct {
	IO          IOStreams
	Endpoint    string
	Keep        bool // accept one connection after another, until interrupted
	NoShutdown  bool
	IdleTimeout time.Duration
	ReplyWait   time.Duration
	Verbose     bool
	States      bool
	// CertFile and KeyFile are the certificate of a tls:// or wss://
	// endpoint; without them a self-signed one is made for the session.
	CertFile, KeyFile string
	Sock              sockFlags
	NC                ncFlags // mapped onto Endpoint and IdleTimeout
	// execFlags (Exec, Sh, MaxConns) run a program per connection
	// instead of piping standard input and output; at most MaxConns at
	// once.
	execFlags
	// Events streams NDJSON events to standard error (--json) or a file
	// (--events FILE): standard output carries the data.
	Events eventFlags
	// Ready, if set, is called with the bound address once it listens
	// (tests use it to learn port 0's port).
	Ready func(net.Addr)
}

// NewCmdListen builds `sockit listen`. runF replaces runListen in tests.
func NewCmdListen(app *App, runF func(context.Context, *ListenOptions) error) *cobra.Command {
	opts := &ListenOptions{}
	cmd := &cobra.Command{
		Use:   "listen ENDPOINT | -p PORT",
		Short: "Accept a connection and copy it to standard output and standard input to it, like nc -l",
		Long: `Accept one connection on ENDPOINT (with --keep, one after another) and copy
standard input to it and it to standard output, as connect does for a
connection it makes.

Half-close is explicit, as in connect: at end of input sockit sends FIN
(shutdown SHUT_WR; close_notify on tls, a close frame on ws and wss) and keeps
printing until the peer closes; --no-shutdown keeps the connection fully open
instead. On udp and unixgram the first datagram's sender is the peer: its
datagrams are printed, each input line goes back to it as one datagram, and
others' datagrams are dropped until it is done (--reply-wait after the input
ends). With --keep, standard input goes to the connection open when it comes.

--exec 'CMD ARGS' runs CMD for each connection instead, with the connection as
its standard input and output (through pipes; ARGS split at spaces, no shell:
--sh 'command line' runs /bin/sh -c), and SOCKIT_PEER_ADDR, SOCKIT_LOCAL_ADDR
and SOCKIT_NETWORK in its environment. The peer's FIN closes the program's
standard input; the end of its standard output (or its exit) sends our FIN. With
-k, connections are served at once, up to --max-conns programs; --idle-timeout
stops a program when nothing moves either way for that long (SIGTERM, then
SIGKILL 2s later), as Ctrl-C and a peer that goes away do.

nc's flags work as nc users type them: -l (changes nothing), -p PORT, -s ADDR,
-u, -4, -6, -w SECS (--idle-timeout), -k, -e CMD (--exec), -c CMD (--sh).`,
		Example: `  sockit listen :9000 > file            (nc -l 9000 > file)
  sockit listen udp://127.0.0.1:9000
  sockit listen unix:///tmp/s.sock -k -v
  sockit listen wss://127.0.0.1:9443     (a self-signed certificate)
  sockit listen -l -u -p 9000            (nc -l -u -p 9000)
  sockit listen :9000 -k --exec 'tr a-z A-Z'
  sockit listen :9000 -k --sh 'echo hello $SOCKIT_PEER_ADDR; cat'`,
		Args: argsBetween(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			var err error
			if opts.Endpoint, err = opts.NC.endpoint(args, cmd.UseLine()); err != nil {
				return err
			}
			opts.NC.wait(cmd.Flags(), map[string]*time.Duration{"idle-timeout": &opts.IdleTimeout})
			opts.Verbose, _ = cmd.Flags().GetBool("verbose")
			opts.States, _ = cmd.Flags().GetBool("states")
			opts.Verbose = opts.Verbose || opts.States
			opts.Sock.resolveLinger(cmd.Flags())
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runListen(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Keep, "keep", "k", false, "after a connection ends, accept the next one (until Ctrl-C)")
	fs.BoolVar(&opts.NoShutdown, "no-shutdown", false, "at end of input, do not send FIN; still end when the peer closes")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 0, "end a connection when nothing moves either way for this long (0 = never)")
	fs.DurationVar(&opts.ReplyWait, "reply-wait", time.Second, "datagrams: how long to keep printing the peer's datagrams after the input ends")
	fs.StringVar(&opts.CertFile, "cert", "", "tls, wss: the certificate (PEM) to serve; without it a self-signed one is made for the session")
	fs.StringVar(&opts.KeyFile, "key", "", "tls, wss: the private key (PEM) of --cert")
	fs.BoolP("verbose", "v", false, "narrate each socket step")
	fs.Bool("states", false, "with -v (implied): also show the TCP state of the socket after each step (TCP_INFO; Linux)")
	opts.execFlags.register(fs, "with -k, more connections wait to be accepted")
	opts.Sock.register(fs, false)
	opts.NC.register(fs, "listen")
	opts.Events.register(fs, "standard error (standard output carries the data)")
	return cmd
}

func runListen(ctx context.Context, opts *ListenOptions) (err error) {
	ep, err := endpoint.Parse(opts.Endpoint)
	if err != nil {
		return err
	}
	tlsCfg, err := newServeTLS([]endpoint.Endpoint{ep}, opts.CertFile, opts.KeyFile)
	if err != nil {
		return err
	}
	defer tlsCfg.close()
	layers := layer.NewServer(layer.ServerConfig{TLS: tlsCfg.cfg})
	if err := layers.Check(ep); err != nil {
		return err
	}
	prog, err := opts.program()
	if err != nil {
		return err
	}
	events, err := opts.Events.open("listen", opts.IO, true)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, events.finish(opts.IO.ErrOut, err)) }()
	log := newObserverLog(opts.IO.ErrOut, opts.Verbose)
	defer log.finish(opts.IO.ErrOut)
	log.obs = withStates(withEvents(log.obs, events), opts.States)
	l, err := client.Listen(ctx, ep.Transport(), client.Options{
		Nagle:     !opts.Sock.NoDelay,
		KeepAlive: opts.Sock.KeepAlive,
		RecvBuf:   opts.Sock.RecvBuf,
		SendBuf:   opts.Sock.SendBuf,
		Linger:    opts.Sock.Linger,
		Observer:  log.obs,
	})
	if err != nil {
		return err
	}
	defer l.Close()
	for _, line := range tlsCfg.banner() {
		fmt.Fprintln(opts.IO.ErrOut, line)
	}
	if opts.Verbose {
		fmt.Fprintf(opts.IO.ErrOut, "listening on %s\n", ep.WithAddr(l.Addr()))
	}
	if opts.Ready != nil {
		opts.Ready(l.Addr())
	}
	if prog != nil {
		return listenExec(ctx, opts, l, layers, ep, *prog)
	}
	in := opts.IO.In
	if opts.Keep {
		f := newInputFeed(in)
		defer f.close()
		var backoff time.Duration
		for {
			err := listenOnce(ctx, opts, l, layers, ep, f.view())
			if ctx.Err() != nil {
				return nil // Ctrl-C ends --keep: its normal end
			}
			if err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "sockit: %s\n", describe(err))
				pause(ctx, &backoff)
			} else {
				backoff = 0
			}
		}
	}
	return listenOnce(ctx, opts, l, layers, ep, in)
}

// listenOnce accepts one connection on l, stacks ep's layers on it and
// pipes in and standard output through it.
func listenOnce(ctx context.Context, opts *ListenOptions, l *client.Listener, layers *layer.Server, ep endpoint.Endpoint, in io.Reader) error {
	if v, ok := in.(*feedView); ok {
		defer v.detach()
	}
	c, err := l.Accept(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.Verbose {
		fmt.Fprintf(opts.IO.ErrOut, "connection from %s\n", c.RemoteAddr())
	}
	if err := layers.Accept(ctx, c, ep); err != nil {
		return err
	}
	po := client.PipeOptions{NoShutdown: opts.NoShutdown, IdleTimeout: opts.IdleTimeout, ReplyWait: opts.ReplyWait}
	err = client.Pipe(ctx, c, in, opts.IO.Out, po)
	if sockit.KindOf(err) == sockit.KindTimeout && ctx.Err() == nil && opts.IdleTimeout > 0 {
		return fmt.Errorf("%w: nothing moved either way for %s (--idle-timeout)", err, opts.IdleTimeout)
	}
	return err
}

// pause waits after a failed connection, doubling *backoff from 5 ms to
// 1 s, so that an accept that keeps failing (out of descriptors) does not
// spin; ctx ends the wait.
func pause(ctx context.Context, backoff *time.Duration) {
	*backoff = min(max(2**backoff, 5*time.Millisecond), time.Second)
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// listenExec runs prog for each connection l accepts: one, or with
// --keep one after another, up to --max-conns at once, until ctx ends.
func listenExec(ctx context.Context, opts *ListenOptions, l *client.Listener, layers *layer.Server, ep endpoint.Endpoint, prog program.Program) error {
	po := program.Options{Stderr: opts.IO.ErrOut, IdleTimeout: opts.IdleTimeout}
	serve := func(c *client.Conn) error {
		defer c.Close()
		peer := c.RemoteAddr()
		if err := layers.Accept(ctx, c, ep); err != nil {
			return err
		}
		rep, err := program.Run(ctx, c, prog, po)
		if opts.Verbose {
			fmt.Fprintln(opts.IO.ErrOut, programLine(peer, rep, "stopped"))
		}
		return err
	}
	if !opts.Keep {
		c, err := l.Accept(ctx)
		if err != nil {
			return err
		}
		if opts.Verbose {
			fmt.Fprintf(opts.IO.ErrOut, "connection from %s\n", c.RemoteAddr())
		}
		return serve(c)
	}
	slots := make(chan struct{}, max(opts.MaxConns, 1))
	var backoff time.Duration
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := l.Accept(ctx)
		if ctx.Err() != nil {
			return nil // Ctrl-C ends --keep: its normal end
		}
		if err != nil {
			<-slots
			fmt.Fprintf(opts.IO.ErrOut, "sockit: %s\n", describe(err))
			pause(ctx, &backoff)
			continue
		}
		backoff = 0
		if opts.Verbose {
			fmt.Fprintf(opts.IO.ErrOut, "connection from %s\n", c.RemoteAddr())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := serve(c); err != nil && ctx.Err() == nil {
				fmt.Fprintf(opts.IO.ErrOut, "sockit: %s\n", describe(err))
			}
		}()
	}
}

// inputFeed shares one input among connections that come one after
// another (listen --keep): one goroutine reads the input, and each
// connection reads it through a view; what a connection that has ended
// did not take goes to the next one. Its goroutine ends at the input's
// end or error, or when close is called and the input's Read returns.
type inputFeed struct {
	chunks chan []byte
	done   chan struct{} // closed by close
	once   sync.Once

	mu   sync.Mutex
	left []byte // a chunk a view took but did not pass on
	end  error  // the input's EOF or error, once chunks is drained
}

func newInputFeed(in io.Reader) *inputFeed {
	f := &inputFeed{chunks: make(chan []byte), done: make(chan struct{})}
	go f.read(in)
	return f
}

func (f *inputFeed) read(in io.Reader) {
	for {
		buf := make([]byte, 32<<10)
		n, err := in.Read(buf)
		if n > 0 {
			select {
			case f.chunks <- buf[:n]:
			case <-f.done:
				return
			}
		}
		if err != nil {
			f.mu.Lock()
			f.end = err
			f.mu.Unlock()
			close(f.chunks)
			return
		}
	}
}

func (f *inputFeed) close() { f.once.Do(func() { close(f.done) }) }

// view returns a reader of the feed for one connection.
func (f *inputFeed) view() *feedView {
	return &feedView{f: f, detached: make(chan struct{})}
}

// feedView is one connection's reader of an inputFeed.
type feedView struct {
	f        *inputFeed
	once     sync.Once
	detached chan struct{}
}

// detach ends the view: a Read blocked in it returns EOF, and any chunk
// it takes from now on is left for the next view.
func (v *feedView) detach() { v.once.Do(func() { close(v.detached) }) }

func (v *feedView) Read(p []byte) (int, error) {
	f := v.f
	f.mu.Lock()
	if len(f.left) > 0 {
		n := copy(p, f.left)
		f.left = f.left[n:]
		f.mu.Unlock()
		return n, nil
	}
	f.mu.Unlock()
	select {
	case b, ok := <-f.chunks:
		f.mu.Lock()
		defer f.mu.Unlock()
		if !ok {
			return 0, f.end
		}
		select {
		case <-v.detached:
			f.left = append(f.left, b...)
			return 0, io.EOF
		default:
		}
		n := copy(p, b)
		f.left = append(f.left, b[n:]...)
		return n, nil
	case <-v.detached:
		return 0, io.EOF
	case <-f.done:
		return 0, errors.New("input closed")
	}
}
