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
// the relay holds at most one buffer per direction.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	// IdleTimeout ends a datagram session (one client address) after this
	// long without traffic either way; 0 = 60s.
	IdleTimeout time.Duration
	Observer    sockit.Observer // each socket step; nil = none
	// OnConn, if set, is called as each forwarded connection ends.
	OnConn func(Report)
	// Listen stacks the layers of a tls://, ws:// or wss:// From on each
	// connection the relay accepts, in the connection's goroutine (its
	// HandshakeTimeout bounds them): TLS needs a certificate in
	// Listen.TLS. WebSocket messages go out binary unless Listen.Stream
	// says otherwise.
	Listen layer.ServerConfig
	// Target stacks the layers of a tls://, ws:// or wss:// To on each
	// connection to it (layer.Dial); its Preamble is the relay's own when
	// ProxyProtocol is set.
	Target layer.ClientConfig
}

// Report is one forwarded connection or datagram session, as it ended.
type Report struct {
	Client   net.Addr
	Up, Down int64 // bytes client → target, target → client
	Err      error // why it ended, if not cleanly
}

// Stats are a relay's counters.
type Stats struct {
	Conns  uint64 // connections (datagram sessions) forwarded
	Active int64
	Failed uint64 // could not connect to the target
	Up     uint64 // bytes client → target
	Down   uint64 // bytes target → client
}

// Relay is a listening relay.
type Relay struct {
	o      Options
	layers *layer.Server // of the listening side
	ln     net.Listener
	pc     net.PacketConn
	addr   net.Addr

	conns, failed, up, down atomic.Uint64
	active                  atomic.Int64

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
	case o.ProxyProtocol != 0 && o.To.IsPacket():
		return nil, sockit.BadOption("relay.Options", "ProxyProtocol", "is sent on stream connections; the target "+o.To.String()+" carries datagrams")
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
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
	return Stats{Conns: r.conns.Load(), Active: r.active.Load(), Failed: r.failed.Load(), Up: r.up.Load(), Down: r.down.Load()}
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
		r.wg.Add(1)
		r.active.Add(1)
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
	t, err := layer.Dial(ctx, r.o.To, r.target(nc), client.Options{ConnectTimeout: r.o.ConnectTimeout, Observer: r.o.Observer})
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
	var up, down int64
	var upErr, downErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		down, downErr = pump(from, to, &r.down)
	}()
	up, upErr = pump(to, from, &r.up)
	wg.Wait()
	r.report(Report{Client: who, Up: up, Down: down, Err: errors.Join(upErr, downErr)})
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
func pump(dst, src *end, total *atomic.Uint64) (int64, error) {
	buf := make([]byte, 64<<10) // one read is one unixpacket message; 64 KiB keeps them whole
	var n int64
	for {
		k, rerr := src.c.Read(buf)
		if k > 0 {
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

// A datagram relay keeps a session per client address: a socket connected
// to the target, whose answers go back to that client.
type session struct {
	client net.Addr
	t      *client.Conn
	last   atomic.Int64
	up     atomic.Int64
	down   atomic.Int64
}

func (r *Relay) servePackets() error {
	sessions := map[string]*session{}
	var mu sync.Mutex
	buf := make([]byte, 65536)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				mu.Lock()
				for _, s := range sessions {
					s.t.Close()
				}
				mu.Unlock()
				return nil
			}
			continue // an ICMP error for an earlier datagram: go on
		}
		if from == nil {
			continue // an unnamed unixgram sender cannot be answered
		}
		key := from.String()
		mu.Lock()
		s := sessions[key]
		mu.Unlock()
		if s == nil {
			if s, err = r.openSession(from); err != nil {
				r.failed.Add(1)
				r.report(Report{Client: from, Err: err})
				continue
			}
			mu.Lock()
			sessions[key] = s
			mu.Unlock()
			r.wg.Add(1)
			r.active.Add(1)
			go func() {
				defer r.wg.Done()
				defer r.active.Add(-1)
				err := r.answer(s)
				mu.Lock()
				delete(sessions, key)
				mu.Unlock()
				r.report(Report{Client: s.client, Up: s.up.Load(), Down: s.down.Load(), Err: err})
			}()
		}
		s.last.Store(time.Now().UnixNano())
		if w, err := s.t.Write(buf[:n]); err == nil {
			s.up.Add(int64(w))
			r.up.Add(uint64(w))
		}
	}
}

func (r *Relay) openSession(from net.Addr) (*session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.ConnectTimeout)
	defer cancel()
	t, err := client.Dial(ctx, r.o.To, client.Options{Observer: r.o.Observer})
	if err != nil {
		return nil, err
	}
	r.conns.Add(1)
	s := &session{client: from, t: t}
	s.last.Store(time.Now().UnixNano())
	r.track(t)
	return s, nil
}

// answer sends the target's datagrams back to the session's client until
// the session is idle for IdleTimeout.
func (r *Relay) answer(s *session) error {
	defer r.untrack(s.t)
	defer s.t.Close()
	buf := make([]byte, 65536)
	for {
		idleAt := time.Unix(0, s.last.Load()).Add(r.o.IdleTimeout)
		s.t.SetReadDeadline(idleAt)
		n, err := s.t.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Now().Before(time.Unix(0, s.last.Load()).Add(r.o.IdleTimeout)) {
					continue // traffic came in meanwhile
				}
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if isReset(err) || errors.Is(err, syscall.ECONNREFUSED) {
				continue // the target is not there (yet): its ICMP error; keep the session
			}
			return err
		}
		s.last.Store(time.Now().UnixNano())
		if w, err := r.pc.WriteTo(buf[:n], s.client); err == nil {
			s.down.Add(int64(w))
			r.down.Add(uint64(w))
		}
	}
}
