// Package relay forwards between two endpoints: it listens on one, and for
// each connection (or, for datagrams, each client address) it opens one to
// the other and copies both ways. The end of each direction is kept: when
// one side half-closes (FIN), the relay half-closes the other side and
// goes on copying the other direction, so a client that sends, shuts down
// its writing side and then reads its answer works through the relay as it
// does without it. A reset on one side resets the other.
//
// Either side may be layered (tls://, ws://, wss://; package layer stacks
// the protocols). A WebSocket side carries the bytes as binary messages,
// and its close frame stands in for the half-close WebSocket lacks: the
// client's close frame sends FIN (or the target's own end of data) on to
// the target while the target's answer still comes back, and the relay's
// close frame (1000) follows the target's end of data. A target that fails
// gets the client a close frame 1001, a target that cannot be reached one
// of 1011.
//
// Each forwarded connection is two goroutines copying with blocking
// writes: a slow side slows its source through TCP's own flow control, and
// the relay holds at most one buffer per direction. A connection with no
// traffic either way for Options.IdleTimeout is closed on both sides.
//
// Datagrams are relayed per client address, each client with a socket of
// its own to the target, and a goroutine that waits for the target's
// answers without a buffer and borrows one from a pool shared by all
// sessions only to read an answer that has come (on Unix; elsewhere the
// wait holds the borrowed buffer). At most Options.MaxSessions sessions
// live at once: a new client at the cap closes the session that has been
// quiet longest, so that a flood of (forged) source addresses costs
// bounded descriptors, goroutines and memory.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/ws"
)

// Options configure a relay.
type Options struct {
	From endpoint.Endpoint // where the relay listens
	To   endpoint.Endpoint // where it connects for each client
	// ProxyProtocol, 1 or 2, sends a PROXY protocol header of that version
	// in front of each forwarded TCP connection, naming the real client.
	ProxyProtocol  int
	ConnectTimeout time.Duration // 0 = 10s
	// IdleTimeout ends a forwarded connection, or a datagram session (one
	// client address), after this long without traffic either way: both
	// sides are closed (a WebSocket client gets a close frame 1001).
	// 0 = DefaultIdleTimeout, < 0 = never.
	IdleTimeout time.Duration
	// MaxSessions bounds the datagram sessions alive at once; a new client
	// at the bound closes the least recently used session to make room.
	// 0 = DefaultMaxSessions.
	MaxSessions int
	// MaxConns bounds the stream connections forwarded at once (each holds
	// two descriptors, two goroutines and a buffer per direction); a client
	// that connects at the bound is reset at once, without a connection to
	// the target, and counted (Stats.Refused). 0 = DefaultMaxConns.
	MaxConns int
	Observer sockit.Observer // each socket step; nil = none
	// OnConn, if set, is called as each forwarded connection ends, and for
	// each client refused at MaxConns (Report.Err ErrRefused).
	OnConn func(Report)
	// Listen stacks the layers of a tls://, ws:// or wss:// From on each
	// connection the relay accepts, in the connection's goroutine (its
	// HandshakeTimeout bounds them): TLS needs a certificate in
	// Listen.TLS. WebSocket messages go out binary unless Listen.Stream
	// says otherwise. A ws:// or wss:// From admits browser pages of its
	// own origin only, unless Listen.AllowOrigins names more: otherwise
	// any web page a user visits could reach the target through the
	// user's browser.
	Listen layer.ServerConfig
	// Proxy, if set, connects to To through a proxy (client.Options.Proxy:
	// socks5:// or http:// CONNECT); To must be TCP underneath.
	Proxy string
	// Target stacks the layers of a tls://, ws:// or wss:// To on each
	// connection to it (layer.Dial); its Preamble is the relay's own when
	// ProxyProtocol is set.
	Target layer.ClientConfig
}

// Defaults for the zero values of Options.
const (
	// DefaultIdleTimeout is the idle timeout of a connection or datagram
	// session: one minute, as a cloud load balancer's (AWS's, by default).
	// An interactive session, or a WebSocket page that sends no pings,
	// may need a longer one.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxSessions bounds the datagram sessions: 1024 sockets and
	// goroutines at most, within a default descriptor limit.
	DefaultMaxSessions = 1024
	// DefaultMaxConns bounds the forwarded stream connections: 4096, 8192
	// descriptors, within a server's usual descriptor limit.
	DefaultMaxConns = 4096
)

