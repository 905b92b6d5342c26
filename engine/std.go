package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
)

// stdBackend is the portable backend: one accept goroutine per listener, one
// read goroutine per datagram socket, and per connection a reader goroutine
// (which owns the handler callbacks) and a writer goroutine (which drains
// pending output). Shutdown ends all of them.
type stdBackend struct {
	s *Server

	mu        sync.Mutex
	closing   bool
	listeners []net.Listener
	packets   []net.PacketConn
	conns     map[*stdConn]struct{}
	loops     sync.WaitGroup // accept and datagram goroutines
	connWG    sync.WaitGroup // one per connection, done after OnClose
	done      chan struct{}  // closed when shutdown begins
	freed     chan struct{}  // a connection ended; wakes accept loops backing off after EMFILE
}

func newStdBackend(s *Server) *stdBackend {
	return &stdBackend{s: s, conns: make(map[*stdConn]struct{}), done: make(chan struct{}), freed: make(chan struct{}, 1)}
}

func (b *stdBackend) listen(ep endpoint.Endpoint, h Handler) (net.Addr, error) {
	ln, err := b.s.opts.Listen(context.Background(), ep.Network(), ep.Addr, b.s.obs)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the Server removes only files it still owns
	}
	if !b.track(func() { b.listeners = append(b.listeners, ln) }) {
		ln.Close()
		return nil, ErrServerClosed
	}
	go b.acceptLoop(ln, ep.Network(), h)
	return ln.Addr(), nil
}

func (b *stdBackend) listenPacket(ep endpoint.Endpoint, h PacketHandler) (net.Addr, error) {
	pc, err := b.s.opts.ListenPacket(context.Background(), ep.Network(), ep.Addr, b.s.obs)
	if err != nil {
		return nil, err
	}
	if !b.track(func() { b.packets = append(b.packets, pc) }) {
		pc.Close()
		return nil, ErrServerClosed
	}
	p := &stdPacket{b: b, pc: pc, network: ep.Network(), fd: sock.FD(pc)}
	go p.loop(h)
	return pc.LocalAddr(), nil
}

// track runs add and counts one loop goroutine, unless shutdown has begun.
func (b *stdBackend) track(add func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	add()
	b.loops.Add(1)
	return true
}

func (b *stdBackend) acceptLoop(ln net.Listener, network string, h Handler) {
	defer b.loops.Done()
	var backoff time.Duration
	var lastLog time.Time
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ECONNABORTED and friends: count, say so at most
			// once a second, back off so as not to spin, and keep serving.
			b.s.c.acceptErrs.Add(1)
			if time.Since(lastLog) >= time.Second {
				lastLog = time.Now()
				b.s.observe(sockit.Event{Step: sockit.StepAccept, FD: sock.FD(ln), Net: network, Local: ln.Addr(),
					Err: sockit.Wrap("accept", network, ln.Addr().String(), err)})
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-b.freed: // a connection closed: a descriptor may be free now
				t.Stop()
			case <-b.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		b.startConn(nc, network, h, true)
	}
}

// dial connects in a goroutine of its own, then serves the connection like
// an accepted one. Shutdown cancels a dial still in progress.
func (b *stdBackend) dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrServerClosed
	}
	b.loops.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.loops.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-b.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		var laddr net.Addr
		if opts.Source.IsValid() {
			laddr = &net.TCPAddr{IP: opts.Source.AsSlice()}
		}
		nc, err := b.s.opts.Dialer(b.s.obs, laddr, opts.Timeout).DialContext(ctx, ep.Network(), ep.Addr)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = errors.Join(os.ErrDeadlineExceeded, err)
			}
			c := &stdConn{b: b, h: h, network: ep.Network(), fd: -1, aborted: true}
			h.OnClose(c, sockit.Wrap("connect", ep.Network(), ep.Addr, err))
			return
		}
		b.startConn(nc, ep.Network(), h, false)
	}()
	return nil
}

func (b *stdBackend) startConn(nc net.Conn, network string, h Handler, accepted bool) {
	s := b.s
	c := &stdConn{b: b, nc: nc, h: h, network: network, fd: -1, start: time.Now(), messages: network == "unixpacket"}
	c.rcond.L = &c.mu
	c.wcond.L = &c.mu
	c.drainer, _ = h.(Drainer)
	if s.obs != nil {
		c.fd = sock.FD(nc)
		step := sockit.StepConnected
		if accepted {
			step = sockit.StepAccept
		}
		s.observe(sockit.Event{Step: step, FD: c.fd, Net: network, Local: nc.LocalAddr(), Peer: nc.RemoteAddr()})
	}
	if err := s.opts.TuneConn(nc); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: c.fd, Net: network, Err: err})
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		nc.Close()
		if !accepted {
			h.OnClose(c, ErrShutdown)
		}
		return
	}
	b.conns[c] = struct{}{}
	b.connWG.Add(1)
	b.mu.Unlock()
	if accepted { // Stats.Accepted counts accepted connections only, as on epoll
		s.c.accepted.Add(1)
	}
	s.c.active.Add(1)
	go c.run()
}

