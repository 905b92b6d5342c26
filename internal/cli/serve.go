package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/chat"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// defaultServeEndpoints are what `sockit serve` listens on with no arguments.
var defaultServeEndpoints = []string{"tcp://127.0.0.1:7007", "udp://127.0.0.1:7007"}

// ServeOptions are the inputs of `sockit serve`.
type ServeOptions struct {
	IO        IOStreams
	Hard      context.Context // cancelled by the second interrupt: stop at once
	Self      string          // how the banner's suggestions run sockit (App.Self); "" = "sockit"
	Endpoints []string
	Service   string
	// ServiceSet: --service was given (else http:// and https://
	// endpoints choose the HTTP service).
	ServiceSet bool
	// Root is the directory the HTTP service serves files from.
	Root string
	// execFlags (Exec, Sh, MaxConns) run a program per connection
	// instead of a service (program.Service): at most MaxConns at once,
	// more are reset.
	execFlags

	Engine  string
	Loops   int
	Accept  string
	Grace   time.Duration
	Idle    time.Duration
	Write   time.Duration // --write-timeout: engine.Config.WriteTimeout
	Unlink  bool
	Verbose bool
	States  bool // with Verbose: note each TCP socket's state after each step
	Preview bool // -vv: with Verbose, the first bytes of each read and write
	// The socket API lab: the word that stops the server
	// (service.Lab.ExitWord), a listener that accepts slowly
	// (engine.Config.AcceptDelay), a FIN held before the service hears
	// of it (service.Lab.CloseDelay), and what becomes of urgent data
	// (engine.Config.Urgent; "" = the best the engine can, see
	// urgentMode).
	ExitWord    string
	AcceptDelay time.Duration
	CloseDelay  time.Duration
	Urgent      string
	// ProxyProtocol: stream connections begin with a PROXY protocol header
	// (v1 or v2, from a load balancer such as HAProxy) naming the real client.
	ProxyProtocol bool
	// ProxyTimeout bounds the wait for a connection's PROXY header
	// (proxy.Options.HeaderTimeout).
	ProxyTimeout time.Duration
	// CertFile and KeyFile are the TLS certificate for tls:// and wss://
	// endpoints; without them serve makes a self-signed one.
	CertFile, KeyFile string
	// MaxMessage bounds a WebSocket message (and frame) a ws:// or wss://
	// client may send; a longer one closes its connection with 1009.
	// 0 = ws.DefaultMaxMessage.
	MaxMessage int
	// Watermark is the pending output above which a connection stops
	// being read (engine.Config.HighWatermark); MaxPendingTotal is the
	// budget of all connections together (engine.Config.MaxPendingTotal).
	// 0 = the engine's defaults.
	Watermark       byteSize
	MaxPendingTotal byteSize
	// UDPRate and UDPBurst limit the datagrams answered per second to one
	// source (service.GuardOptions Rate and Burst); a UDPRate of 0 sets
	// no limit.
	UDPRate  float64
	UDPBurst int
	// AllowOrigins widens the origins whose pages the ws:// and wss://
	// endpoints admit (layer.ServerConfig.AllowOrigins).
	AllowOrigins []string
	Sock         sockFlags
	// Events streams NDJSON events (--json, --events FILE); on standard
	// output they replace the banner and the summary.
	Events eventFlags
	// Metrics is the address (host:port) of the Prometheus endpoint,
	// GET /metrics; "" = none.
	Metrics string
	// metricsReady, if set, is called with the metrics endpoint's address
	// (tests); metricsHeaderTimeout replaces metricsHeaderTimeout.
	metricsReady         func(net.Addr)
	metricsHeaderTimeout time.Duration
	// Ready, if set, is called with the bound addresses once every endpoint
	// listens (tests use it to learn port 0's port).
	Ready func([]net.Addr)
	// newServer replaces engine.NewServer in tests that make it fail.
	newServer func(*engine.Config) (*engine.Server, error)
}

