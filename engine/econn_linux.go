package engine

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// econn is one connection on the epoll backend. Only its loop touches its
// fields, except the atomic ones (shut, dead, async). Its lifecycle is the
// shared connState; econn turns epoll's readiness into its events.
type econn struct {
	l     *loop
	m     *connMeta
	b     *connBuf       // nil while nothing is pending or left over
	raddr netip.AddrPort // the peer, for TCP; Unix peers are in m.remote
	value any

	fd     int32          // the descriptor (int32 keeps an idle connection small)
	events sock.Readiness // epoll interest now registered
	st     connState      // where the connection is in its life
	stops  readStops      // why reading has stopped, if it has
	// wantDrain: a Drainer wrote in its last OnDrain (or has just opened)
	// and is owed another call when there is room.
	wantDrain bool
	uops      uint8 // uring: the requests in flight (uRecv, uSend, ...)
	idx       int32 // uring: the connection's index in its loop's conns, which its requests name

	shut  atomic.Bool  // CloseWrite, Close or Abort was called: writes are refused
	dead  atomic.Bool  // closed
	async atomic.Int64 // bytes AsyncWrite has queued for the loop, not yet taken

	why cause

	start, lastIn, lastOut int64 // unix nanos
	// until is the dial's deadline while connecting, then Close's linger
	// deadline; 0 = none.
	until             int64
	wake              int64 // when the handler asked for OnTimer (SetTimer); 0 = never
	timer             timerSlot
	inBytes, outBytes int64
}

// connMeta is what connections from one listener (or one dial) share, kept
// out of econn so that an idle connection stays small.
type connMeta struct {
	h       Handler
	drainer Drainer
	timer   TimerHandler
	goaway  ShutdownHandler
	network string
	local   net.Addr
	remote  net.Addr // Unix peers (usually unnamed); TCP peers are in econn.raddr
	message bool     // unixpacket: every Write is one message
	read    readMode // which call reads
	// urgent is EPOLLPRI when the connection watches for urgent data
	// (UrgentReceive), else 0: it is ORed into every read interest.
	urgent sock.Readiness
	inline bool // UrgentInline: SO_OOBINLINE on each connection
	uh     UrgentHandler
	rh     RightsHandler
}

// readMode is the system call a connection reads with.
type readMode uint8

const (
	readStream        readMode = iota // read(2)
	readSeqpacket                     // recvfrom(MSG_TRUNC): one seqpacket message
	readRights                        // recvmsg(2) with room for SCM_RIGHTS
	readRightsMessage                 // both
)

// readStops are why a connection is not read for now: one byte for both,
// so that an idle connection stays small.
type readStops uint8

const (
	stopPressure readStops = 1 << iota // backpressure: output pending, or the budget
	stopHandler                        // the handler asked (PauseReading)
)

// set turns the reason r on or off.
func (s *readStops) set(r readStops, on bool) {
	if on {
		*s |= r
	} else {
		*s &^= r
	}
}

func newMeta(cfg *Config, network string, h Handler, local, remote net.Addr) *connMeta {
	m := &connMeta{h: h, network: network, local: local, remote: remote, message: network == "unixpacket"}
	m.drainer, _ = h.(Drainer)
	m.timer, _ = h.(TimerHandler)
	m.goaway, _ = h.(ShutdownHandler)
	if m.message {
		m.read = readSeqpacket
	}
	if cfg.Rights && strings.HasPrefix(network, "unix") {
		m.read += readRights
		m.rh, _ = h.(RightsHandler)
	}
	if strings.HasPrefix(network, "tcp") {
		switch cfg.Urgent {
		case UrgentReceive:
			m.urgent = sock.Urgent
			m.uh, _ = h.(UrgentHandler)
		case UrgentInline:
			m.inline = true
		}
	}
	return m
}