// Errors of a Report.
var (
	// ErrIdle ends a connection or session quiet for Options.IdleTimeout.
	ErrIdle = errors.New("relay: no traffic either way for Options.IdleTimeout")
	// ErrEvicted ends the least recently used datagram session when a new
	// client arrives with Options.MaxSessions sessions alive.
	ErrEvicted = errors.New("relay: the least recently used session, closed for a new client at Options.MaxSessions")
	// ErrRefused is the report of a stream client reset at once because
	// Options.MaxConns connections were being forwarded.
	ErrRefused = errors.New("relay: reset at once: Options.MaxConns connections were being forwarded")
	// ErrUnbound is the report of the first datagram from an unbound Unix
	// datagram socket (Report.Client nil): it has no address, so no answer
	// could reach it, and it is not relayed. Stats.Unbound counts them all.
	ErrUnbound = errors.New("relay: a datagram from an unbound socket, which has no address an answer could go to: not relayed")
)

// Report is one forwarded connection or datagram session, as it ended.
type Report struct {
	Client   net.Addr
	Up, Down int64 // bytes client → target, target → client
	Err      error // why it ended, if not cleanly: ErrIdle, ErrEvicted, a socket's error
}

// Stats are a relay's counters.
type Stats struct {
	Conns   uint64 // connections (datagram sessions) forwarded
	Active  int64
	Failed  uint64 // could not connect to the target
	Up      uint64 // bytes client → target
	Down    uint64 // bytes target → client
	Idle    uint64 // connections and sessions ended by Options.IdleTimeout
	Evicted uint64 // datagram sessions closed for new clients at Options.MaxSessions
	Refused uint64 // stream clients reset at once at Options.MaxConns
	Unbound uint64 // datagrams from unbound Unix datagram sockets, not relayed (ErrUnbound)
	// Layers count the listening side's TLS handshakes and WebSocket
	// upgrades, those refused for their Origin among them.
	Layers layer.Stats
}

// Relay is a listening relay.
type Relay struct {
	o      Options
	layers *layer.Server // of the listening side
	ln     net.Listener
	pc     net.PacketConn
	addr   net.Addr

	conns, failed, up, down, idle, evicted atomic.Uint64
	unbound, refused                       atomic.Uint64
	active                                 atomic.Int64
	bufs                                   sync.Pool // *[]byte of maxDatagram: datagram sessions' reads

	mu     sync.Mutex
	open   map[io.Closer]struct{}
	killed bool // closeAll has run: whatever opens now is closed at once
	wg     sync.WaitGroup
}

// Listen binds the relay's listening side. A tls:// or wss:// From without
// a certificate (Options.Listen.TLS) is refused with layer.ErrNoCertificate.
func Listen(ctx context.Context, o Options) (*Relay, error) {
	if o.From.IsPacket() != o.To.IsPacket() {
		return nil, &sockit.OptionError{Owner: "relay.Options", Fields: []string{"From", "To"},
			Reason: fmt.Sprintf("cannot relay between a stream (%s) and datagrams (%s): one has no message boundaries, the other no connection", streamOf(o.From, o.To), packetOf(o.From, o.To))}
	}
	switch {
	case o.ProxyProtocol != 0 && o.ProxyProtocol != 1 && o.ProxyProtocol != 2:
		return nil, sockit.BadOption("relay.Options", "ProxyProtocol", fmt.Sprintf("%d is not 1 or 2", o.ProxyProtocol))
	case o.Proxy != "" && !strings.HasPrefix(o.To.Transport().Scheme, "tcp"):
		return nil, sockit.BadOption("relay.Options", "Proxy", "tunnels TCP; the target "+o.To.String()+" is not TCP")
	case o.ProxyProtocol != 0 && o.To.IsPacket():
		return nil, sockit.BadOption("relay.Options", "ProxyProtocol", "is sent on stream connections; the target "+o.To.String()+" carries datagrams")
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	for _, bound := range []struct {
		n     *int
		field string
		def   int
	}{{&o.MaxSessions, "MaxSessions", DefaultMaxSessions}, {&o.MaxConns, "MaxConns", DefaultMaxConns}} {
		switch {
		case *bound.n == 0:
			*bound.n = bound.def
		case *bound.n < 0:
			return nil, sockit.BadOption("relay.Options", bound.field, fmt.Sprintf("is %d; it must be 0 (the default) or more", *bound.n))
		}
	}
	r := &Relay{o: o, layers: layer.NewServer(o.Listen), open: map[io.Closer]struct{}{}}
	if err := r.layers.Check(o.From); err != nil {
		return nil, err
	}
	var so sock.Options
	if o.From.IsPacket() {
		pc, err := so.ListenPacket(ctx, o.From.Network(), o.From.Addr, o.Observer)
		if err != nil {
			return nil, sockit.Wrap("listen", o.From.Network(), o.From.Addr, err)
		}
		r.pc, r.addr = pc, pc.LocalAddr()
		return r, nil
	}
	at := o.From.Transport()
	ln, err := so.Listen(ctx, at.Network(), at.Addr, o.Observer)
	if err != nil {
		return nil, sockit.Wrap("listen", at.Network(), at.Addr, err)
	}
	r.ln, r.addr = ln, ln.Addr()
	return r, nil
}

func streamOf(a, b endpoint.Endpoint) string {
	if a.IsPacket() {
		return b.String()
	}
	return a.String()
}

func packetOf(a, b endpoint.Endpoint) string {
	if a.IsPacket() {
		return a.String()
	}
	return b.String()
}

// Addr is where the relay listens.
func (r *Relay) Addr() net.Addr { return r.addr }

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	return Stats{Conns: r.conns.Load(), Active: r.active.Load(), Failed: r.failed.Load(), Up: r.up.Load(), Down: r.down.Load(),
		Idle: r.idle.Load(), Evicted: r.evicted.Load(), Unbound: r.unbound.Load(), Refused: r.refused.Load(), Layers: r.layers.Stats()}
}