// NewCmdServe builds `sockit serve`. runF replaces runServe in tests.
func NewCmdServe(app *App, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve [ENDPOINT...]",
		Short: "Run a server: echo (or discard, chargen, daytime) over TCP, UDP and Unix sockets",
		Long: `Run a server on every ENDPOINT at once, default tcp://127.0.0.1:7007 and
udp://127.0.0.1:7007. Services follow their RFCs: echo (862) sends back what it
gets and half-closes after the client does, discard (863) drops it, chargen (864)
streams a character pattern, daytime (867) sends the time and closes.

--exec 'CMD ARGS' runs CMD for each connection instead of a service (inetd's
job), with the connection as its standard input and output (ARGS split at
spaces, no shell: --sh 'command line' runs /bin/sh -c), and SOCKIT_PEER_ADDR,
SOCKIT_LOCAL_ADDR and SOCKIT_NETWORK in its environment, over every stream
scheme. The peer's FIN closes the program's standard input; the end of its
standard output sends our FIN. At most --max-conns programs run at once: a
connection beyond them is reset, logged and counted. --idle-timeout stops a
program when nothing moves either way for that long (SIGTERM, then SIGKILL 2s
later), as shutdown does.

Ctrl-C or SIGTERM stops accepting and lets open connections finish for up to
--grace; a second Ctrl-C stops at once.`,
		Example: `  sockit serve
  sockit serve tcp://:8080 udp://:8080 unix:///tmp/echo.sock --service echo
  sockit serve tcp6://[::1]:7007 unixpacket:///tmp/p.sock -v
  sockit serve tcp://127.0.0.1:9000 --exec 'tr a-z A-Z'
  sockit serve tcp://127.0.0.1:9000 --sh 'sort | uniq -c' --max-conns 8 --idle-timeout 30s`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Hard, opts.Self = app.IO, app.Hard, app.Self
			opts.Endpoints = args
			opts.ServiceSet = cmd.Flags().Changed("service")
			opts.Verbose, opts.Preview = verbosity(cmd)
			opts.States, _ = cmd.Flags().GetBool("states")
			opts.Verbose = opts.Verbose || opts.States
			opts.Sock.resolveLinger(cmd.Flags())
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Service, "service", "echo", "service to run: "+strings.Join(serviceNames, ", ")+" (http:// and https:// endpoints: http)")
	fs.StringVar(&opts.Root, "root", "", "http: serve the files of this directory (GET, HEAD, Range; paths cannot leave it)")
	fs.StringVar(&opts.Engine, "engine", string(engine.DefaultBackend), "engine backend: std (goroutine per connection), epoll, or uring (io_uring; falls back to epoll where the kernel lacks it)")
	fs.IntVar(&opts.Loops, "loops", 0, "epoll and uring engines: number of event loops (0 = GOMAXPROCS)")
	fs.StringVar(&opts.Accept, "accept", "shared", "epoll and uring engines: how loops get connections: shared (one listener deals them out) or reuseport (a listener per loop; another server can then bind the port too)")
	fs.DurationVar(&opts.Grace, "grace", 5*time.Second, "on shutdown, how long open connections may take to finish")
	fs.DurationVar(&opts.Idle, "idle-timeout", 0, "close connections idle (nothing read) for this long (0 = never); with --exec or --sh, stop a program when nothing moves either way for this long")
	fs.DurationVar(&opts.Write, "write-timeout", 0, "reset a connection whose output makes no progress for this long: a client that stops reading what it is sent (0 = never; its pending output stays bounded by --watermark either way)")
	fs.StringVar(&opts.CertFile, "cert", "", "tls, wss: the certificate (PEM) to serve; without it a self-signed one is made for the session")
	fs.StringVar(&opts.KeyFile, "key", "", "tls, wss: the private key (PEM) of --cert")
	fs.StringArrayVar(&opts.AllowOrigins, "allow-origin", nil, "ws, wss: also admit web pages from origins matching this pattern (repeatable; https://*.example.com, http://localhost:*, or * for any page on the web); by default only the endpoint's own page, and clients that send no Origin")
	fs.IntVar(&opts.MaxMessage, "max-message", ws.DefaultMaxMessage, "ws, wss: the longest message (and frame) a client may send, in bytes; a longer one closes its connection with 1009 (message too big)")
	opts.MaxPendingTotal = byteSize(engine.DefaultMaxPendingTotal())
	fs.Var(&opts.MaxPendingTotal, "max-pending-total", "memory budget of all connections together (pending output, unconsumed input, TLS and WebSocket buffers): once reached, connections with the most output pending stop being read until they drain; never cut for being slow (default: a 32nd of this machine's memory)")
	opts.Watermark = byteSize(engine.DefaultHighWatermark)
	fs.Var(&opts.Watermark, "watermark", "per connection: pending output above which reading stops, resuming at half of it")
	fs.BoolVar(&opts.ProxyProtocol, "proxy-protocol", false, "expect a PROXY protocol header (v1 or v2) at the start of each stream connection, as a load balancer sends it (first on the socket, before TLS or WebSocket), and use the client address it names; connections without one are reset")
	fs.DurationVar(&opts.ProxyTimeout, "proxy-timeout", proxy.DefaultHeaderTimeout, "with --proxy-protocol: reset a connection whose PROXY header is not whole after this long")
	fs.Float64Var(&opts.UDPRate, "udp-rate", service.DefaultRate, "udp: answer at most this many datagrams a second to one source address and port, in bursts of --udp-burst (0 = no limit); datagrams from the server's own address, broadcast or multicast addresses and ports below 1024 are never answered")
	fs.IntVar(&opts.UDPBurst, "udp-burst", service.DefaultBurst, "udp: how many datagrams from one source may be answered at once before --udp-rate applies")
	fs.BoolVar(&opts.Unlink, "unlink", false, "replace a stale Unix socket file (never a live one, never a non-socket)")
	fs.CountP("verbose", "v", "narrate each socket step and log each connection; -vv adds the first bytes of each read and write, as a classic server prints each message")
	fs.StringVar(&opts.ExitWord, "exit-word", "", "stop (gracefully, exit 0) when a client sends exactly this word: a line, or a datagram, as the classic TCP and UDP echo servers do")
	fs.DurationVar(&opts.AcceptDelay, "accept-delay", 0, "call accept(2) once every this long: connections wait in the backlog meanwhile (see it fill with: sockit watch PORT)")
	fs.DurationVar(&opts.CloseDelay, "close-delay", 0, "hold each client's FIN this long before answering it with our own: the server sits in CLOSE_WAIT, and the teardown shows four segments (see it with: sockit trace PORT)")
	fs.StringVar(&opts.Urgent, "urgent", "", "tcp urgent data (MSG_OOB): receive (taken apart with recv(MSG_OOB) and narrated; the default where the engine can: epoll), inline (SO_OOBINLINE: kept in the stream; the default elsewhere, where the engine can) or off (left to the kernel, which drops it unread)")
	fs.Bool("states", false, "with -v (implied): also show the TCP state of the socket after each step (TCP_INFO; Linux)")
	opts.execFlags.register(fs, "a connection beyond them is reset at once, and counted")
	opts.Sock.register(fs, true)
	opts.Events.register(fs, "standard output, where they replace the banner and the summary")
	fs.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (ADDR is host:port, such as 127.0.0.1:9100): connections, bytes, datagrams, socket steps, handshakes, pending bytes")
	positive(fs, "max-message", "max-pending-total", "watermark", "udp-burst", "proxy-timeout")
	return cmd
}