// connBuf holds a connection's pending output, its unconsumed input and
// the count of what its layers hold (Hold). An idle connection gives it
// back to the pool.
type connBuf struct {
	out  outq
	in   input
	held int           // bytes a layer reported with Hold
	vec  *sock.SendVec // uring: a vectored send's header, made when first needed
}

var bufPool = sync.Pool{New: func() any { return new(connBuf) }}

func (c *econn) bufs() *connBuf {
	if c.b == nil {
		c.b = bufPool.Get().(*connBuf)
		c.b.out.budget = &c.l.b.s.budget
		c.b.in.budget = &c.l.b.s.budget
	}
	return c.b
}

// releaseBufs gives the buffers back once nothing is pending, left over
// or held.
func (c *econn) releaseBufs() {
	b := c.b
	if b == nil || b.out.len() > 0 || b.in.len() > 0 || b.held != 0 {
		return
	}
	b.out.release()
	b.in.release()
	bufPool.Put(b)
	c.b = nil
}

// Hold counts n more bytes (n < 0: fewer) that a layer keeps for the
// connection against the server's budget. Loop goroutine only.
func (c *econn) Hold(n int) {
	if n == 0 || c.st == stClosed {
		return
	}
	b := c.bufs()
	b.held += n
	c.l.b.s.budget.add(int64(n))
	c.releaseBufs()
}

// setRemote records a peer address the inline AddrPort cannot hold (a
// named Unix peer, a zoned IPv6 one) in a meta of its own.
func (c *econn) setRemote(a net.Addr) {
	m := *c.m
	m.remote = a
	c.m = &m
}

func (c *econn) remoteAddr() net.Addr {
	if c.raddr.IsValid() {
		return net.TCPAddrFromAddrPort(c.raddr)
	}
	return c.m.remote
}

func (c *econn) LocalAddr() net.Addr  { return c.m.local }
func (c *econn) RemoteAddr() net.Addr { return c.remoteAddr() }
func (c *econn) Context() any         { return c.value }
func (c *econn) SetContext(v any)     { c.value = v }
func (c *econn) SetTimer(at time.Time) {
	c.wake = 0
	if !at.IsZero() && c.st != stClosed {
		// Never before the loop's next pass: a handler that keeps asking
		// for a time already gone cannot hold the loop in its timers.
		c.wake = max(at.UnixNano(), c.l.now+1)
		c.l.timers.arm(c.wake, c)
	}
}

func (c *econn) Wake() error {
	if c.dead.Load() {
		return ErrClosed
	}
	c.l.post(task{kind: taskWake, c: c})
	return nil
}

// PauseReading stops or resumes reading; the settle that follows every
// callback sets the interest. Loop goroutine only.
func (c *econn) PauseReading(pause bool) {
	if c.stops&stopHandler != 0 && !pause {
		c.lastIn = c.l.now // the idle timeout counts from the resume
	}
	c.stops.set(stopHandler, pause)
}

func (c *econn) Pending() int {
	if c.b == nil {
		return 0
	}
	return c.b.out.len()
}

// Write writes p at once if nothing is queued, and queues what the kernel
// did not take. Loop goroutine only.
func (c *econn) Write(p []byte) (int, error) {
	if c.shut.Load() {
		return 0, ErrClosed
	}
	return c.enqueue(p, true)
}

// enqueue is Write without the check for a requested close: AsyncWrite's
// data, accepted before the close, still goes out ahead of the FIN. bound
// applies MaxPending; AsyncWrite's bytes were counted when accepted.
func (c *econn) enqueue(p []byte, bound bool) (int, error) {
	if !c.st.queues() {
		if c.st == stDone && c.why.failed() {
			return 0, c.why.err
		}
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil // an empty unixpacket message would read as EOF
	}
	pending := c.Pending()
	if bound && pending+len(p) > c.l.b.s.cfg.MaxPending {
		return 0, ErrOutputFull
	}
	written := 0
	if pending == 0 && c.l.u == nil { // uring: the send goes with the next submission
		n, err := c.write(p)
		if err != nil {
			c.fail(err)
			return 0, c.why.err
		}
		written = n
	}
	if pending == 0 && c.l.u != nil && !c.m.message {
		if bid, ok := c.l.u.lend(p); ok {
			c.bufs().out.lend(p, int32(bid), c.l.u.repayFn)
			return len(p), nil
		}
	}
	if written < len(p) { // a seqpacket write is all or nothing: p[written:] is p
		c.bufs().out.push(p[written:], c.m.message)
	}
	return len(p), nil
}

