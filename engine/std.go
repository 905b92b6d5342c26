package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
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
	stopped   bool // stopAccepting has run
	listeners []net.Listener
	packets   []net.PacketConn
	conns     map[*stdConn]struct{}
	loops     sync.WaitGroup // accept, datagram and dial goroutines
	connWG    sync.WaitGroup // one per connection, done after OnClose
	done      chan struct{}  // closed when Shutdown begins: cancels dials and backoffs
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

// track runs add and counts one goroutine, unless Shutdown has begun.
func (b *stdBackend) track(add func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	add()
	b.loops.Add(1)
	return true
}

func (b *stdBackend) acceptLoop(ln net.Listener, network string, h Handler) {
	defer b.loops.Done()
	var backoff acceptBackoff
	for {
		if d := b.s.cfg.AcceptDelay; d > 0 { // one accept(2) every d
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-b.done:
				t.Stop()
				return
			}
		}
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ECONNABORTED and friends: count, say so at most
			// once a second, back off so as not to spin, and keep serving.
			b.s.c.acceptErrs.Add(1)
			wait, report := backoff.failed(time.Now().UnixNano())
			if report {
				b.s.observe(sockit.Event{Step: sockit.StepAccept, FD: sock.FD(ln), Net: network, Local: ln.Addr(),
					Err: sockit.Wrap("accept", network, ln.Addr().String(), err)})
			}
			t := time.NewTimer(wait)
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
		backoff.ok()
		if !b.s.life.admit() { // accepted as Shutdown began: closed unseen
			nc.Close()
			continue
		}
		b.s.c.accepted.Add(1)
		b.startConn(nc, network, h, true)
	}
}

// dial connects in a goroutine of its own, then serves the connection like
// an accepted one. Shutdown cancels a dial still in progress.
func (b *stdBackend) dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error {
	if !b.track(func() {}) {
		return ErrServerClosed
	}
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
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				err = errDialTimeout
			}
			b.dialFailed(ep, h, err)
			return
		}
		if b.s.life.closingNow() { // connected as the server shuts down: the handler never sees it open
			nc.Close()
			b.dialFailed(ep, h, ErrShutdown)
			return
		}
		b.startConn(nc, ep.Network(), h, false)
	}()
	return nil
}

// dialFailed ends a dial that did not connect: OnClose without OnOpen.
func (b *stdBackend) dialFailed(ep endpoint.Endpoint, h Handler, err error) {
	c := &stdConn{b: b, h: h, network: ep.Network(), fd: -1, st: stClosed}
	b.s.life.gone()
	h.OnClose(c, connectError(ep.Network(), ep.Addr, err))
}

func (b *stdBackend) startConn(nc net.Conn, network string, h Handler, accepted bool) {
	s := b.s
	c := &stdConn{b: b, nc: nc, h: h, network: network, fd: -1, st: stOpen, start: time.Now(), messages: network == "unixpacket"}
	c.lastIn = c.start.UnixNano()
	c.out.budget = &s.budget
	c.rcond.L = &c.mu
	c.wcond.L = &c.mu
	c.drainer, _ = h.(Drainer)
	c.inline = s.cfg.Urgent == UrgentInline && strings.HasPrefix(network, "tcp")
	if s.cfg.Rights && strings.HasPrefix(network, "unix") {
		c.rights, _ = h.(RightsHandler)
		c.takeRights = true
	}
	if s.obs != nil || c.inline {
		c.fd = sock.FD(nc)
	}
	if s.obs != nil {
		step, detail := sockit.StepConnected, ""
		if accepted {
			step, detail = sockit.StepAccept, peerDetail(c.fd, network)
		}
		s.observe(sockit.Event{Step: step, FD: c.fd, Net: network, Local: nc.LocalAddr(), Peer: nc.RemoteAddr(), Detail: detail})
	}
	if err := s.opts.TuneConn(nc); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: c.fd, Net: network, Err: err})
	}
	if c.inline {
		err := withFD(nc, func(fd int) error { return setInline(fd, network) })
		if s.obs != nil || err != nil {
			s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: c.fd, Net: network, Detail: "SO_OOBINLINE=1", Err: err})
		}
	}
	b.mu.Lock()
	b.conns[c] = struct{}{}
	b.connWG.Add(1)
	b.mu.Unlock()
	go c.run()
}