func runServe(ctx context.Context, opts *ServeOptions) (err error) {
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = defaultServeEndpoints
	}
	eps := make([]endpoint.Endpoint, 0, len(opts.Endpoints))
	for _, s := range opts.Endpoints {
		ep, err := endpoint.Parse(s)
		if err != nil {
			return err
		}
		eps = append(eps, ep)
	}
	prog, err := opts.program()
	if err != nil {
		return err
	}
	if prog != nil {
		if opts.ServiceSet {
			flag := "--exec"
			if opts.Sh != "" {
				flag = "--sh"
			}
			return usageErr{fmt.Errorf("--service %s and %s exclude each other: serve a service, or run a program per connection", opts.Service, flag)}
		}
		opts.Service, opts.ServiceSet = "exec", true
	}
	if err := resolveService(opts, eps); err != nil {
		return err
	}
	events, err := opts.Events.open("serve", opts.IO, false)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, events.finish(opts.IO.ErrOut, err)) }()
	jsonOut := opts.Events.onStdout(false)
	narr := newEventWriter(opts.IO.ErrOut)
	defer narr.finish(opts.IO.ErrOut, "narration")
	log := newLogger(narr, opts.Verbose)
	obs := withPreview(withStates(withEvents(observer(log, opts.Verbose), events), opts.States), opts.Preview)
	var counts *metricsObserver
	if opts.Metrics != "" {
		counts = new(metricsObserver)
		obs = tee(obs, counts)
	}
	svc, err := newServed(opts, obs, prog, &programEnds{log: log, verbose: opts.Verbose, events: events, maxConns: opts.MaxConns})
	if err != nil {
		return err
	}
	handler, packetHandler := svc.stream, svc.packet
	rate := opts.UDPRate
	if rate == 0 {
		rate = -1 // --udp-rate 0: no limit
	}
	guard, err := service.NewGuard(service.GuardOptions{Rate: rate, Burst: opts.UDPBurst})
	if err != nil {
		return err
	}
	certTLS, err := newServeTLS(eps, opts.CertFile, opts.KeyFile)
	if err != nil {
		return err
	}
	defer certTLS.close()
	if opts.Grace < 0 {
		return usageErr{fmt.Errorf("--grace must be 0 or more, not %s", opts.Grace)}
	}
	if packetHandler != nil { // the HTTP service and the chat room serve streams only
		packetHandler = &unboundNote{h: guard.Wrap(packetHandler), log: log, verbose: opts.Verbose}
	}
	newServer := engine.NewServer
	if opts.newServer != nil {
		newServer = opts.newServer
	}
	exit := make(chan net.Addr, 1)
	lab := &service.Lab{ExitWord: opts.ExitWord, CloseDelay: opts.CloseDelay, Stop: func(from net.Addr) {
		select {
		case exit <- from:
		default:
		}
	}}
	handler = lab.Wrap(handler)
	if packetHandler != nil {
		packetHandler = lab.WrapPacket(packetHandler)
	}
	urgent, err := urgentMode(opts.Urgent, engine.Backend(opts.Engine))
	if err != nil {
		return err
	}
	layers := newServeLayers(opts, certTLS, obs, svc.room)
	idle := opts.Idle
	if svc.exec != nil {
		idle = 0 // the program's idle timeout: nothing moving either way (program.Options.IdleTimeout)
	}
	srv, err := newServer(&engine.Config{
		Backend:      engine.Backend(opts.Engine),
		Loops:        opts.Loops,
		Accept:       engine.AcceptMode(opts.Accept),
		Backlog:      opts.Sock.Backlog,
		ReusePort:    opts.Sock.ReusePort,
		Nagle:        !opts.Sock.NoDelay,
		KeepAlive:    opts.Sock.KeepAlive,
		RecvBuf:      opts.Sock.RecvBuf,
		SendBuf:      opts.Sock.SendBuf,
		Linger:       opts.Sock.Linger,
		IdleTimeout:  idle,
		WriteTimeout: opts.Write,
		Unlink:       opts.Unlink,
		Observer:     obs,
		Urgent:       urgent,
		Rights:       engine.LabSupportOf(engine.Backend(opts.Engine)).Rights, // narrated and answered where the backend can
		AcceptDelay:  opts.AcceptDelay,

		HighWatermark:   int(opts.Watermark),
		MaxPendingTotal: int64(opts.MaxPendingTotal),
	})
	if err != nil {
		return err
	}
	addrs := make([]net.Addr, 0, len(eps))
	bound := make([]endpoint.Endpoint, 0, len(eps))
	for _, ep := range eps {
		var addr net.Addr
		if ep.IsPacket() {
			addr, err = srv.ListenPacket(ep, packetHandler)
		} else {
			addr, err = layers.Listen(srv, ep, handler)
		}
		if err != nil {
			svc.close(srv)
			return err
		}
		addrs = append(addrs, addr)
		if !ep.IsUnix() {
			ep = ep.WithAddr(addr)
		}
		bound = append(bound, ep)
	}
	var metrics *metricsServer
	if opts.Metrics != "" {
		m, err := startMetrics(opts.Metrics, func() metricsSnapshot {
			st, ls, g := srv.Stats(), layers.Stats(), guard.Stats()
			return metricsSnapshot{Accepted: st.Accepted, Open: st.Active, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
				DatagramsIn: st.PacketsIn, DatagramsOut: st.PacketsOut, Unanswered: g.Unanswered(), AcceptErrors: st.AcceptErrors,
				Pending: st.Held, Forced: st.Forced, Layers: ls}
		}, counts, opts.metricsHeaderTimeout)
		if err != nil {
			svc.close(srv)
			return err
		}
		defer m.close()
		metrics = m
		if opts.metricsReady != nil {
			opts.metricsReady(m.Addr())
		}
	}
	if jsonOut {
		for i, ep := range bound {
			events.emit(listeningObject{eventHead: events.head("listening"), Endpoint: ep.String(), Net: ep.Scheme, Local: addrs[i].String(), Service: opts.Service, Engine: string(srv.Backend())})
		}
		if metrics != nil {
			announceMetrics(opts.IO.Out, events, true, metrics)
		}
	} else {
		printBanner(opts, srv, bound, certTLS, metrics)
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}

	select {
	case <-ctx.Done():
	case from := <-exit:
		fmt.Fprintf(opts.IO.ErrOut, "exit word %q from %s\n", opts.ExitWord, from)
	}
	active := srv.Stats().Active
	if active > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "shutting down: %s open, waiting up to %s (Ctrl-C again to stop now)\n", plural(uint64(active), "connection"), opts.Grace)
	} else {
		fmt.Fprintln(opts.IO.ErrOut, "shutting down")
	}
	hard := opts.Hard
	if hard == nil {
		hard = context.Background()
	}
	graceCtx, cancel := context.WithTimeout(hard, opts.Grace)
	defer cancel()
	err = srv.Shutdown(graceCtx)
	if svc.exec != nil {
		svc.exec.Wait() // every program reaped: those still running have been stopped
	}
	st := srv.Stats()
	servedTLS, servedWS := false, false
	for _, ep := range eps {
		servedTLS, servedWS = servedTLS || ep.IsTLS(), servedWS || ep.IsWebSocket()
	}
	if jsonOut {
		o := serveSummary{eventHead: events.head("summary"), Conns: st.Accepted, Forced: st.Forced, DatagramsIn: st.PacketsIn, DatagramsOut: st.PacketsOut,
			InBytes: st.BytesIn, OutBytes: st.BytesOut, DatagramsUnanswered: guard.Stats().Unanswered()}
		err = serveErr(hard, err, st, opts)
		o.Error, o.ErrorKind = errorFields(err)
		events.summary(o)
		return err
	}
	fmt.Fprintf(opts.IO.Out, "served %s, %s; bytes in %d, bytes out %d%s\n",
		plural(st.Accepted, "connection"), plural(st.PacketsIn, "datagram"), st.BytesIn, st.BytesOut, framingNote(servedTLS, servedWS))
	for _, line := range layerSummary(layers.Stats(), servedTLS, servedWS) {
		fmt.Fprintln(opts.IO.Out, line)
	}
	if line := labSummary(st.UrgentIn, st.RightsIn); line != "" {
		fmt.Fprintln(opts.IO.Out, line)
	}
	for _, line := range svc.summary() {
		fmt.Fprintln(opts.IO.Out, line)
	}
	if g := guard.Stats(); g.Unanswered() > 0 {
		line := fmt.Sprintf("datagrams left unanswered: %d (%d from our own address, %d from a broadcast, multicast or unspecified address, %d from a service port below 1024, %d over --udp-rate",
			g.Unanswered(), g.OwnAddress, g.NotUnicast, g.ServicePort, g.RateLimited)
		if g.Unbound > 0 {
			line += fmt.Sprintf(", %d from an unbound socket, which has no address to answer", g.Unbound)
		}
		fmt.Fprintln(opts.IO.Out, line+")")
	}
	if opts.ProxyProtocol {
		st := layers.Stats().Proxy
		fmt.Fprintf(opts.IO.Out, "PROXY headers: %d read; %s rejected without a valid one, %d without a whole one within --proxy-timeout\n",
			st.Headers, plural(st.Rejected, "connection"), st.TimedOut)
	}
	return serveErr(hard, err, st, opts)
}