// Serve forwards until ctx ends, then stops listening and waits for the
// forwarded connections to finish until grace ends, when it closes them.
func (r *Relay) Serve(ctx context.Context, grace context.Context) error {
	stop := context.AfterFunc(ctx, r.stopListening)
	defer stop()
	var err error
	if r.pc != nil {
		err = r.servePackets()
	} else {
		err = r.serveStreams()
	}
	if ctx.Err() != nil {
		err = nil
	}
	r.stopListening()
	if r.pc != nil {
		r.closeAll() // datagram sessions have nothing in flight to wait for
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-grace.Done():
		r.closeAll()
		<-done
	}
	return err
}

// Close stops the relay and every forwarded connection at once.
func (r *Relay) Close() error {
	r.stopListening()
	r.closeAll()
	r.wg.Wait()
	return nil
}

func (r *Relay) stopListening() {
	if r.ln != nil {
		r.ln.Close()
	}
	if r.pc != nil {
		r.pc.Close()
	}
}

func (r *Relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killed = true
	for c := range r.open {
		c.Close()
	}
}

// track registers c to be closed by closeAll; once that has run it
// closes c at once.
func (r *Relay) track(c io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed {
		c.Close()
		return
	}
	r.open[c] = struct{}{}
}

func (r *Relay) untrack(c io.Closer) {
	r.mu.Lock()
	delete(r.open, c)
	r.mu.Unlock()
}

func (r *Relay) serveStreams() error {
	var backoff time.Duration
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if r.o.Observer != nil {
			r.o.Observer.Observe(sockit.Event{Step: sockit.StepAccept, FD: sock.FD(c), Net: r.o.From.Network(), Peer: c.RemoteAddr()})
		}
		if r.active.Add(1) > int64(r.o.MaxConns) {
			r.active.Add(-1)
			r.refused.Add(1)
			who := c.RemoteAddr()
			resetConn(c) // at once: the client learns there is no room, and costs nothing more
			r.report(Report{Client: who, Err: ErrRefused})
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.active.Add(-1)
			r.forward(c)
		}()
	}
}

// forward stacks the listening side's layers on nc, connects to the
// target and copies both ways.
func (r *Relay) forward(nc net.Conn) {
	r.track(nc)
	defer r.untrack(nc)
	defer nc.Close()
	who := nc.RemoteAddr()
	c, err := r.layers.Upgrade(context.Background(), nc, r.o.From)
	if err != nil {
		r.report(Report{Client: who, Err: err})
		return
	}
	if c != nc {
		defer c.Close() // the layers' goodbye, then nc's close
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.ConnectTimeout)
	t, err := layer.Dial(ctx, r.o.To, r.target(nc), client.Options{ConnectTimeout: r.o.ConnectTimeout, Proxy: r.o.Proxy, Observer: r.o.Observer})
	cancel()
	if err != nil {
		r.failed.Add(1)
		// The client learns at once that there is nothing behind the relay.
		if s, ok := c.(*ws.Stream); ok {
			s.CloseWith(ws.CloseInternalError, "the relay's target is unreachable")
		} else {
			resetConn(nc)
		}
		r.report(Report{Client: who, Err: err})
		return
	}
	r.track(t)
	defer r.untrack(t)
	defer t.Close()
	r.conns.Add(1)
	from := &end{c: c, abort: func() { resetConn(nc) }}
	from.fail = from.abort
	if s, ok := c.(*ws.Stream); ok {
		// WebSocket has its own way to end: a reset would drop the close
		// frame of a protocol error on its way out.
		from.abort = func() { s.Close() }
		from.fail = func() { s.CloseWith(ws.CloseGoingAway, "the target failed") }
	}
	to := &end{c: t, abort: func() { t.Abort() }}
	to.fail = to.abort
	var last atomic.Int64 // unix nanos of the last read, either way
	last.Store(time.Now().UnixNano())
	idle := r.watchIdle(&last, func() {
		// Close both sides; the pumps see their reads end.
		t.Close()
		if s, ok := c.(*ws.Stream); ok {
			s.CloseWith(ws.CloseGoingAway, "idle timeout")
		}
		nc.Close()
	})
	var up, down int64
	var upErr, downErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		down, downErr = pump(from, to, &r.down, &last)
	}()
	up, upErr = pump(to, from, &r.up, &last)
	wg.Wait()
	err = errors.Join(upErr, downErr)
	if idle.stop() {
		r.idle.Add(1)
		err = ErrIdle
	}
	r.report(Report{Client: who, Up: up, Down: down, Err: err})
}

