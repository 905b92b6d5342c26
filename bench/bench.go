// Package bench is sockit's load generator. It opens many connections to a
// socket server (stream connections live in engine loops, not a goroutine
// each), sends messages open loop at a fixed rate or closed loop as fast as
// the echoes come back, checks every byte that returns against what was
// sent, and measures latency into HDR histograms, from the time each
// message was due rather than when it went out, so that a stalled server
// cannot hide its stall by delaying the sends it is measured with
// (coordinated omission).
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
)

// Mode is what a run does with each connection.
type Mode string

// The modes.
const (
	ModeEcho   Mode = "echo"   // send messages and check that each comes back intact
	ModeSink   Mode = "sink"   // only send (servers that discard)
	ModeSource Mode = "source" // only read (servers that generate, e.g. chargen)
)

// Options describe one run. The zero value of each field is replaced by the
// default noted beside it.
type Options struct {
	Endpoint endpoint.Endpoint

	Conns       int     // connections (sockets, for datagrams); 0 = 1
	ConnectRate float64 // new connections per second; 0 = as fast as they connect
	Size        int     // bytes per message; 0 = 64 (ignored with a file payload)
	Depth       int     // messages in flight per connection; 0 = 1
	// Rate is the offered load in messages per second over all
	// connections (open loop). 0 = closed loop: each connection keeps Depth
	// messages in flight and sends the next as soon as one comes back.
	Rate     float64
	Duration time.Duration // measured window; 0 = 10s
	Warmup   time.Duration // load before the window, not measured
	// Drain bounds the wait for outstanding echoes after the window, and
	// for the peers' FIN. 0 = 5s.
	Drain time.Duration

	Payload Payload
	Mode    Mode // "" = ModeEcho, or ModeHTTP for http:// and https://
	// HTTPStatus is the status every response of an HTTP run must have;
	// 0 = 200. HTTPBody, if set, is the body each must have.
	HTTPStatus int
	HTTPBody   []byte
	// NoVerify turns off the byte-for-byte check of echoes (latency and
	// counts are still measured).
	NoVerify bool

	ConnectTimeout time.Duration // per connection; 0 = 5s
	// SourceIPs spreads TCP connections over this many source addresses,
	// counting up from 127.0.0.1 (127.0.0.1, 127.0.0.2, …), to get past
	// the ~28 000 ephemeral ports one address has towards one server.
	// Loopback servers only. 0 or 1 = the kernel's choice.
	SourceIPs int
	// SourceOffset starts the source addresses that many further on (the
	// workers of a multi-process run use separate ranges).
	SourceOffset int

	Loops int // engine loops; 0 = GOMAXPROCS

	// TLS (tls://, wss://): skip verifying the server's certificate, or
	// verify it against the CA certificates in CAFile (PEM) instead of the
	// system's.
	Insecure bool
	CAFile   string

	// Proxy, if set, makes every connection through this proxy,
	// "socks5://[user:pass@]host:port" or "http://[user:pass@]host:port"
	// (layer.ClientConfig.Proxy): TCP endpoints only.
	Proxy string

	// ServerPID, if set, is sampled for CPU time and memory (Linux /proc).
	ServerPID int

	// FirstID numbers the connections FirstID, FirstID+1, …: the workers of
	// a multi-process run take separate ranges.
	FirstID int

	// Progress, if set, is called about once a second with the run so far.
	Progress func(Progress) `json:"-"`

	// Interval is the length of the intervals the Result's Intervals
	// (and OnInterval) cover, from the start of the run; 0 = a second.
	Interval time.Duration
	// OnInterval, if set, is called at the end of each interval with its
	// counts and latencies, on a goroutine of the run; it must not block
	// for long. Multi-process runs (RunWorkers) do not call it.
	OnInterval func(Interval) `json:"-"`
	// Command is the command line recorded in the Result's Meta; nil =
	// none.
	Command []string `json:"-"`
}

// Progress is the state of a run, for a progress line.
type Progress struct {
	Elapsed     time.Duration
	Mode        Mode
	Phase       string // "connect", "warmup", "measure", "drain"
	ConnsUp     int64
	MsgsPerSec  float64 // over the last second
	BytesPerSec float64 // payload bytes one way (as the report's throughput), over the last second
	P99         time.Duration
	Errors      uint64
}

