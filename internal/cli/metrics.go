package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/relay"
)

// metricsSnapshot is what a scrape reports: serve's counters come from
// engine.Server, relay's from relay.Relay, both with their layers', and the
// socket steps and closes from the metricsObserver.
type metricsSnapshot struct {
	Accepted     uint64 // connections accepted (relay: forwarded)
	Open         int64
	FailedTarget uint64 // relay: could not connect to the target
	BytesIn      uint64 // from the clients (relay: client → target)
	BytesOut     uint64 // to the clients (relay: target → client)
	DatagramsIn  uint64
	DatagramsOut uint64
	Unanswered   uint64 // serve: datagrams the UDP guard left unanswered
	AcceptErrors uint64
	Pending      int64 // bytes held against the memory budget: pending output, unread input
	Forced       uint64
	Layers       layer.Stats
}

// metricsObserver counts socket steps and connection closes by reason for
// --metrics: one atomic add per step, on the loop that makes it.
type metricsObserver struct {
	steps  [64]atomic.Uint64 // by Step; room for steps not yet named
	closed [len(closeReasons)]atomic.Uint64
}

// closeReasons are the values of the reason label of
// sockit_connections_closed_total.
var closeReasons = [...]string{"clean", "reset", "timeout", "idle", "evicted", "error"}

func (m *metricsObserver) Observe(e sockit.Event) {
	if int(e.Step) < len(m.steps) {
		m.steps[e.Step].Add(1)
	}
	if e.Step == sockit.StepClosed {
		m.close(e.Err)
	}
}

// close counts a connection that ended with err (nil: cleanly).
func (m *metricsObserver) close(err error) {
	i := 5 // error
	switch {
	case err == nil:
		i = 0
	case errors.Is(err, relay.ErrIdle):
		i = 3
	case errors.Is(err, relay.ErrEvicted):
		i = 4
	case sockit.KindOf(err) == sockit.KindReset:
		i = 1
	case sockit.KindOf(err) == sockit.KindTimeout:
		i = 2
	}
	m.closed[i].Add(1)
}

// metricsCollector turns a snapshot, taken at each scrape, into
// Prometheus metrics: nothing is counted twice, and the engine pays
// nothing between scrapes.
type metricsCollector struct {
	snap func() metricsSnapshot
	obs  *metricsObserver
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sockit_"+name, help, labels, nil)
}

var (
	descAccepted      = desc("connections_accepted_total", "Connections accepted (relay: forwarded, or datagram sessions).")
	descOpen          = desc("connections_open", "Connections open now.")
	descClosed        = desc("connections_closed_total", "Connections ended, by reason: clean, reset, timeout, idle (--idle-timeout), evicted (relay --max-sessions), error.", "reason")
	descForced        = desc("connections_forced_total", "Connections closed at shutdown when --grace ran out.")
	descFailedTarget  = desc("target_connect_failures_total", "Relay: connections to the target that failed.")
	descBytes         = desc("bytes_total", "Bytes moved: in from the clients, out to them (relay: in is client to target).", "direction")
	descDatagrams     = desc("datagrams_total", "Datagrams received (in) and sent (out).", "direction")
	descUnanswered    = desc("datagrams_unanswered_total", "Datagrams left unanswered by the UDP guard (own address, broadcast, service port, --udp-rate, unbound sender).")
	descAcceptErrors  = desc("accept_errors_total", "accept(2) failures survived (EMFILE and the like).")
	descPending       = desc("pending_bytes", "Bytes the connections hold against --max-pending-total: pending output, unread input, layer buffers.")
	descSteps         = desc("socket_steps_total", "Socket steps made, by step: read, write, accept, shutdown, close, ... (the -v narration's steps).", "step")
	descTLS           = desc("tls_handshakes_total", "TLS handshakes completed.")
	descTLSFailed     = desc("tls_handshake_failures_total", "TLS handshakes failed, by reason.", "reason")
	descWSUpgrades    = desc("websocket_upgrades_total", "WebSocket upgrades completed.")
	descWSRejected    = desc("websocket_upgrade_failures_total", "WebSocket upgrades refused (bad request or Origin).")
	descWSMessages    = desc("websocket_messages_total", "WebSocket messages received (in) and sent (out).", "direction")
	descProxyHeaders  = desc("proxy_headers_total", "PROXY protocol headers read.")
	descProxyRejected = desc("proxy_header_failures_total", "Connections closed for a PROXY header: rejected (missing or malformed) or timeout.", "reason")
)