// idleWatch runs fire once when a connection has had no traffic for the
// relay's IdleTimeout; last is the time of its last traffic.
type idleWatch struct {
	last  *atomic.Int64
	limit time.Duration
	fire  func()

	mu    sync.Mutex
	t     *time.Timer // nil: no bound
	done  bool        // stopped, or fired
	fired chan struct{}
}

func (r *Relay) watchIdle(last *atomic.Int64, fire func()) *idleWatch {
	w := &idleWatch{last: last, limit: r.o.IdleTimeout, fire: fire, fired: make(chan struct{})}
	if w.limit > 0 {
		w.mu.Lock()
		w.t = time.AfterFunc(w.limit, w.check)
		w.mu.Unlock()
	}
	return w
}

// check fires, or re-arms the timer for the time left.
func (w *idleWatch) check() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	if quiet := time.Since(time.Unix(0, w.last.Load())); quiet < w.limit {
		w.t.Reset(w.limit - quiet)
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	defer close(w.fired)
	w.fire()
}

// stop ends the watch, waits for a firing in progress to finish, and
// reports whether the watch fired.
func (w *idleWatch) stop() bool {
	w.mu.Lock()
	if w.t == nil || !w.done {
		w.done = true
		if w.t != nil {
			w.t.Stop()
		}
		w.mu.Unlock()
		return false
	}
	w.mu.Unlock()
	<-w.fired
	return true
}

// target is the configuration of the target side of client nc's
// connection: Options.Target, with the PROXY protocol header that names
// nc's client, when the relay sends one, as its preamble.
func (r *Relay) target(nc net.Conn) layer.ClientConfig {
	cfg := r.o.Target
	if v := r.o.ProxyProtocol; v > 0 {
		cfg.Preamble = func(net.Addr, net.Addr) ([]byte, error) {
			return proxy.Header(v, nc.RemoteAddr(), nc.LocalAddr())
		}
	}
	return cfg
}

func (r *Relay) report(rep Report) {
	if r.o.OnConn != nil {
		r.o.OnConn(rep)
	}
}

// end is one side of a forwarded connection: the conn the relay reads and
// writes, and how to end it.
type end struct {
	c     net.Conn
	abort func() // it failed, or cannot be written: reset it
	fail  func() // the other side failed: reset it, or for a WebSocket client, close it with 1001
}

// pump copies src to dst until src ends. At src's EOF it half-closes dst
// (the FIN, or a close frame, goes on); when src fails (a reset), dst is
// told and src reset; when dst cannot be written, both are reset.
func pump(dst, src *end, total *atomic.Uint64, last *atomic.Int64) (int64, error) {
	buf := make([]byte, 64<<10) // one read is one unixpacket message; 64 KiB keeps them whole
	var n int64
	for {
		k, rerr := src.c.Read(buf)
		if k > 0 {
			last.Store(time.Now().UnixNano())
			w, werr := dst.c.Write(buf[:k])
			n += int64(w)
			total.Add(uint64(w))
			if werr != nil {
				src.abort()
				dst.abort()
				return n, werr
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if err := closeWrite(dst.c); err != nil && !errors.Is(err, net.ErrClosed) {
				return n, err
			}
			return n, nil
		case errors.Is(rerr, net.ErrClosed):
			return n, nil
		default:
			dst.fail()
			src.abort()
			return n, rerr
		}
	}
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// resetConn closes c with SO_LINGER 0 where it is TCP (an RST), or plainly.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// isReset reports whether err is the peer resetting.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
