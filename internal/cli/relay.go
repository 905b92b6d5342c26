package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/relay"
)

// RelayOptions are the inputs of `sockit relay`.
type RelayOptions struct {
	IO             IOStreams
	Hard           context.Context
	From, To       string
	ProxyProtocol  int
	ConnectTimeout time.Duration
	// IdleTimeout ends a connection or datagram session quiet for this
	// long either way; 0 = never.
	IdleTimeout time.Duration
	// MaxSessions bounds the datagram sessions (relay.Options.MaxSessions).
	MaxSessions int
	// MaxConns bounds the stream connections (relay.Options.MaxConns).
	MaxConns int
	// AllowOrigins widens the origins whose pages a ws:// or wss:// LISTEN
	// admits (layer.ServerConfig.AllowOrigins).
	AllowOrigins []string
	Grace        time.Duration
	Verbose      bool
	TLS          tlsFlags // TARGET tls:// or wss://
	Proxy        string   // reach TARGET through this proxy (relay.Options.Proxy)
	// CertFile and KeyFile serve a tls:// LISTEN endpoint; without them a
	// self-signed certificate is made.
	CertFile, KeyFile string
	// Events streams NDJSON events (--json, --events FILE); on standard
	// output they replace the banner and the per-connection lines.
	Events eventFlags
	// Metrics is the address (host:port) of the Prometheus endpoint,
	// GET /metrics; "" = none.
	Metrics string
	// metricsReady, if set, is called with the metrics endpoint's address
	// (tests).
	metricsReady func(net.Addr)
	// Ready, if set, is called with the listening address (tests).
	Ready func(net.Addr)
}