func (b *stdBackend) stopAccepting() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	close(b.done)
	for _, ln := range b.listeners {
		err := ln.Close()
		b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Net: ln.Addr().Network(), Local: ln.Addr(), Detail: "listener " + ln.Addr().String(), Err: err})
	}
	for _, pc := range b.packets {
		err := pc.Close()
		b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Net: pc.LocalAddr().Network(), Local: pc.LocalAddr(), Detail: "datagram socket " + pc.LocalAddr().String(), Err: err})
	}
}

func (b *stdBackend) forceClose() int {
	closed := 0
	for _, c := range b.connList() {
		if c.forceClose() {
			closed++
		}
	}
	return closed
}

// goaway calls OnShutdown on every open connection whose handler has it,
// under the connection's callback lock like its other callbacks.
func (b *stdBackend) goaway() {
	for _, c := range b.connList() {
		if g, ok := c.h.(ShutdownHandler); ok {
			c.callback(func() {
				if !c.ended {
					g.OnShutdown(c)
				}
			})
		}
	}
}

// relax wakes every reader, so that one paused for the budget looks again.
func (b *stdBackend) relax() {
	for _, c := range b.connList() {
		c.mu.Lock()
		c.rcond.Broadcast()
		c.mu.Unlock()
	}
}

// connList is the connections open now.
func (b *stdBackend) connList() []*stdConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	conns := make([]*stdConn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	return conns
}

func (b *stdBackend) stop() {
	b.loops.Wait()
	b.connWG.Wait()
}

// stdConn is one connection on the std backend. Its lifecycle is the shared
// connState, under mu; the reader and the writer goroutine turn what their
// blocking calls return into its events.
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
	inline   bool // UrgentInline: SO_OOBINLINE is set; narration tells the mark
	// takeRights: read with recvmsg and take SCM_RIGHTS (Config.Rights);
	// rights is the handler that gets them, if it wants them.
	takeRights bool
	rights     RightsHandler
	passed     []int // the descriptors the last read received (reader only)

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
	wcond      sync.Cond // writer waits: output, FIN or the end
	st         connState
	why        cause
	out        outq // pending output not yet taken by the writer
	inflight   int  // bytes the writer is writing now
	paused     bool // reading stopped by backpressure
	readOff    bool // reading stopped by the handler (PauseReading)
	held       int  // bytes a layer reported with Hold
	writerDone bool
	sockClosed bool  // close(2) has been made
	lingerAt   int64 // Close's deadline, unix nanos; 0 until Close
	// lastIn and lastOut (unix nanos) start the idle and write deadlines.
	lastIn, lastOut int64

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
func (c *stdConn) pending() int { return c.out.len() + c.inflight }

// Hold counts n more bytes a layer keeps for the connection against the
// server's budget.
func (c *stdConn) Hold(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == stClosed {
		return
	}
	c.held += n
	c.b.s.budget.add(int64(n))
}

// PauseReading stops or resumes the reader before its next read.
func (c *stdConn) PauseReading(pause bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readOff && !pause {
		c.lastIn = time.Now().UnixNano() // the idle timeout counts from the resume
		c.rcond.Broadcast()
	}
	c.readOff = pause
}

// Write queues a copy of p for the writer. Here requests are applied at
// once, so a connection that may still produce output (no close asked for)
// is one whose state says so.
func (c *stdConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.st.produces() {
		return 0, ErrClosed
	}
	if c.pending()+len(p) > c.b.s.cfg.MaxPending {
		return 0, ErrOutputFull
	}
	if len(p) == 0 {
		return 0, nil // an empty unixpacket message would read as EOF
	}
	c.out.push(p, c.messages)
	c.wcond.Signal()
	return len(p), nil
}

func (c *stdConn) AsyncWrite(p []byte) error {
	_, err := c.Write(p)
	return err
}

func (c *stdConn) CloseWrite() error { return c.request(evCloseWrite) }
func (c *stdConn) Close() error      { return c.request(c.b.s.cfg.closeEvent()) }
func (c *stdConn) Abort() error      { return c.request(evAbort) }