// write makes one write(2); a full socket buffer is not an error.
func (c *econn) write(p []byte) (int, error) {
	n, err := sock.Write(int(c.fd), p)
	if err == sock.ErrWouldBlock {
		return 0, nil
	}
	if err != nil {
		c.failedCall(sockit.StepWrite, "", err)
		return 0, err
	}
	c.wrote(n, p)
	return n, nil
}

// wrote counts n bytes the kernel took; p begins with them.
func (c *econn) wrote(n int, p []byte) {
	c.outBytes += int64(n)
	c.lastOut = c.l.now
	if n > 0 && c.m.drainer != nil {
		c.wantDrain = true // output moved: a Drainer is owed a call
	}
	s := c.l.b.s
	s.c.bytesOut.Add(uint64(n))
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepWrite, FD: int(c.fd), Net: c.m.network, N: n, Data: p[:min(n, len(p))]})
	}
}

// failedCall tells the observer of a read or write that failed, with
// its errno (the connection then ends with it).
func (c *econn) failedCall(step sockit.Step, call string, err error) {
	if s := c.l.b.s; s.obs != nil {
		s.observe(sockit.Event{Step: step, FD: int(c.fd), Net: c.m.network, Call: call, Err: err})
	}
}

// AsyncWrite copies p into a task for the loop. Bytes queued that way count
// against MaxPending at once, so a caller that outruns the connection gets
// ErrOutputFull instead of growing the loop's queue.
func (c *econn) AsyncWrite(p []byte) error {
	if c.dead.Load() || c.shut.Load() {
		return ErrClosed
	}
	if c.async.Add(int64(len(p))) > int64(c.l.b.s.cfg.MaxPending) {
		c.async.Add(-int64(len(p)))
		return ErrOutputFull
	}
	c.l.post(task{kind: taskWrite, c: c, data: append([]byte(nil), p...)})
	return nil
}

func (c *econn) CloseWrite() error { return c.request(evCloseWrite) }
func (c *econn) Close() error      { return c.request(c.l.b.s.cfg.closeEvent()) }
func (c *econn) Abort() error      { return c.request(evAbort) }

// request hands ev to the loop through its task queue, in order with
// AsyncWrite's data. Writes are refused from now on.
func (c *econn) request(ev event) error {
	if c.dead.Load() {
		return nil
	}
	c.shut.Store(true)
	c.l.post(task{kind: taskRequest, c: c, ev: ev})
	return nil
}

// apply moves the connection through ev and does what the transition asks.
func (c *econn) apply(ev event) {
	act := c.st.on(ev)
	if act&actLinger != 0 && c.until == 0 {
		c.until = c.l.now + int64(c.l.b.s.cfg.Linger)
	}
	if act&actPeerClose != 0 {
		c.m.h.OnPeerClose(c)
	}
}