// Text is the progress line, in the units of the report: "3s measure
// conns 10  25,110 msgs/s  1.53 MiB/s each way  p99 71µs  errors 0".
func (p Progress) Text() string {
	return fmt.Sprintf("%4.0fs %-7s  conns %d  %s msgs/s  %s/s %s  p99 %s  errors %d",
		p.Elapsed.Seconds(), p.Phase, p.ConnsUp, count(uint64(p.MsgsPerSec)), bytesText(p.BytesPerSec), direction(p.Mode), dur(Duration(p.P99)), p.Errors)
}

// direction says which way the throughput of mode goes.
func direction(m Mode) string {
	switch m {
	case ModeSink:
		return "sent"
	case ModeSource:
		return "received"
	}
	return "each way"
}

func (o *Options) withDefaults() (Options, error) {
	r := *o
	if r.Conns == 0 {
		r.Conns = 1
	}
	if r.Depth == 0 {
		r.Depth = 1
	}
	if r.Duration == 0 {
		r.Duration = 10 * time.Second
	}
	if r.Drain == 0 {
		r.Drain = 5 * time.Second
	}
	if r.Interval == 0 {
		r.Interval = time.Second
	}
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = 5 * time.Second
	}
	if r.Mode == "" || r.Mode == ModeEcho && r.Endpoint.IsHTTP() {
		r.Mode = ModeEcho
		if r.Endpoint.IsHTTP() {
			r.Mode = ModeHTTP
		}
	}
	if r.HTTPStatus == 0 {
		r.HTTPStatus = 200
	}
	if r.Payload.Kind == "" {
		r.Payload.Kind = PayloadRandom
	}
	if r.Payload.Kind == PayloadFile {
		if o.Size != 0 && o.Size != len(r.Payload.Data) {
			return r, badOption("Size", fmt.Sprintf("%d disagrees with the payload file of %d bytes: each message is the whole file", o.Size, len(r.Payload.Data)))
		}
		r.Size = len(r.Payload.Data)
	}
	if r.Size == 0 {
		r.Size = 64
	}
	if r.Endpoint.IsHTTP() {
		r.Size = len(httpRequest(&r)) // each message is the request
	}
	switch {
	case r.Conns < 0:
		return r, badOption("Conns", "must be positive")
	case r.Size < 1 || r.Size > MaxSize:
		return r, badOption("Size", fmt.Sprintf("must be 1 … %d bytes", MaxSize))
	case r.Depth < 1 || r.Depth > MaxDepth:
		return r, badOption("Depth", fmt.Sprintf("must be 1 … %d", MaxDepth))
	case !finite(r.Rate) || r.Rate < 0:
		return r, badOption("Rate", "must be a finite number, not negative")
	case !finite(r.ConnectRate) || r.ConnectRate < 0:
		return r, badOption("ConnectRate", "must be a finite number, not negative")
	case r.Rate > 0 && float64(r.Conns)/r.Rate > maxInterval.Seconds():
		return r, badOption("Rate", fmt.Sprintf("%g is too low: each of %d connections would send once in more than %v", r.Rate, r.Conns, maxInterval))
	case r.Duration < 0:
		return r, badOption("Duration", "must not be negative")
	case r.Interval < 0 || r.Interval > 0 && r.Interval < minInterval:
		return r, badOption("Interval", fmt.Sprintf("must be at least %v", minInterval))
	case r.Warmup < 0:
		return r, badOption("Warmup", "must not be negative")
	case r.Drain < 0:
		return r, badOption("Drain", "must not be negative")
	case r.Duration > maxRun || r.Warmup > maxRun || r.Duration+r.Warmup > maxRun:
		return r, &sockit.OptionError{Owner: optionsOwner, Fields: []string{"Warmup", "Duration"}, Reason: fmt.Sprintf("together must be at most %v", maxRun)}
	case r.Mode != ModeEcho && r.Mode != ModeSink && r.Mode != ModeSource && r.Mode != ModeHTTP:
		return r, badOption("Mode", fmt.Sprintf("%q is not echo, sink, source or http", r.Mode))
	case (r.Mode == ModeHTTP) != r.Endpoint.IsHTTP():
		return r, badOption("Mode", fmt.Sprintf("%s is for http:// and https:// endpoints, which send requests and check responses", ModeHTTP))
	case r.HTTPStatus < 100 || r.HTTPStatus > 999:
		return r, badOption("HTTPStatus", fmt.Sprintf("%d is not an HTTP status", r.HTTPStatus))
	case r.SourceIPs < 0 || r.SourceIPs+r.SourceOffset > 1<<16:
		return r, badOption("SourceIPs", "must be 0 … 65536")
	}
	if r.Proxy != "" && !strings.HasPrefix(r.Endpoint.Transport().Scheme, "tcp") {
		return r, badOption("Proxy", "tunnels TCP; "+r.Endpoint.String()+" is not TCP")
	}
	if r.SourceIPs > 1 && !r.Endpoint.IsPacket() && r.Endpoint.Network()[0] != 't' {
		return r, badOption("SourceIPs", "applies to TCP only")
	}
	if r.Endpoint.IsPacket() {
		if r.Mode == ModeSource {
			return r, badOption("Mode", "source reads a stream; a datagram server sends nothing unasked")
		}
		if r.Size > maxDatagram {
			return r, badOption("Size", fmt.Sprintf("must be at most %d bytes: a datagram carries no more", maxDatagram))
		}
		if r.Size < seqLen && r.Mode == ModeEcho {
			return r, badOption("Size", fmt.Sprintf("must be at least %d: echoed datagrams carry an %d-byte sequence number", seqLen, seqLen))
		}
	}
	return r, nil
}