func (b *stdBackend) shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.closing = true
	close(b.done)
	for _, ln := range b.listeners {
		ln.Close()
		b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Net: ln.Addr().Network(), Local: ln.Addr(), Detail: "listener " + ln.Addr().String()})
	}
	for _, pc := range b.packets {
		pc.Close()
		b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Net: pc.LocalAddr().Network(), Local: pc.LocalAddr(), Detail: "datagram socket " + pc.LocalAddr().String()})
	}
	b.mu.Unlock()
	b.loops.Wait()

	finished := make(chan struct{})
	go func() { b.connWG.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-finished: // both were ready: nothing had to be closed
		return nil
	default:
	}
	closed := false
	b.mu.Lock()
	for c := range b.conns {
		if c.forceClose(ErrShutdown) {
			closed = true
		}
	}
	b.mu.Unlock()
	<-finished
	if !closed {
		return nil // the last connections were finishing on their own
	}
	return ctx.Err()
}

// stdConn is one connection on the std backend.
type stdConn struct {
	b       *stdBackend
	nc      net.Conn
	h       Handler
	drainer Drainer
	network string
	fd      int
	start   time.Time
	value   any
	// messages is set on unixpacket, where each Write is one message: the
	// writer must not merge queued messages into one.
	messages bool

	cb sync.Mutex // held while a handler callback runs
	// Under cb: the handler's timer (SetTimer), its generation (a timer
	// that fires after being replaced does nothing) and whether OnClose has
	// run (no OnTimer after it).
	timer    *time.Timer
	timerGen uint64
	ended    bool
	gone     atomic.Bool // ended, for Wake from other goroutines

	mu         sync.Mutex
	rcond      sync.Cond // reader waits: backpressure, writer finished
	wcond      sync.Cond // writer waits: output, FIN or abort requested
	out        []byte    // pending output not yet taken by the writer
	outMsgs    []int     // with messages: the length of each message in out
	inflight   int       // bytes the writer is writing now
	wantFIN    bool      // CloseWrite or Close asked for FIN after the flush
	wantClose  bool      // Close: discard input until the peer's FIN
	aborted    bool      // no more I/O: Abort, an error or a forced close
	writerDone bool
	err        error // why the connection ended, if not cleanly
	// The deadlines: each stage's own (idle for the reader, WriteTimeout
	// for the writer) and Close's, which bounds both. The socket's deadline
	// is always the earlier of the two, set under mu by whoever changes
	// either, so that no stage replaces Close's deadline with a later one.
	readAt, writeAt time.Time // zero = none
	lingerAt        time.Time // set by Close; zero until then

	in, outN int64 // bytes read (reader only) and written (writer only)
}

func (c *stdConn) LocalAddr() net.Addr {
	if c.nc == nil {
		return nil // a dial that never connected
	}
	return c.nc.LocalAddr()
}

func (c *stdConn) RemoteAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.RemoteAddr()
}

// SetTimer runs OnTimer from a timer goroutine, under the callback lock
// like every other callback. It is called with that lock held.
func (c *stdConn) SetTimer(at time.Time) {
	c.timerGen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	th, ok := c.h.(TimerHandler)
	if at.IsZero() || !ok || c.ended {
		return
	}
	gen := c.timerGen
	c.timer = time.AfterFunc(time.Until(at), func() {
		c.callback(func() {
			if c.ended || gen != c.timerGen {
				return
			}
			c.timer = nil
			th.OnTimer(c)
		})
	})
}

// Wake runs OnTimer in a goroutine of its own, under the callback lock.
func (c *stdConn) Wake() error {
	th, ok := c.h.(TimerHandler)
	if c.gone.Load() {
		return ErrClosed
	}
	if ok {
		go c.callback(func() {
			if !c.ended {
				th.OnTimer(c)
			}
		})
	}
	return nil
}

func (c *stdConn) Context() any     { return c.value }
func (c *stdConn) SetContext(v any) { c.value = v }

func (c *stdConn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending()
}

// pending is the output not yet in the kernel; c.mu must be held.
func (c *stdConn) pending() int { return len(c.out) + c.inflight }