// listeningObject is serve's (and relay's) "listening" event: one per
// endpoint, once it listens.
type listeningObject struct {
	eventHead
	Endpoint string `json:"endpoint"`
	Net      string `json:"net"`
	Local    string `json:"local"`
	Service  string `json:"service,omitempty"`
	Engine   string `json:"engine,omitempty"`
	Target   string `json:"target,omitempty"` // relay
}

// serveSummary is serve's last event, the counters of the whole run.
type serveSummary struct {
	eventHead
	Conns               uint64 `json:"conns"`
	Forced              uint64 `json:"forced_conns"` // closed when --grace ran out
	DatagramsIn         uint64 `json:"datagrams_in"`
	DatagramsOut        uint64 `json:"datagrams_out"`
	DatagramsUnanswered uint64 `json:"datagrams_unanswered"`
	InBytes             uint64 `json:"in_bytes"`
	OutBytes            uint64 `json:"out_bytes"`
	Error               string `json:"error,omitempty"`
	ErrorKind           string `json:"error_kind,omitempty"`
}

// serveErr is what serve returns for the error of its Shutdown.
func serveErr(hard context.Context, err error, st engine.Stats, opts *ServeOptions) error {
	switch {
	case err == nil:
		return nil
	case hard.Err() != nil:
		return errInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		// Shutdown reports the deadline only when it had to close
		// connections: a shutdown that was not clean, and the exit says so.
		return fmt.Errorf("%s still open after --grace %s had to be closed", plural(st.Forced, "connection"), opts.Grace)
	}
	return err
}