// request applies a close request at once.
func (c *stdConn) request(ev event) error {
	if ev == evAbort {
		c.end(nil, evAbort)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.st.live() {
		return nil
	}
	if c.st.on(ev)&actLinger != 0 && c.lingerAt == 0 {
		// Bound both the flush and the wait for the peer's FIN; input is
		// discarded from now on, so the idle timeout no longer applies.
		c.lingerAt = time.Now().Add(c.b.s.cfg.Linger).UnixNano()
		c.armReadLocked()
		c.armWriteLocked()
	}
	c.wcond.Signal()
	c.rcond.Broadcast()
	return nil
}

// end makes the connection end with ev (evAbort: RST, evFail: close) for
// why (nil for the handler's Abort), unless it is ending already, drops
// pending output and closes the socket, which ends the reader's and the
// writer's blocking calls. It reports whether the connection was live.
func (c *stdConn) end(why error, ev event) bool {
	c.mu.Lock()
	if !c.st.live() {
		c.mu.Unlock()
		return false
	}
	c.why.fail(why)
	c.st.on(ev)
	c.out.drop()
	c.wcond.Signal()
	c.rcond.Broadcast()
	c.mu.Unlock()
	c.closeSocket()
	return true
}

// fail ends the connection because of err (a reset by the peer, a short
// read on unixpacket, too much input).
func (c *stdConn) fail(err error) {
	c.end(sockit.Wrap(opName(err), c.network, addrText(c.RemoteAddr()), err), evFail)
}

// reset ends the connection with RST because a deadline of op ran out.
func (c *stdConn) reset(op string) {
	err := timeoutError(op)
	c.end(sockit.Wrap(op, c.network, addrText(c.RemoteAddr()), err), evAbort)
}

// forceClose is Shutdown's last resort: a plain close(2). The kernel still
// sends the output it holds, unless input is left unread: then, per RFC
// 1122 section 4.2.2.13, close(2) sends RST and the peer may lose that output.
func (c *stdConn) forceClose() bool { return c.end(ErrShutdown, evFail) }

// closeSocket closes the socket once, with SO_LINGER 0 first when the
// connection resets (per socket(7), close then sends RST on TCP).
func (c *stdConn) closeSocket() {
	c.mu.Lock()
	if c.sockClosed {
		c.mu.Unlock()
		return
	}
	c.sockClosed = true
	reset := c.st == stReset
	c.mu.Unlock()
	detail := ""
	if reset {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		detail = "abort: SO_LINGER 0, RST"
	}
	err := c.nc.Close()
	c.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: c.fd, Net: c.network, Peer: c.nc.RemoteAddr(), Detail: detail, Err: err})
}

// deadlinesLocked are the connection's timers now; c.mu must be held.
func (c *stdConn) deadlinesLocked() deadlines {
	return c.b.s.cfg.deadlines(c.st, c.readOff, c.lastIn, c.lastOut, c.pending() > 0, c.lingerAt)
}

// armReadLocked and armWriteLocked set the socket's read and write
// deadlines to what bounds each direction now; c.mu must be held.
func (c *stdConn) armReadLocked()  { c.nc.SetReadDeadline(unixTime(c.deadlinesLocked().reading())) }
func (c *stdConn) armWriteLocked() { c.nc.SetWriteDeadline(unixTime(c.deadlinesLocked().writing())) }

// unixTime is a deadline in unix nanos as a time.Time; 0 is none.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
	s.observe(sockit.Event{Step: sockit.StepOpen, FD: c.fd, Net: c.network, Local: c.nc.LocalAddr(), Peer: c.nc.RemoteAddr()})
	go c.writer()
	c.callback(func() { c.h.OnOpen(c) })
	if c.drainer != nil {
		c.drain() // as on epoll: a Drainer may start producing at once
	}
	c.readLoop()

	c.mu.Lock()
	for !c.writerDone {
		c.rcond.Wait()
	}
	c.mu.Unlock()
	c.closeSocket()
	c.mu.Lock()
	c.st.on(evClosed)
	err := c.why.result()
	c.out.drop()
	s.budget.add(-int64(c.held))
	c.held = 0
	c.mu.Unlock()
	s.life.gone() // gone before the handler hears of it, so Stats agree with OnClose
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