// handle reacts to epoll's readiness for c.
func (c *econn) handle(ev sock.Readiness) {
	if c.st == stConnecting {
		c.completeConnect()
		return
	}
	if ev&sock.ErrorSeen != 0 {
		if err := sock.PendingError(int(c.fd), "read"); err != nil {
			c.failedCall(sockit.StepRead, "SO_ERROR (EPOLLERR)", err)
			c.fail(err)
			c.settle()
			return
		}
	}
	if ev&(sock.Writable|sock.HungUp) != 0 {
		if c.Pending() > 0 {
			c.flush()
		}
		if c.Pending() == 0 && c.m.drainer != nil {
			c.wantDrain = true // room again: settle calls OnDrain
		}
	}
	// The urgent byte first: it waits apart from the stream, for
	// recv(MSG_OOB) whatever has been read, and a read that comes to the
	// peer's FIN would end our reading and leave it behind.
	if ev&sock.Urgent != 0 && c.st.reads() {
		c.takeUrgent()
	}
	if ev&(sock.Readable|sock.PeerShut|sock.HungUp) != 0 && c.st.reads() {
		c.read()
	}
	if ev&sock.HungUp != 0 {
		c.hangup(sock.HungUp)
	}
	c.settle()
}

// hangup acts on an error or a hang-up reported after input has ended.
func (c *econn) hangup(ev sock.Readiness) {
	if ev&sock.ErrorSeen != 0 {
		if err := sock.PendingError(int(c.fd), "read"); err != nil {
			c.fail(err)
			return
		}
	}
	if ev&sock.HungUp != 0 && c.st == stPeerClosed && !c.shut.Load() {
		// Input has ended and the peer is gone both ways (per epoll_ctl(2);
		// a Unix peer's close(2) reports it at once, with data still to
		// read, so this waits for our own EOF first). Nothing more can be
		// written: without this a level-triggered HUP would fire forever.
		c.fail(brokenPipe())
	}
}

// read makes one read(2) into the loop's buffer and hands the bytes to the
// handler.
func (c *econn) read() {
	l := c.l
	n, err := c.readFD(l.buf[:l.b.s.budget.readSize(len(l.buf))])
	if err == sock.ErrWouldBlock {
		return
	}
	c.got(l.buf[:n], err)
}

// got hands the handler what one read brought: data, the peer's EOF
// (none), or a failure.
func (c *econn) got(data []byte, err error) {
	l := c.l
	s := l.b.s
	n := len(data)
	if err != nil {
		c.failedCall(sockit.StepRead, c.m.read.call(), err)
		c.fail(err)
		return
	}
	if n == 0 {
		if s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepRead, FD: int(c.fd), Net: c.m.network, Call: c.m.read.call()})
		}
		c.apply(evPeerFIN)
		return
	}
	c.inBytes += int64(n)
	c.lastIn = l.now
	s.c.bytesIn.Add(uint64(n))
	if s.obs != nil {
		e := sockit.Event{Step: sockit.StepRead, FD: int(c.fd), Net: c.m.network, Call: c.m.read.call(), N: n, Data: data}
		if c.m.inline {
			e.Detail = markDetail(int(c.fd))
		}
		s.observe(e)
	}
	if c.st.discards() {
		if c.m.read >= readRights {
			sock.CloseFDs(l.rights)
			l.rights = l.rights[:0]
		}
		return // Close: input is drained and dropped
	}
	if c.b != nil {
		data = c.b.in.join(data)
	}
	c.offer(data)
	if c.m.read >= readRights {
		c.giveRights()
	}
}

// readFD reads once: one whole message on unixpacket, with recvmsg(2)
// where descriptors may come.
func (c *econn) readFD(buf []byte) (int, error) {
	switch c.m.read {
	case readStream:
		return sock.Read(int(c.fd), buf)
	case readSeqpacket:
		return sock.ReadMessage(int(c.fd), buf)
	}
	return c.readRights(buf)
}

// call names the system call of a read mode for narration ("" = read).
func (r readMode) call() string {
	if r >= readRights {
		return "recvmsg"
	}
	return ""
}