// metricDescs are all the metrics a scrape reports.
var metricDescs = []*prometheus.Desc{descAccepted, descOpen, descClosed, descForced, descFailedTarget, descBytes, descDatagrams,
	descUnanswered, descAcceptErrors, descPending, descSteps, descTLS, descTLSFailed, descWSUpgrades, descWSRejected, descWSMessages,
	descProxyHeaders, descProxyRejected}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(descAccepted, s.Accepted)
	gauge(descOpen, s.Open)
	for i, r := range closeReasons {
		counter(descClosed, c.obs.closed[i].Load(), r)
	}
	counter(descForced, s.Forced)
	counter(descFailedTarget, s.FailedTarget)
	counter(descBytes, s.BytesIn, "in")
	counter(descBytes, s.BytesOut, "out")
	counter(descDatagrams, s.DatagramsIn, "in")
	counter(descDatagrams, s.DatagramsOut, "out")
	counter(descUnanswered, s.Unanswered)
	counter(descAcceptErrors, s.AcceptErrors)
	gauge(descPending, s.Pending)
	for st := sockit.StepSocket; int(st) < len(c.obs.steps) && !strings.HasPrefix(st.String(), "step("); st++ {
		counter(descSteps, c.obs.steps[st].Load(), st.String())
	}
	t := s.Layers.TLS
	counter(descTLS, t.Handshakes)
	for _, f := range []struct {
		reason string
		n      uint64
	}{{"timeout", t.Timeout}, {"not_tls", t.NotTLS}, {"bad_certificate", t.BadCertificate}, {"peer_alert", t.RemoteAlert}, {"peer_closed", t.PeerClosed}, {"protocol", t.Protocol}} {
		counter(descTLSFailed, f.n, f.reason)
	}
	w := s.Layers.WebSocket
	counter(descWSUpgrades, w.Upgrades)
	counter(descWSRejected, w.Rejected)
	counter(descWSMessages, w.MessagesIn, "in")
	counter(descWSMessages, w.MessagesOut, "out")
	p := s.Layers.Proxy
	counter(descProxyHeaders, p.Headers)
	counter(descProxyRejected, p.Rejected, "rejected")
	counter(descProxyRejected, p.TimedOut, "timeout")
}

// Bounds of the metrics endpoint against a scraper that is slow or
// hostile: it has this long to send its request, and to take the answer.
const (
	metricsHeaderTimeout = 5 * time.Second
	metricsWriteTimeout  = 10 * time.Second
	metricsMaxHeader     = 8 << 10
)

// metricsServer is the HTTP endpoint of --metrics.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// startMetrics serves GET /metrics on addr (host:port, port 0 for any)
// with the counters of snap and obs, until close. headerTimeout 0 is
// metricsHeaderTimeout.
func startMetrics(addr string, snap func() metricsSnapshot, obs *metricsObserver, headerTimeout time.Duration) (*metricsServer, error) {
	if !strings.Contains(addr, ":") {
		return nil, usageErr{errors.New("--metrics " + addr + ": want host:port, such as 127.0.0.1:9100 or :9100")}
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(&metricsCollector{snap: snap, obs: obs}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if headerTimeout == 0 {
		headerTimeout = metricsHeaderTimeout
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{ln: ln, done: make(chan error, 1), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       headerTimeout,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       headerTimeout,
		MaxHeaderBytes:    metricsMaxHeader,
	}}
	go func() { m.done <- m.srv.Serve(ln) }()
	return m, nil
}

// Addr is the address the endpoint listens on.
func (m *metricsServer) Addr() net.Addr { return m.ln.Addr() }

// URL is where a scraper finds the metrics.
func (m *metricsServer) URL() string { return "http://" + m.ln.Addr().String() + "/metrics" }

// close stops the endpoint and its connections; nil does nothing.
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if m.srv.Shutdown(ctx) != nil {
		m.srv.Close()
	}
	<-m.done
}

// tee is one Observer made of several; nils are left out, and nil is
// returned when none is left.
func tee(obs ...sockit.Observer) sockit.Observer {
	var all teeObserver
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
		}
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return all
}

type teeObserver []sockit.Observer

func (t teeObserver) Observe(e sockit.Event) {
	for _, o := range t {
		o.Observe(e)
	}
}

// announceMetrics tells where the metrics are: a banner line, or a
// "listening" event when the events replace the banner.
func announceMetrics(out io.Writer, events *jsonEvents, jsonOut bool, m *metricsServer) {
	if jsonOut {
		events.emit(listeningObject{eventHead: events.head("listening"), Endpoint: m.URL(), Net: "tcp", Local: m.Addr().String(), Service: "metrics"})
		return
	}
	fmt.Fprintf(out, "  metrics on %s%s\n", m.URL(), allInterfaces(endpoint.Endpoint{Scheme: "tcp", Addr: m.Addr().String()}))
}