// readLoop reads while the connection's state reads, and hands the bytes
// to the handler, or drops them once Close was asked for.
func (c *stdConn) readLoop() {
	s := c.b.s
	cfg := &s.cfg
	buf := make([]byte, cfg.ReadBuffer)
	left := input{budget: &s.budget}
	defer left.release()
	for {
		c.mu.Lock()
		for {
			c.paused = cfg.paused(c.paused, c.pending(), s.budget.level())
			if !(c.paused || c.readOff) || c.st.discards() || !c.st.reads() {
				break
			}
			c.rcond.Wait()
		}
		if !c.st.reads() {
			c.mu.Unlock()
			return
		}
		c.armReadLocked()
		c.mu.Unlock()

		n, err := c.read(buf[:s.budget.readSize(len(buf))])
		now := time.Now().UnixNano()
		if len(c.passed) > 0 {
			s.c.rights.Add(uint64(len(c.passed)))
			if s.obs != nil {
				s.observe(sockit.Event{Step: sockit.StepAncillary, FD: c.fd, Net: c.network, Detail: rightsDetail(c.passed)})
			}
		}
		// Close may have come while the read blocked: what it returned then
		// is input to discard.
		c.mu.Lock()
		discard := c.st.discards()
		if n > 0 {
			c.lastIn = now
		}
		c.mu.Unlock()
		if n > 0 {
			c.in += int64(n)
			s.c.bytesIn.Add(uint64(n))
			if s.obs != nil {
				e := sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network, N: n, Data: buf[:n]}
				if c.takeRights {
					e.Call = "recvmsg"
				}
				if c.inline {
					e.Detail = markDetail(c.fd)
				}
				s.observe(e)
			}
			if !discard {
				data := left.join(buf[:n])
				var k int
				c.callback(func() { k = c.h.OnData(c, data) })
				rest, ierr := unconsumed(data, k, cfg.MaxInput)
				if ierr != nil {
					c.fail(ierr)
				} else {
					left.keep(rest)
				}
			}
		}
		if len(c.passed) > 0 {
			if c.rights != nil && !discard {
				c.callback(func() { c.rights.OnRights(c, c.passed) })
			}
			sock.CloseFDs(c.passed)
			c.passed = c.passed[:0]
		}
		switch {
		case err == nil:
		case err == io.EOF:
			s.observe(sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network})
			c.mu.Lock()
			act := c.st.on(evPeerFIN)
			c.wcond.Signal()
			c.mu.Unlock()
			if act&actPeerClose != 0 {
				c.callback(func() { c.h.OnPeerClose(c) })
			}
		case isTimeout(err):
			c.mu.Lock()
			exp := c.deadlinesLocked().expired(now)
			c.mu.Unlock()
			switch exp {
			case expLinger: // the peer's FIN did not come within Linger
				c.reset(opClose)
			case expIdle:
				c.mu.Lock()
				c.why.idled()
				c.mu.Unlock()
				c.request(evClose)
			}
			// Otherwise a deadline that moved (Close outran the idle one):
			// the next read arms the one that holds now.
		default:
			c.mu.Lock()
			ours := !c.st.live()
			c.mu.Unlock()
			if !ours || !errors.Is(err, net.ErrClosed) {
				s.observe(sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network, Err: err})
				c.fail(err)
			}
		}
	}
}

// writer drains pending output, sends FIN when the state asks for it, and
// exits after the FIN, the end of the connection or a write error.
func (c *stdConn) writer() {
	cfg := &c.b.s.cfg
	w := outq{budget: &c.b.s.budget}
	vecs := new(net.Buffers) // one for the writer's life: WriteTo takes a pointer
	defer func() {
		w.drop()
		c.mu.Lock()
		c.writerDone = true
		c.rcond.Broadcast()
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		for c.out.len() == 0 && !c.st.flushing() && c.st.queues() {
			c.wcond.Wait()
		}
		if !c.st.live() || !c.st.queues() { // ending, or our FIN is out
			c.mu.Unlock()
			return
		}
		if c.out.len() == 0 { // flushing and all flushed: FIN
			c.mu.Unlock()
			c.shutdownWrite()
			return
		}
		c.out, w = w, c.out
		c.inflight = w.len()
		c.mu.Unlock()

		if !c.writeOut(&w, vecs) {
			return
		}
		c.mu.Lock()
		c.inflight = 0
		pending := c.out.len()
		c.rcond.Broadcast()
		c.mu.Unlock()
		if c.drainer != nil && pending <= cfg.LowWatermark {
			c.drain()
		}
	}
}