// NewCmdRelay builds `sockit relay`. runF replaces runRelay in tests.
func NewCmdRelay(app *App, runF func(context.Context, *RelayOptions) error) *cobra.Command {
	opts := &RelayOptions{}
	cmd := &cobra.Command{
		Use:   "relay LISTEN TARGET",
		Short: "Forward between two endpoints (tcp↔unix, udp↔udp, …), keeping half-close both ways",
		Long: `Listen on LISTEN; for each connection, connect to TARGET and copy both ways.
When one side half-closes (FIN), the relay half-closes the other and keeps copying
the other direction, so request/response clients that shut down their writing
side work through it; a reset on one side resets the other. Datagrams (udp,
unixgram) are relayed per client address, each with its own socket to TARGET;
at most --max-sessions at once (a new client then closes the session quiet the
longest). A connection or datagram session with no traffic either way for
--idle-timeout is closed on both sides. Each connection's byte counts are
printed as it ends; -v narrates every socket step.

--proxy-protocol 1|2 sends a PROXY protocol header in front of each forwarded
connection, so that a server that accepts it (sockit serve --proxy-protocol,
nginx, HAProxy) sees the real client's address.`,
		Example: `  sockit relay tcp://127.0.0.1:9000 unix:///tmp/echo.sock
  sockit relay unix:///tmp/front.sock tcp://127.0.0.1:7007 -v
  sockit relay udp://127.0.0.1:9053 udp://127.0.0.1:7007
  sockit relay :9000 127.0.0.1:7007 --proxy-protocol 2`,
		Args: argsBetween(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Hard = app.IO, app.Hard
			opts.From, opts.To = args[0], args[1]
			opts.Verbose, _ = cmd.Flags().GetBool("verbose")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRelay(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&opts.ProxyProtocol, "proxy-protocol", 0, "send a PROXY protocol header of this version (1 or 2) to TARGET before each connection's data")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 10*time.Second, "give up connecting to TARGET after this long")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", relay.DefaultIdleTimeout, "close a connection, or a datagram client's session, after this long without traffic either way (0 = never)")
	fs.IntVar(&opts.MaxSessions, "max-sessions", relay.DefaultMaxSessions, "datagrams: the most client sessions (a socket and a goroutine each) at once; a new client then closes the one quiet the longest")
	fs.IntVar(&opts.MaxConns, "max-conns", relay.DefaultMaxConns, "streams: the most connections forwarded at once (two descriptors, two goroutines and two buffers each); a client beyond them is reset at once, warned about and counted")
	fs.DurationVar(&opts.Grace, "grace", 5*time.Second, "on shutdown, how long open connections may take to finish")
	fs.BoolP("verbose", "v", false, "narrate each socket step")
	registerProxy(fs, &opts.Proxy)
	opts.TLS.register(fs)
	fs.StringVar(&opts.CertFile, "cert", "", "LISTEN tls://: the certificate (PEM); without it a self-signed one is made")
	fs.StringVar(&opts.KeyFile, "key", "", "LISTEN tls://: the private key (PEM) of --cert")
	fs.StringArrayVar(&opts.AllowOrigins, "allow-origin", nil, "LISTEN ws://, wss://: also admit web pages from origins matching this pattern (repeatable; https://*.example.com, http://localhost:*, or * for any page on the web); by default only pages of the relay's own origin, and clients that send no Origin")
	opts.Events.register(fs, "standard output, where they replace the banner, the per-connection lines and the summary")
	fs.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (ADDR is host:port, such as 127.0.0.1:9100): connections, bytes each way, failures to connect, socket steps, handshakes")
	positive(fs, "max-sessions")
	positive(fs, "max-conns")
	return cmd
}

func runRelay(ctx context.Context, opts *RelayOptions) (err error) {
	from, err := endpoint.Parse(opts.From)
	if err != nil {
		return err
	}
	to, err := endpoint.Parse(opts.To)
	if err != nil {
		return err
	}
	certTLS, err := newServeTLS([]endpoint.Endpoint{from}, opts.CertFile, opts.KeyFile)
	if err != nil {
		return err
	}
	defer certTLS.close()
	targetTLS, err := opts.TLS.config(to)
	if err != nil {
		return err
	}
	events, err := opts.Events.open("relay", opts.IO, false)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, events.finish(opts.IO.ErrOut, err)) }()
	jsonOut := opts.Events.onStdout(false)
	narr := newEventWriter(opts.IO.ErrOut)
	defer narr.finish(opts.IO.ErrOut, "narration")
	log := newLogger(narr, opts.Verbose)
	out := opts.IO.Out
	if jsonOut {
		out = io.Discard // the human lines; the events say it all
	}
	obs := withEvents(observer(log, opts.Verbose), events)
	var counts *metricsObserver
	if opts.Metrics != "" {
		counts = new(metricsObserver)
		obs = tee(obs, counts)
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = -1 // --idle-timeout 0: never
	}
	var refusals throttle
	r, err := relay.Listen(ctx, relay.Options{
		From: from, To: to, ProxyProtocol: opts.ProxyProtocol, ConnectTimeout: opts.ConnectTimeout, Proxy: opts.Proxy,
		IdleTimeout: idle, MaxSessions: opts.MaxSessions, MaxConns: opts.MaxConns, Observer: obs,
		Listen: layer.ServerConfig{TLS: certTLS.cfg, AllowOrigins: opts.AllowOrigins},
		Target: layer.ClientConfig{TLS: targetTLS},
		OnConn: func(rep relay.Report) {
			if errors.Is(rep.Err, relay.ErrRefused) {
				if line, ok := refusals.refused(rep.Client, opts.Verbose, pluralWas(uint64(opts.MaxConns), "connection")+" being forwarded"); ok {
					log.Warn(line)
				}
				return
			}
			if counts != nil {
				counts.close(rep.Err)
			}
			if events != nil {
				o := relayedObject{eventHead: events.head("relayed"), Client: addrName(rep.Client), Target: to.String(), UpBytes: rep.Up, DownBytes: rep.Down}
				o.Error, o.ErrorKind = errorFields(rep.Err)
				events.post(o)
			}
			line := fmt.Sprintf("%s: %s → %s, %s back", addrName(rep.Client), plural(uint64(rep.Up), "byte"), to, plural(uint64(rep.Down), "byte"))
			if rep.Err != nil {
				line += "; " + describe(rep.Err)
			}
			fmt.Fprintln(out, line)
		},
	})
	if err != nil {
		return err
	}
	at := from
	if !from.IsUnix() {
		at = from.WithAddr(r.Addr())
	}
	if jsonOut {
		events.emit(listeningObject{eventHead: events.head("listening"), Endpoint: at.String(), Net: at.Scheme, Local: r.Addr().String(), Target: to.String()})
	}
	fmt.Fprintf(out, "sockit relay: %s → %s%s\n", at, to, allInterfaces(at))
	for _, line := range certTLS.banner() {
		fmt.Fprintln(out, line)
	}
	if to.IsWebSocket() {
		fmt.Fprintln(out, "  each read from a client is one binary WebSocket message; each message back is copied as bytes")
	}
	if from.IsWebSocket() {
		admits := "pages of its own origin"
		if len(opts.AllowOrigins) > 0 {
			admits += " and of " + strings.Join(opts.AllowOrigins, ", ")
		} else {
			admits += " (--allow-origin to admit others)"
		}
		fmt.Fprintf(out, "  WebSocket: admitting clients without an Origin and %s\n", admits)
	}
	if opts.ProxyProtocol > 0 {
		fmt.Fprintf(out, "  sending PROXY protocol v%d headers\n", opts.ProxyProtocol)
	}
	if opts.Metrics != "" {
		m, err := startMetrics(opts.Metrics, func() metricsSnapshot {
			st := r.Stats()
			return metricsSnapshot{Accepted: st.Conns, Open: st.Active, FailedTarget: st.Failed, BytesIn: st.Up, BytesOut: st.Down, Layers: st.Layers}
		}, counts, 0)
		if err != nil {
			r.Close()
			return err
		}
		defer m.close()
		announceMetrics(out, events, jsonOut, m)
		if opts.metricsReady != nil {
			opts.metricsReady(m.Addr())
		}
	}
	fmt.Fprintln(out, "stop: Ctrl-C or SIGTERM")
	if opts.Ready != nil {
		opts.Ready(r.Addr())
	}
	hard := opts.Hard
	if hard == nil {
		hard = context.Background()
	}
	graceCtx, cancel := context.WithCancel(hard)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if st := r.Stats(); st.Active > 0 && !from.IsPacket() {
			fmt.Fprintf(opts.IO.ErrOut, "shutting down: %s open, waiting up to %s (Ctrl-C again to stop now)\n", plural(uint64(st.Active), "connection"), opts.Grace)
		}
		time.AfterFunc(opts.Grace, cancel)
	})
	defer stop()
	err = r.Serve(ctx, graceCtx)
	st := r.Stats()
	fmt.Fprintf(out, "relayed %s (%d failed to connect); bytes → %d, bytes back %d\n", plural(st.Conns, "connection"), st.Failed, st.Up, st.Down)
	if from.IsWebSocket() {
		w := st.Layers.WebSocket
		fmt.Fprintf(out, "WebSocket: %s; see --allow-origin\n", upgradeCounts(w))
	}
	if st.Unbound > 0 {
		fmt.Fprintf(out, "not relayed: %s from an unbound socket, which has no address an answer could go to\n", plural(st.Unbound, "datagram"))
	}
	if st.Idle > 0 || st.Evicted > 0 {
		fmt.Fprintf(out, "closed %d after --idle-timeout, %d for new clients at --max-sessions\n", st.Idle, st.Evicted)
	}
	if st.Refused > 0 {
		fmt.Fprintf(out, "reset %s at once at --max-conns\n", plural(st.Refused, "client"))
	}
	if hard.Err() != nil {
		err = errInterrupted
	}
	if jsonOut {
		o := relaySummary{eventHead: events.head("summary"), Conns: st.Conns, Failed: st.Failed, UpBytes: st.Up, DownBytes: st.Down, Idle: st.Idle, Evicted: st.Evicted, Unbound: st.Unbound, Refused: st.Refused}
		o.Error, o.ErrorKind = errorFields(err)
		events.summary(o)
	}
	return err
}

// relayedObject is relay's event for each connection (or datagram
// session) that ended.
type relayedObject struct {
	eventHead
	Client    string `json:"client"`
	Target    string `json:"target"`
	UpBytes   int64  `json:"up_bytes"`   // client → target
	DownBytes int64  `json:"down_bytes"` // target → client
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
}

// relaySummary is relay's last event, the counters of the whole run.
type relaySummary struct {
	eventHead
	Conns     uint64 `json:"conns"`
	Failed    uint64 `json:"failed_conns"` // could not connect to the target
	UpBytes   uint64 `json:"up_bytes"`
	DownBytes uint64 `json:"down_bytes"`
	Idle      uint64 `json:"idle_closed"`
	Evicted   uint64 `json:"evicted"`
	Unbound   uint64 `json:"unbound_datagrams"`
	Refused   uint64 `json:"refused"` // stream clients reset at once at --max-conns
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
}

func addrName(a net.Addr) string {
	if a == nil || a.String() == "" {
		return "(unnamed)"
	}
	return a.String()
}