func (c *stdConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wantFIN || c.aborted {
		return 0, ErrClosed
	}
	if c.pending()+len(p) > c.b.s.cfg.MaxPending {
		return 0, ErrOutputFull
	}
	if c.messages {
		if len(p) == 0 {
			return 0, nil // an empty message would read as EOF
		}
		c.outMsgs = append(c.outMsgs, len(p))
	}
	c.out = append(c.out, p...)
	c.wcond.Signal()
	return len(p), nil
}

func (c *stdConn) AsyncWrite(p []byte) error {
	_, err := c.Write(p)
	return err
}

func (c *stdConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return ErrClosed
	}
	c.wantFIN = true
	c.wcond.Signal()
	return nil
}

func (c *stdConn) Close() error {
	if c.b.s.cfg.Linger < 0 {
		return c.Abort()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted || c.wantClose {
		return nil
	}
	c.wantFIN, c.wantClose = true, true
	// Bound both the flush and the wait for the peer's FIN; input is
	// discarded from now on, so the idle timeout no longer applies.
	c.lingerAt = time.Now().Add(c.b.s.cfg.Linger)
	c.readAt = time.Time{}
	c.armReadLocked()
	c.armWriteLocked()
	c.wcond.Signal()
	c.rcond.Broadcast()
	return nil
}

func (c *stdConn) Abort() error { return c.reset(nil, "abort: SO_LINGER 0, RST") }

// reset drops pending output and closes with SO_LINGER 0, which per
// socket(7) sends RST on TCP. why, if not nil, is what OnClose reports.
func (c *stdConn) reset(why error, detail string) error {
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return nil
	}
	if why != nil && (c.err == nil || c.err == ErrIdle) {
		c.err = why
	}
	c.aborted = true
	c.out, c.outMsgs = nil, nil
	c.wcond.Signal()
	c.rcond.Broadcast()
	c.mu.Unlock()
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: c.fd, Net: c.network, Peer: c.nc.RemoteAddr(), Detail: detail})
	return c.nc.Close()
}

// expire ends a connection that Config.Linger ran out on, with output
// unflushed or the peer's FIN not arrived: it resets, as the epoll backend
// does, so that the peer is not left to take a truncated stream for a whole
// one. OnClose gets a timeout error.
func (c *stdConn) expire() {
	err := errors.Join(os.ErrDeadlineExceeded, os.NewSyscallError("close", syscall.ETIMEDOUT))
	c.reset(sockit.Wrap("close", c.network, addrText(c.nc.RemoteAddr()), err), "linger expired: SO_LINGER 0, RST")
}

// lingerOver reports whether Close's deadline has passed; c.mu must be held.
func (c *stdConn) lingerOver() bool {
	return !c.lingerAt.IsZero() && !time.Now().Before(c.lingerAt)
}

// armReadLocked and armWriteLocked set the socket's read and write
// deadlines to the earlier of the stage's own and Close's; c.mu must be
// held.
func (c *stdConn) armReadLocked()  { c.nc.SetReadDeadline(earliest(c.readAt, c.lingerAt)) }
func (c *stdConn) armWriteLocked() { c.nc.SetWriteDeadline(earliest(c.writeAt, c.lingerAt)) }

// earliest returns the earlier of two deadlines, where zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fail ends the connection because of err (a reset, a timeout).
func (c *stdConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil && !c.aborted {
		c.err = sockit.Wrap(opName(err), c.network, c.nc.RemoteAddr().String(), err)
	}
	already := c.aborted
	c.aborted = true
	c.out, c.outMsgs = nil, nil
	c.wcond.Signal()
	c.rcond.Broadcast()
	c.mu.Unlock()
	if !already {
		c.nc.Close()
	}
}

func opName(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op
	}
	return "io"
}

// forceClose is Shutdown's last resort: a plain close(2). The kernel still
// sends the output it holds, unless input is left unread: then, per RFC
// 1122 section 4.2.2.13, close(2) sends RST and the peer may lose that output.
// It reports whether c was still open: not aborted or failed already.
func (c *stdConn) forceClose(why error) bool {
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return false
	}
	if c.err == nil {
		c.err = why
	}
	c.aborted = true
	c.wcond.Signal()
	c.rcond.Broadcast()
	c.mu.Unlock()
	c.nc.Close()
	return true
}

func (c *stdConn) callback(f func()) {
	c.cb.Lock()
	defer c.cb.Unlock()
	f()
}