// optionsOwner names Options in its errors.
const optionsOwner = "bench.Options"

// badOption is the error for a field of Options.
func badOption(field, reason string) *sockit.OptionError {
	return sockit.BadOption(optionsOwner, field, reason)
}

// Limits of a run.
const (
	MaxSize     = 64 << 20 // bytes per message
	MaxDepth    = 1024     // messages in flight per connection
	maxDatagram = 65507    // the largest UDP payload over IPv4
	seqLen      = 8        // a datagram's sequence number
	// maxInterval bounds the time between one connection's messages in
	// an open loop, so that the schedule stays within int64 nanoseconds.
	maxInterval = 24 * time.Hour
	// maxRun bounds warm-up and window, whose end must be a time
	// UnixNano can hold.
	maxRun = 10 * 365 * 24 * time.Hour
	// minInterval bounds how often intervals are reported.
	minInterval = 100 * time.Millisecond
)

// finite reports whether f is a number other than ±Inf (NaN and Inf pass
// a "not negative" test, would schedule nothing, and cannot be written as
// JSON).
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Run runs one benchmark and returns what it measured. It fails only when
// the run cannot start (bad options, no engine); failures of connections
// and messages are counted in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	limit := raiseFDLimit()
	r := newRecorder(&opts)
	if opts.ServerPID > 0 {
		if _, err := os.FindProcess(opts.ServerPID); err != nil {
			e := badOption("ServerPID", fmt.Sprintf("%d: %v", opts.ServerPID, err))
			e.Err = err
			return nil, e
		}
	}
	if opts.Endpoint.IsPacket() {
		err = runPackets(ctx, &opts, r)
	} else {
		err = runStreams(ctx, &opts, r)
	}
	if err != nil {
		return nil, err
	}
	res := r.result()
	res.FDLimit = limit
	return res, nil
}

// engineConfig is the engine the streams run in: a client never lingers
// long on close, and its output bound fits a deep pipeline of big messages.
func engineConfig(o *Options) *engine.Config {
	high := max(engine.DefaultHighWatermark, 2*o.Size*o.Depth)
	cfg := &engine.Config{Loops: o.Loops, HighWatermark: high, MaxPending: 2 * high, Linger: o.Drain, MaxInput: max(engine.DefaultMaxInput, 2*o.Size)}
	if o.Endpoint.Scheme == "unixpacket" {
		// One read(2) takes one whole message; a shorter buffer fails the
		// connection with EMSGSIZE (unix(7)).
		cfg.ReadBuffer = max(engine.DefaultReadBuffer, o.Size)
	}
	return cfg
}

// opOf names the step an error came from: the system call inside it, or
// fallback.
func opOf(err error, fallback string) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	var e *sockit.Error
	if errors.As(err, &e) {
		return e.Op
	}
	return fallback
}