// readRights reads with recvmsg(2); descriptors that came are counted,
// reported, handed to a RightsHandler after the data, and closed.
func (c *econn) readRights(buf []byte) (int, error) {
	l := c.l
	if l.oob == nil {
		l.oob = make([]byte, sock.RightsSpace(maxRights))
	}
	n, oobn, ctrunc, err := sock.RecvRights(int(c.fd), buf, l.oob, c.m.read == readRightsMessage)
	if err != nil || oobn == 0 {
		return n, err
	}
	fds, perr := sock.ParseRights(l.oob[:oobn])
	s := l.b.s
	s.c.rights.Add(uint64(len(fds)))
	if s.obs != nil {
		detail := rightsDetail(fds)
		if ctrunc {
			detail += fmt.Sprintf("; more than %d descriptors: the kernel closed the rest (MSG_CTRUNC)", maxRights)
		}
		if perr != nil {
			detail += "; " + perr.Error()
		}
		s.observe(sockit.Event{Step: sockit.StepAncillary, FD: int(c.fd), Net: c.m.network, Detail: detail})
	}
	l.rights = append(l.rights[:0], fds...)
	return n, nil
}

// maxRights is how many descriptors one read has room for.
const maxRights = 16

// giveRights hands the descriptors of the last read to a RightsHandler
// and closes them.
func (c *econn) giveRights() {
	l := c.l
	if c.m.rh != nil && c.st != stClosed {
		c.m.rh.OnRights(c, l.rights)
	}
	sock.CloseFDs(l.rights)
	l.rights = l.rights[:0]
}

// takeUrgent takes the urgent byte with recv(MSG_OOB) (UrgentReceive)
// and tells the observer and an UrgentHandler.
func (c *econn) takeUrgent() {
	s := c.l.b.s
	b, err := sock.RecvOOB(int(c.fd))
	if err != nil {
		if s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepUrgent, FD: int(c.fd), Net: c.m.network, Err: err})
		}
		return
	}
	s.c.urgent.Add(1)
	if s.obs != nil {
		one := [1]byte{b}
		s.observe(sockit.Event{Step: sockit.StepUrgent, FD: int(c.fd), Net: c.m.network, N: 1, Data: one[:], Detail: urgentDetail(b)})
	}
	if c.m.uh != nil {
		c.m.uh.OnUrgent(c, b)
	}
}

// offer gives data to the handler and keeps what it leaves.
func (c *econn) offer(data []byte) {
	k := c.m.h.OnData(c, data)
	rest, err := unconsumed(data, k, c.l.b.s.cfg.MaxInput)
	switch {
	case err != nil:
		c.fail(err)
	case len(rest) == 0:
		if c.b != nil {
			c.b.in.keep(nil)
			c.releaseBufs()
		}
	default:
		c.bufs().in.keep(rest)
	}
}

// flush writes pending output until the kernel stops taking it: in one
// write(2) per attempt on a byte stream, one per message on unixpacket.
func (c *econn) flush() {
	if c.l.u != nil {
		c.usend()
		return
	}
	for c.Pending() > 0 {
		vecs := c.b.out.vectors(c.m.message)
		n, err := c.l.vec.Writev(int(c.fd), vecs)
		if err == sock.ErrWouldBlock {
			return
		}
		if err != nil {
			c.failedCall(sockit.StepWrite, "writev", err)
			c.fail(err)
			return
		}
		c.wrote(n, vecs[0])
		c.b.out.advance(n, c.m.message)
	}
	c.releaseBufs()
}

// drain calls OnDrain while the handler keeps writing and output stays at
// or below the low watermark, a bounded number of times. It reports whether
// the handler still wants to be called when there is room: then the loop
// watches for writability even with nothing pending.
func (c *econn) drain(low int) (more bool) {
	for i := 0; i < 64; i++ {
		if c.Pending() > low || c.shut.Load() || !c.st.produces() {
			return c.Pending() <= low && c.st.produces() && !c.shut.Load()
		}
		before := c.outBytes + int64(c.Pending())
		c.m.drainer.OnDrain(c)
		if c.outBytes+int64(c.Pending()) == before {
			c.wantDrain = false // wrote nothing: wait until it writes again
			return false
		}
		if c.Pending() == 0 {
			continue // the kernel took it all: there is room for more
		}
	}
	return c.Pending() <= low
}