// newServeLayers stacks TLS and WebSocket on the endpoints that ask for
// them, with the PROXY protocol header under them for --proxy-protocol,
// and the Origin policy of --allow-origin on WebSocket. The echo service
// keeps WebSocket messages whole (ws.Echo), and a WebSocket endpoint of it
// answers a browser's plain GET, on / and on its path, with the echo page;
// the chat room (room, for --service chat) gets each WebSocket message
// whole too, and its page is the echo page in chat mode; the other
// services see a WebSocket connection as a stream, whose writes go out as
// text messages when they are UTF-8.
func newServeLayers(opts *ServeOptions, certTLS *serveTLS, obs sockit.Observer, room *chat.Room) *layer.Server {
	echo := opts.Service == "echo"
	cfg := layer.ServerConfig{
		TLS:          certTLS.cfg,
		Stream:       ws.StreamOptions{TextIfUTF8: true},
		AllowOrigins: opts.AllowOrigins,
		WebSocket: func(ep endpoint.Endpoint) ws.ServerOptions {
			o := ws.ServerOptions{Path: ep.Path, MaxMessage: opts.MaxMessage}
			if echo || room != nil {
				page := ws.EchoPage(ep.Path)
				if room != nil {
					page = ws.ChatPage(ep.Path)
				}
				o.HTTP = func(r *ws.Request) (int, string, []byte) {
					if r.Path == "/" || r.Path == ep.Path {
						return 200, "text/html; charset=utf-8", page
					}
					return 0, "", nil
				}
			}
			return o
		},
	}
	if echo {
		cfg.Messages = ws.Echo{}
	}
	if room != nil {
		cfg.Messages = room.Messages()
	}
	if opts.ProxyProtocol {
		cfg.Proxy = &proxy.Options{Observer: obs, HeaderTimeout: opts.ProxyTimeout}
	}
	return layer.NewServer(cfg)
}