// run is the reader goroutine: it starts the writer, reads and calls the
// handler, then waits for the writer and finishes the connection.
func (c *stdConn) run() {
	s := c.b.s
	cfg := &s.cfg
	s.observe(sockit.Event{Step: sockit.StepOpen, FD: c.fd, Net: c.network, Local: c.nc.LocalAddr(), Peer: c.nc.RemoteAddr()})
	go c.writer()
	c.callback(func() { c.h.OnOpen(c) })
	if c.drainer != nil {
		c.drain() // as on epoll: a Drainer may start producing at once
	}

	buf := make([]byte, cfg.ReadBuffer)
	var left []byte
	for {
		c.mu.Lock()
		if c.pending() > cfg.HighWatermark {
			for c.pending() > cfg.LowWatermark && !c.aborted && !c.wantClose {
				c.rcond.Wait()
			}
		}
		if c.aborted {
			c.mu.Unlock()
			break
		}
		c.readAt = time.Time{}
		if cfg.IdleTimeout > 0 && !c.wantClose {
			c.readAt = time.Now().Add(cfg.IdleTimeout)
		}
		c.armReadLocked()
		c.mu.Unlock()

		n, err := c.read(buf)
		// Close may have come while Read blocked: what it returned then is
		// input to discard, and a timeout may be Close's deadline.
		c.mu.Lock()
		discard, expired := c.wantClose, c.lingerOver()
		c.mu.Unlock()
		if n > 0 {
			c.in += int64(n)
			s.c.bytesIn.Add(uint64(n))
			s.observe(sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network, N: n})
			if !discard {
				data := buf[:n]
				if len(left) > 0 {
					left = append(left, data...)
					data = left
				}
				var k int
				c.callback(func() { k = c.h.OnData(c, data) })
				rest := data[min(max(k, 0), len(data)):]
				switch {
				case len(rest) == 0:
					left = left[:0]
				case len(rest) > cfg.MaxInput:
					c.fail(ErrInputTooLarge)
				default: // rest may alias left; append moves it like memmove
					left = append(left[:0], rest...)
				}
			}
		}
		if err == nil {
			continue
		}
		if err == io.EOF {
			s.observe(sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network})
			if !discard {
				c.callback(func() { c.h.OnPeerClose(c) })
			}
			break
		}
		if isTimeout(err) {
			if expired { // the peer's FIN did not come within Linger
				c.expire()
				break
			}
			if discard {
				continue // an idle deadline that Close outran; Close's is armed next
			}
			if cfg.IdleTimeout > 0 {
				c.mu.Lock()
				if c.err == nil {
					c.err = ErrIdle
				}
				c.mu.Unlock()
				c.Close()
				continue
			}
		}
		c.mu.Lock()
		ours := c.aborted
		c.mu.Unlock()
		if !ours || !errors.Is(err, net.ErrClosed) {
			c.fail(err)
		}
		break
	}

	c.mu.Lock()
	for !c.writerDone {
		c.rcond.Wait()
	}
	err, aborted := c.err, c.aborted
	c.mu.Unlock()
	if !aborted {
		c.nc.Close()
	}
	s.observe(sockit.Event{Step: sockit.StepClose, FD: c.fd, Net: c.network, Peer: c.nc.RemoteAddr()})
	s.c.active.Add(-1) // gone before the handler hears of it, so Stats agree with OnClose
	c.callback(func() {
		c.ended = true
		c.gone.Store(true)
		c.SetTimer(time.Time{})
		c.h.OnClose(c, err)
	})
	s.observe(sockit.Event{Step: sockit.StepClosed, FD: c.fd, Net: c.network, Local: c.nc.LocalAddr(), Peer: c.nc.RemoteAddr(),
		In: c.in, Out: c.outN, Dur: time.Since(c.start), Err: err})
	c.b.mu.Lock()
	delete(c.b.conns, c)
	c.b.mu.Unlock()
	select {
	case c.b.freed <- struct{}{}:
	default:
	}
	c.b.connWG.Done()
}