// fail records why the connection must end and ends its life; settle (or
// finish) closes it. A connection already ending keeps its first reason.
func (c *econn) fail(err error) {
	if !c.st.live() {
		return
	}
	c.why.fail(sockit.Wrap(opName(err), c.m.network, addrText(c.remoteAddr()), err))
	c.apply(evFail)
}

// reset is fail with RST: a deadline that must not pass for an orderly end.
func (c *econn) reset(err error) {
	if !c.st.live() {
		return
	}
	c.why.fail(sockit.Wrap(opName(err), c.m.network, addrText(c.remoteAddr()), err))
	c.apply(evAbort)
}

// settle brings the descriptor in line with the connection's state: it
// closes an ending connection, flushes output queued by a callback or a
// task, sends the FIN a flushed close is waiting for, asks a Drainer for
// more, and sets the epoll interest from backpressure and pending output.
func (c *econn) settle() {
	if c.st == stClosed {
		return
	}
	if c.st.ending() {
		c.finish()
		return
	}
	cfg := &c.l.b.s.cfg
	pending := c.Pending()
	if pending > 0 && c.events&sock.Writable == 0 {
		c.flush() // output queued by a callback or a task: try now
		if c.st.ending() {
			c.finish()
			return
		}
		pending = c.Pending()
	}
	if pending == 0 && c.st.flushing() {
		err := sock.ShutdownWrite(int(c.fd))
		if s := c.l.b.s; s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepShutdown, FD: int(c.fd), Net: c.m.network, Detail: "SHUT_WR", Err: err})
		}
		if err != nil {
			c.fail(err)
		} else {
			c.apply(evFINSent)
		}
		if c.st.ending() {
			c.finish()
			return
		}
	}
	moreDrain := false
	if c.m.drainer != nil && c.wantDrain && c.st.produces() {
		moreDrain = c.drain(cfg.LowWatermark)
		if c.st.ending() {
			c.finish()
			return
		}
		pending = c.Pending()
	}
	c.stops.set(stopPressure, cfg.paused(c.stops&stopPressure != 0, pending, c.l.b.s.budget.level()))
	read := c.st.reads() && (c.stops == 0 || c.st.discards())
	if c.l.u != nil {
		c.usend() // what a Drainer has just written, unless a send is in flight
		c.uwatch(read)
		if c.st.ending() {
			c.finish()
			return
		}
		if moreDrain && pending == 0 {
			c.l.post(task{kind: taskDrain, c: c}) // owed a call, and no send will bring it
		}
		c.armTimer()
		return
	}
	want := sock.Readiness(0)
	if read {
		want |= sock.Readable | sock.PeerShut | c.m.urgent
	}
	if pending > 0 || moreDrain {
		want |= sock.Writable
	}
	if want != c.events {
		c.events = want
		if err := c.l.p.ep.Mod(int(c.fd), want); err != nil {
			c.fail(err)
			c.finish()
			return
		}
	}
	c.armTimer()
}

// outputWaits reports output waiting on the kernel, what WriteTimeout
// bounds: bytes pending, or (epoll) a Drainer owed a call once the socket
// has room, with the socket full and nothing of ours pending.
func (c *econn) outputWaits() bool {
	return c.Pending() > 0 || (c.l.u == nil && c.events&sock.Writable != 0)
}

// deadline is the earliest time something must happen to c, or 0.
func (c *econn) deadline() int64 {
	if c.st == stConnecting {
		return c.until
	}
	d := c.l.b.s.cfg.deadlines(c.st, c.stops&stopHandler != 0, c.lastIn, c.lastOut, c.outputWaits(), c.until)
	return earliest(d.next(), c.wake)
}