// shutdownWrite sends FIN: shutdown(SHUT_WR).
func (c *stdConn) shutdownWrite() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	err := sock.ErrUnsupported
	if ok {
		err = cw.CloseWrite()
	}
	c.b.s.observe(sockit.Event{Step: sockit.StepShutdown, FD: c.fd, Net: c.network, Detail: "SHUT_WR", Err: err})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.fail(err)
		return
	}
	c.mu.Lock()
	c.st.on(evFINSent) // after the peer's FIN: done, and the reader has returned
	c.rcond.Broadcast()
	c.mu.Unlock()
}

// writeOut writes w whole: at once on a byte stream, one write(2) per
// message on unixpacket, so that each message keeps its boundary. The
// write deadline bounds each stretch without progress, not the whole of
// it: a slow reader that keeps reading is not reset; Close's deadline
// bounds it all. It reports whether the connection goes on.
func (c *stdConn) writeOut(w *outq, vecs *net.Buffers) bool {
	for w.len() > 0 {
		c.mu.Lock()
		c.armWriteLocked()
		c.mu.Unlock()
		*vecs = w.vectors(c.messages)
		first := (*vecs)[0]
		n64, err := vecs.WriteTo(c.nc) // writev where the platform has it
		n := int(n64)
		now := time.Now().UnixNano()
		if n > 0 {
			c.outN += int64(n)
			c.b.s.c.bytesOut.Add(uint64(n))
			c.b.s.observe(sockit.Event{Step: sockit.StepWrite, FD: c.fd, Net: c.network, N: n, Data: first[:min(n, len(first))]})
			c.mu.Lock()
			c.lastOut = now
			c.inflight -= n
			c.mu.Unlock()
			w.advance(n, c.messages)
		}
		if err == nil {
			continue
		}
		c.mu.Lock()
		live := c.st.live()
		exp := c.deadlinesLocked().expired(now)
		c.mu.Unlock()
		var errno syscall.Errno
		if live && errors.As(err, &errno) {
			c.b.s.observe(sockit.Event{Step: sockit.StepWrite, FD: c.fd, Net: c.network, Err: err})
		}
		switch {
		case !live: // ended while it wrote
		case isTimeout(err) && exp == expLinger: // output not flushed within Linger
			c.reset(opClose)
		case isTimeout(err) && exp == expWrite:
			c.reset(opWrite)
		case isTimeout(err) && !c.messages:
			continue // it moved, or a deadline moved: a new stretch begins
		default:
			c.fail(err)
		}
		return false
	}
	return true
}

// drain calls the Drainer's OnDrain if there is room for output, unless a
// close was asked for: then the output is final.
func (c *stdConn) drain() {
	c.callback(func() {
		c.mu.Lock()
		skip := !c.st.produces() || c.pending() > c.b.s.cfg.LowWatermark
		c.mu.Unlock()
		if !skip {
			c.drainer.OnDrain(c)
		}
	})
}

// read reads once; on unixpacket, a message longer than buf fails the
// connection instead of losing its tail.
func (c *stdConn) read(buf []byte) (int, error) {
	if c.takeRights {
		n, fds, err := readWithRights(c.nc, buf, c.messages)
		c.passed = append(c.passed, fds...)
		return n, err
	}
	if c.messages {
		return readMessage(c.nc, buf)
	}
	return c.nc.Read(buf)
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
	p.b.s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Peer: addr, N: n, Data: b[:max(n, 0)], Err: err})
	return n, sockit.Wrap("sendto", p.network, addrText(addr), err)
}

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
			if isRefused(err) {
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
		s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Peer: from, N: n, Data: buf[:n]})
		h.OnPacket(p, buf[:n], from)
	}
}