// writer drains pending output, sends FIN when asked, and exits after FIN,
// an abort or a write error.
func (c *stdConn) writer() {
	s := c.b.s
	cfg := &s.cfg
	var buf []byte
	var msgs []int
	defer func() {
		c.mu.Lock()
		c.writerDone = true
		c.rcond.Broadcast()
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		for len(c.out) == 0 && !c.wantFIN && !c.aborted {
			c.wcond.Wait()
		}
		if c.aborted {
			c.mu.Unlock()
			return
		}
		if len(c.out) == 0 { // wantFIN and all flushed
			c.mu.Unlock()
			err := closeWrite(c.nc)
			s.observe(sockit.Event{Step: sockit.StepShutdown, FD: c.fd, Net: c.network, Detail: "SHUT_WR", Err: err})
			if err != nil && !errors.Is(err, net.ErrClosed) {
				c.fail(err)
			}
			return
		}
		buf, c.out = c.out, buf[:0]
		msgs, c.outMsgs = c.outMsgs, msgs[:0]
		c.inflight = len(buf)
		c.mu.Unlock()

		n, err := c.writeTimed(buf, msgs)
		if n > 0 {
			c.outN += int64(n)
			s.c.bytesOut.Add(uint64(n))
			s.observe(sockit.Event{Step: sockit.StepWrite, FD: c.fd, Net: c.network, N: n})
		}
		if err != nil {
			c.mu.Lock()
			ours, expired := c.aborted, c.lingerOver()
			c.mu.Unlock()
			switch {
			case ours:
			case expired && isTimeout(err): // output not flushed within Linger
				c.expire()
			default:
				c.fail(err)
			}
			return
		}
		c.mu.Lock()
		c.inflight = 0
		pending := len(c.out)
		c.rcond.Broadcast()
		c.mu.Unlock()
		if c.drainer != nil && pending <= cfg.LowWatermark {
			c.drain()
		}
	}
}

// drain calls the Drainer's OnDrain if there is room for output, unless
// CloseWrite or Close was asked for: then the output is final.
func (c *stdConn) drain() {
	c.callback(func() {
		c.mu.Lock()
		skip := c.wantFIN || c.aborted || c.pending() > c.b.s.cfg.LowWatermark
		c.mu.Unlock()
		if !skip {
			c.drainer.OnDrain(c)
		}
	})
}

// writeTimed writes buf with Config.WriteTimeout bounding each stretch
// without progress, not the whole batch: a slow reader that keeps reading
// is not reset. Close's deadline bounds the whole of it.
func (c *stdConn) writeTimed(buf []byte, msgs []int) (int, error) {
	wt := c.b.s.cfg.WriteTimeout
	written := 0
	for {
		c.mu.Lock()
		c.writeAt = time.Time{}
		if wt > 0 {
			c.writeAt = time.Now().Add(wt)
		}
		c.armWriteLocked()
		c.mu.Unlock()
		n, err := c.writeOut(buf[written:], msgs)
		written += n
		if err != nil && n > 0 && !c.messages && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // it moved: a new stretch begins (past Close's deadline, Write fails at once)
		}
		return written, err
	}
}

// read reads once; on unixpacket, a message longer than buf fails the
// connection instead of losing its tail.
func (c *stdConn) read(buf []byte) (int, error) {
	if c.messages {
		return readMessage(c.nc, buf)
	}
	return c.nc.Read(buf)
}

// writeOut writes buf: at once on a byte stream, and one write(2) per
// message on unixpacket, so that each message keeps its boundary.
func (c *stdConn) writeOut(buf []byte, msgs []int) (int, error) {
	if !c.messages {
		return c.nc.Write(buf)
	}
	var n int
	for _, m := range msgs {
		k, err := c.nc.Write(buf[n : n+m])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func closeWrite(nc net.Conn) error {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok {
		return sock.ErrUnsupported
	}
	return cw.CloseWrite()
}

// stdPacket is one datagram socket on the std backend.
type stdPacket struct {
	b       *stdBackend
	pc      net.PacketConn
	network string
	fd      int
}

func (p *stdPacket) LocalAddr() net.Addr { return p.pc.LocalAddr() }

func (p *stdPacket) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := p.pc.WriteTo(b, addr)
	if err == nil {
		p.b.s.c.bytesOut.Add(uint64(n))
		p.b.s.c.pktOut.Add(1)
	}
	p.b.s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Peer: addr, N: n, Err: err})
	return n, sockit.Wrap("sendto", p.network, addrText(addr), err)
}

func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// maxDatagram is the read buffer for datagram sockets: the largest UDP
// payload is 65507 bytes, and unixgram datagrams are bounded by SO_SNDBUF.
const maxDatagram = 256 << 10

func (p *stdPacket) loop(h PacketHandler) {
	defer p.b.loops.Done()
	s := p.b.s
	buf := make([]byte, maxDatagram)
	for failures := 0; failures < 1000; {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors surface here on some systems; they concern one
			// earlier datagram, not the socket.
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			failures++
			s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Err: err})
			continue
		}
		failures = 0
		if ua, ok := from.(*net.UnixAddr); ok && (ua == nil || ua.Name == "") {
			from = nil
		}
		s.c.bytesIn.Add(uint64(n))
		s.c.pktIn.Add(1)
		s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Peer: from, N: n})
		h.OnPacket(p, buf[:n], from)
	}
}