func (c *econn) armTimer() {
	if at := c.deadline(); at > 0 {
		c.l.timers.arm(at, c)
	}
}

func (c *econn) slot() *timerSlot { return &c.timer }

// fire acts on the deadline that passed, or re-arms for the next one.
func (c *econn) fire(now int64) int64 {
	if c.st == stClosed {
		return 0
	}
	c.l.now = now
	if c.st == stConnecting {
		if c.until > 0 && now >= c.until {
			c.failConnect(errDialTimeout)
			return 0
		}
		return c.until
	}
	d := c.l.b.s.cfg.deadlines(c.st, c.stops&stopHandler != 0, c.lastIn, c.lastOut, c.outputWaits(), c.until)
	switch d.expired(now) {
	case expLinger:
		c.reset(timeoutError(opClose))
		c.finish()
		return 0
	case expWrite:
		c.reset(timeoutError(opWrite))
		c.finish()
		return 0
	case expIdle:
		c.shut.Store(true)
		c.why.idled()
		c.apply(evClose)
		c.settle()
	}
	if c.st != stClosed && c.wake > 0 && now >= c.wake {
		c.wake = 0
		if c.m.timer != nil {
			c.m.timer.OnTimer(c)
		}
		c.settle()
	}
	if c.st == stClosed {
		return 0
	}
	return c.deadline()
}

// finish closes the descriptor of an ending connection (with RST from
// stReset) and tells the handler.
func (c *econn) finish() {
	l := c.l
	s := l.b.s
	reset := c.st == stReset
	c.apply(evClosed)
	c.dead.Store(true)
	l.timers.remove(c)
	fd := int(c.fd)
	if l.u != nil {
		c.ucancel()
	} else {
		l.unwatch(fd, c.m.network)
		l.conns[fd] = nil
	}
	if reset && c.m.network[0] == 't' {
		if err := sock.SetLingerZero(fd); err != nil {
			s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: c.m.network, Detail: "SO_LINGER=0", Err: err})
		}
	}
	err := l.closeConnFD(fd)
	if s.obs != nil || err != nil {
		detail := ""
		if reset {
			detail = "abort: SO_LINGER 0, RST"
		}
		s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: c.m.network, Peer: c.remoteAddr(), Detail: detail, Err: err})
	}
	if b := c.b; b != nil {
		b.in.release()
		s.budget.add(-int64(b.held))
		b.held = 0
		if c.uops&uSend == 0 { // else a send still reads the output: release gives it back
			b.out.drop()
			bufPool.Put(b)
			c.b = nil
		}
	}
	why := c.why.result()
	// Count the connection gone before its handler hears of it, so that
	// Stats agree with what OnClose reports. Shutdown may now go on to stop
	// the loops, but this loop finishes the callback first.
	l.descriptorFreed()
	s.life.gone()
	c.m.h.OnClose(c, why)
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepClosed, FD: fd, Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr(),
			In: c.inBytes, Out: c.outBytes, Dur: time.Duration(l.now - c.start), Err: why})
	}
	if l.u != nil {
		c.release()
	}
}

// forceClose is Shutdown's last resort: a plain close(2); the kernel still
// sends what it holds.
func (c *econn) forceClose() {
	if c.st == stConnecting {
		c.failConnect(ErrShutdown)
		return
	}
	if c.st.live() {
		c.why.fail(ErrShutdown)
		c.apply(evFail)
	}
	c.finish()
}