func printBanner(opts *ServeOptions, srv *engine.Server, eps []endpoint.Endpoint, certTLS *serveTLS, metrics *metricsServer) {
	w := opts.IO.Out
	fmt.Fprintf(w, "sockit serve: %s service, %s engine\n", opts.Service, srv.Backend())
	if err := srv.Fallback(); err != nil {
		fmt.Fprintf(w, "  (asked for %s: %v)\n", opts.Engine, err)
	}
	for _, ep := range eps {
		fmt.Fprintf(w, "  listening on %s%s\n", ep, allInterfaces(ep))
	}
	if opts.Service == "exec" {
		fmt.Fprintf(w, "  each connection runs: %s   (at most %d at once; more are reset)\n", opts.execFlags.text(), opts.MaxConns)
	}
	if metrics != nil {
		announceMetrics(w, nil, false, metrics)
	}
	for _, line := range certTLS.banner() {
		fmt.Fprintln(w, line)
	}
	var tries []string
	for _, ep := range eps {
		if opts.Service == "http" && len(tries) < 3 {
			tries = append(tries, httpTries(ep, certTLS.selfSigned)...)
		}
	}
	for _, ep := range eps {
		if opts.Service == "http" {
			break
		}
		if ep.IsWebSocket() && (opts.Service == "echo" || opts.Service == "chat") {
			scheme := "http"
			if ep.IsTLS() {
				scheme = "https"
			}
			tries = append(tries, "open "+scheme+"://"+strings.TrimPrefix(dialable(ep), ep.Scheme+"://")+" in a browser")
		}
	}
	self := opts.Self
	if self == "" {
		self = "sockit"
	}
	for _, ep := range eps {
		if opts.Service == "http" {
			break
		}
		// chargen never stops sending, and discard never answers a
		// datagram: those are for connect and Ctrl-C, not send.
		t := self + " send " + dialable(ep) + " hello"
		if ep.IsTLS() && certTLS.selfSigned {
			t += " --insecure"
		}
		if opts.Service == "chargen" || opts.Service == "discard" && ep.IsPacket() {
			t = self + " connect " + dialable(ep) + "   (Ctrl-C to stop)"
		}
		if opts.Service == "chat" {
			t = "sockit connect " + dialable(ep) + "   (type lines; run it twice, and talk)"
		}
		if len(tries) < 3 {
			tries = append(tries, t)
		}
	}
	for i, t := range tries {
		label := "try:  "
		if i > 0 {
			label = "      "
		}
		fmt.Fprintln(w, label+t)
	}
	fmt.Fprintln(w, "stop: Ctrl-C or SIGTERM (open connections get --grace to finish; Ctrl-C twice stops at once)")
}