// startDial creates a socket and starts a non-blocking connect(2); the
// connection completes in handle when the socket becomes writable.
func (l *loop) startDial(d *dialReq) {
	s := l.b.s
	l.now = time.Now().UnixNano()
	c := &econn{l: l, fd: -1, idx: -1, st: stConnecting, start: l.now, lastIn: l.now}
	c.m = newMeta(&s.cfg, d.network, d.h, nil, nil)
	var other net.Addr
	if c.raddr, other = d.target.Peer(d.network); other != nil {
		c.setRemote(other)
	}
	fd, err := s.opts.DialFD(d.network, d.address, d.target, d.source, s.obs)
	if err != nil {
		c.failConnect(err)
		return
	}
	c.fd = int32(fd)
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepConnect, FD: fd, Net: d.network, Peer: c.remoteAddr()})
	}
	switch err := sock.Connect(fd, d.target); err {
	case nil: // Unix sockets connect at once
		if !c.watch(sock.Readable | sock.PeerShut | c.m.urgent) {
			return
		}
		c.connected()
	case sock.ErrInProgress:
		if !c.watch(sock.Writable) {
			return
		}
		if d.timeout > 0 {
			c.until = l.now + int64(d.timeout)
			l.timers.arm(c.until, c)
		}
	default:
		c.failConnect(err)
	}
}

// watch registers a dialing connection's descriptor for r; on failure the
// dial fails.
func (c *econn) watch(r sock.Readiness) bool {
	if u := c.l.u; u != nil {
		c.l.attach(c)
		if r&sock.Writable != 0 {
			c.uops |= uPoll
			u.r.PollAdd(int(c.fd), sock.Writable, false, u.track(udPoll, uint32(c.idx)))
		}
		return true
	}
	c.events = r
	if err := c.l.p.ep.Add(int(c.fd), r); err != nil {
		c.failConnect(err)
		return false
	}
	c.l.setConn(int(c.fd), c)
	return true
}

// connected finishes a dial: the three-way handshake is done.
func (c *econn) connected() {
	s := c.l.b.s
	if s.life.closingNow() { // connected as the server shuts down: the handler never sees it open
		c.failConnect(ErrShutdown)
		return
	}
	if c.l.u != nil {
		if err := sock.SetBlocking(int(c.fd)); err != nil { // io_uring does the waiting
			c.failConnect(err)
			return
		}
	}
	c.apply(evConnected)
	c.until = 0
	c.m.local = sock.LocalAddr(int(c.fd), c.m.network)
	if err := s.opts.TuneFD(int(c.fd), c.m.network); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: int(c.fd), Net: c.m.network, Err: err})
	}
	if c.m.inline {
		c.l.setInline(int(c.fd), c.m.network)
	}
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepConnected, FD: int(c.fd), Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr()})
	}
	c.wantDrain = c.m.drainer != nil
	c.m.h.OnOpen(c)
	c.settle()
}

// completeConnect reads the outcome of a non-blocking connect.
func (c *econn) completeConnect() {
	if err := sock.ConnectResult(int(c.fd)); err != nil {
		c.failConnect(err)
		return
	}
	if c.l.u != nil {
		c.connected()
		return
	}
	c.events = sock.Readable | sock.PeerShut | c.m.urgent
	if err := c.l.p.ep.Mod(int(c.fd), c.events); err != nil {
		c.failConnect(err)
		return
	}
	c.connected()
}

// failConnect ends a dial that did not connect: OnClose without OnOpen.
func (c *econn) failConnect(err error) {
	l := c.l
	c.apply(evFail)
	c.apply(evClosed)
	c.dead.Store(true)
	l.timers.remove(c)
	if fd := int(c.fd); fd >= 0 {
		switch {
		case l.u != nil && c.idx >= 0:
			c.ucancel()
			if err := l.closeConnFD(fd); err != nil {
				l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: c.m.network, Err: err})
			}
			c.release()
		case l.u == nil && fd < len(l.conns) && l.conns[fd] == c:
			l.unwatch(fd, c.m.network)
			l.conns[fd] = nil
			l.b.closeFD(fd, c.m.network)
		default:
			l.b.closeFD(fd, c.m.network)
		}
	}
	l.descriptorFreed()
	l.b.s.life.gone() // before OnClose, as in finish
	c.m.h.OnClose(c, connectError(c.m.network, addrText(c.remoteAddr()), err))
}