// allInterfaces is the note for an endpoint bound to the wildcard address:
// other machines can reach it, which a bare :PORT does not make obvious.
func allInterfaces(ep endpoint.Endpoint) string {
	if ep.IsUnix() {
		return ""
	}
	host, _, err := net.SplitHostPort(ep.Addr)
	if ip := net.ParseIP(host); err == nil && (host == "" || ip != nil && ip.IsUnspecified()) {
		return "   (on ALL interfaces: reachable from other machines)"
	}
	return ""
}

// dialable is how a client names ep: wildcard hosts become loopback, and TCP
// needs no scheme.
func dialable(ep endpoint.Endpoint) string {
	if ep.IsUnix() {
		return ep.String()
	}
	host, port, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return ep.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if strings.HasSuffix(ep.Scheme, "6") || (ip != nil && ip.To4() == nil) {
			host = "::1"
		}
	}
	addr := net.JoinHostPort(host, port)
	if ep.Scheme == "tcp" {
		return addr
	}
	return ep.Scheme + "://" + addr + ep.Path
}

func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// pluralWas is plural with its verb: "1 program was", "4 programs were".
func pluralWas(n uint64, noun string) string {
	if n == 1 {
		return plural(n, noun) + " was"
	}
	return plural(n, noun) + " were"
}
