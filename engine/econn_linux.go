package engine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// Requests made of a connection (by its handler or by other goroutines).
// They travel through the loop's task queue, in order with AsyncWrite, so
// that data accepted before a Close is sent before the FIN.
const (
	reqFIN   uint8 = 1 << iota // CloseWrite: FIN after the flush
	reqClose                   // Close: FIN after the flush, then drain input and close
	reqAbort                   // Abort: RST
)

// econn is one connection on the epoll backend. Only its loop touches its
// fields, except the atomic ones (shut, dead, async).
type econn struct {
	l     *loop
	m     *connMeta
	b     *connBuf       // nil while nothing is pending or left over
	raddr netip.AddrPort // the peer, for TCP; Unix peers are in m.remote
	value any

	fd     int32  // the descriptor (int32 keeps an idle connection in 200 bytes)
	events uint32 // epoll interest now registered

	shut  atomic.Bool  // CloseWrite, Close or Abort was called: writes are refused
	dead  atomic.Bool  // finished
	async atomic.Int64 // bytes AsyncWrite has queued for the loop, not yet taken

	req     uint8 // requests the loop has received and not yet applied
	paused  bool  // reading stopped by backpressure
	peerFIN bool  // read returned 0
	wantFIN bool
	finSent bool
	closing bool // Close: discard input until the peer's FIN
	aborted bool
	closed  bool
	idle    bool // closed by the idle timeout
	// wantDrain: a Drainer wrote in its last OnDrain (or has just opened)
	// and is owed another call when there is room.
	wantDrain  bool
	connecting bool // a dial waiting for connect(2) to complete

	err error

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
	network string
	local   net.Addr
	remote  net.Addr // Unix peers (usually unnamed); TCP peers are in econn.raddr
	message bool     // unixpacket: every Write is one message
}

func newMeta(network string, h Handler, local, remote net.Addr) *connMeta {
	m := &connMeta{h: h, network: network, local: local, remote: remote, message: network == "unixpacket"}
	m.drainer, _ = h.(Drainer)
	m.timer, _ = h.(TimerHandler)
	return m
}

// connBuf holds a connection's pending output and unconsumed input. An
// idle connection gives it back to the pool.
type connBuf struct {
	out  []byte // pending output is out[head:]
	head int
	in   []byte // input the handler left unconsumed
	msgs []int  // unixpacket: the length of each message queued in out
}

var bufPool = sync.Pool{New: func() any { return new(connBuf) }}

func (c *econn) bufs() *connBuf {
	if c.b == nil {
		c.b = bufPool.Get().(*connBuf)
	}
	return c.b
}

// releaseBufs gives the buffers back once nothing is pending or left over.
func (c *econn) releaseBufs() {
	b := c.b
	if b == nil || len(b.out) > b.head || len(b.in) > 0 {
		return
	}
	freeOut(b)
	if cap(b.in) > 64<<10 {
		b.in = nil
	}
	b.in = b.in[:0]
	bufPool.Put(b)
	c.b = nil
}

// freeOut returns b's output buffer to its pool; nothing may be pending.
func freeOut(b *connBuf) {
	if b.out != nil && cap(b.out) <= 1<<20 {
		out := b.out[:0]
		outPool.Put(&out)
	}
	b.out, b.head, b.msgs = nil, 0, b.msgs[:0]
}

// setPeer records the peer's address: inline for TCP, in the (shared, for
// unnamed Unix peers) meta otherwise.
func (c *econn) setPeer(sa unix.Sockaddr) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		c.raddr = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 { // zones are rare: keep package net's form, in a meta of its own
			m := *c.m
			m.remote = sock.Addr(m.network, sa)
			c.m = &m
			return
		}
		c.raddr = netip.AddrPortFrom(ip, uint16(a.Port))
	case *unix.SockaddrUnix:
		if a.Name != "" {
			m := *c.m // a named Unix peer: this connection needs a meta of its own
			m.remote = &net.UnixAddr{Name: a.Name, Net: m.network}
			c.m = &m
		}
	}
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
	if !at.IsZero() && !c.closed {
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

func (c *econn) Pending() int {
	if c.b == nil {
		return 0
	}
	return len(c.b.out) - c.b.head
}

// outPool recycles output buffers, so an idle connection holds none.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

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
	if c.closed || c.finSent || c.aborted {
		return 0, ErrClosed
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil // an empty unixpacket message would read as EOF
	}
	pending := c.Pending()
	if bound && pending+len(p) > c.l.b.s.cfg.MaxPending {
		return 0, ErrOutputFull
	}
	written := 0
	if pending == 0 && len(p) > 0 {
		n, err := c.write(p)
		if err != nil {
			c.fail(err)
			return 0, c.err
		}
		written = n
	}
	if written < len(p) {
		b := c.bufs()
		if b.out == nil {
			b.out = (*outPool.Get().(*[]byte))[:0]
			b.head = 0
		}
		b.out = append(b.out, p[written:]...)
		if c.m.message {
			b.msgs = append(b.msgs, len(p)) // a seqpacket write is all or nothing
		}
	}
	return len(p), nil
}

// write makes one write(2); EAGAIN is not an error.
func (c *econn) write(p []byte) (int, error) {
	n, err := rawWrite(int(c.fd), p)
	if err == unix.EINTR {
		n, err = rawWrite(int(c.fd), p)
	}
	if err == unix.EAGAIN {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("write", err)
	}
	c.outBytes += int64(n)
	c.lastOut = c.l.now
	if n > 0 && c.m.drainer != nil {
		c.wantDrain = true // output moved: a Drainer is owed a call
	}
	s := c.l.b.s
	s.c.bytesOut.Add(uint64(n))
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepWrite, FD: int(c.fd), Net: c.m.network, N: n})
	}
	return n, nil
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

func (c *econn) CloseWrite() error { return c.request(reqFIN) }
func (c *econn) Close() error {
	if c.l.b.s.cfg.Linger < 0 {
		return c.request(reqAbort)
	}
	return c.request(reqClose)
}
func (c *econn) Abort() error { return c.request(reqAbort) }

// request hands r to the loop through its task queue. Writes are refused
// from now on.
func (c *econn) request(r uint8) error {
	if c.dead.Load() {
		return nil
	}
	c.shut.Store(true)
	c.l.post(task{kind: taskRequest, c: c, req: r})
	return nil
}

// handle reacts to epoll events for c.
func (c *econn) handle(ev uint32) {
	if c.connecting {
		c.completeConnect()
		return
	}
	if ev&unix.EPOLLERR != 0 {
		if e, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
			c.fail(os.NewSyscallError("read", unix.Errno(e)))
			c.settle()
			return
		}
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP) != 0 {
		if c.Pending() > 0 {
			c.flush()
		}
		if c.Pending() == 0 && c.m.drainer != nil {
			c.wantDrain = true // room again: settle calls OnDrain
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 && !c.peerFIN && !c.closed && c.err == nil {
		c.read()
	}
	if ev&unix.EPOLLHUP != 0 && c.err == nil && !c.closed && c.peerFIN && !c.finSent && !c.shut.Load() {
		// Input has ended and the peer is gone both ways (per epoll_ctl(2);
		// a Unix peer's close(2) reports it at once, with data still to
		// read, so this waits for our own EOF first). Nothing more can be
		// written: without this a level-triggered HUP would fire forever.
		c.fail(os.NewSyscallError("write", unix.EPIPE))
	}
	c.settle()
}

// read makes one read(2) into the loop's buffer and hands the bytes to the
// handler.
func (c *econn) read() {
	l := c.l
	n, err := c.readFD(l.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	s := l.b.s
	if err != nil {
		c.fail(os.NewSyscallError("read", err))
		return
	}
	if n == 0 {
		c.peerFIN = true
		if s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepRead, FD: int(c.fd), Net: c.m.network})
		}
		if !c.closing {
			c.m.h.OnPeerClose(c)
		}
		return
	}
	c.inBytes += int64(n)
	c.lastIn = l.now
	s.c.bytesIn.Add(uint64(n))
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepRead, FD: int(c.fd), Net: c.m.network, N: n})
	}
	if c.closing {
		return // Close: input is drained and dropped
	}
	data := l.buf[:n]
	if c.b != nil && len(c.b.in) > 0 {
		c.b.in = append(c.b.in, data...)
		data = c.b.in
	}
	c.offer(data)
}

// offer gives data to the handler and keeps what it leaves.
func (c *econn) offer(data []byte) {
	k := c.m.h.OnData(c, data)
	rest := data[min(max(k, 0), len(data)):]
	switch {
	case len(rest) == 0:
		if c.b != nil {
			c.b.in = c.b.in[:0]
			c.releaseBufs()
		}
	case len(rest) > c.l.b.s.cfg.MaxInput:
		c.fail(ErrInputTooLarge)
	default: // rest may alias b.in; append moves it like memmove
		b := c.bufs()
		b.in = append(b.in[:0], rest...)
	}
}

// flush writes pending output until the kernel stops taking it: in one
// write(2) per attempt on a byte stream, one per message on unixpacket.
func (c *econn) flush() {
	for c.Pending() > 0 {
		chunk := c.b.out[c.b.head:]
		if c.m.message {
			chunk = chunk[:c.b.msgs[0]]
		}
		n, err := c.write(chunk)
		if err != nil {
			c.fail(err)
			return
		}
		if n == 0 {
			return
		}
		c.b.head += n
		if c.m.message {
			c.b.msgs = c.b.msgs[1:]
		}
	}
	c.releaseOut()
}

// drain calls OnDrain while the handler keeps writing and output stays at
// or below the low watermark, a bounded number of times. It reports whether
// the handler still wants to be called when there is room: then the loop
// watches EPOLLOUT even with nothing pending.
func (c *econn) drain(low int) (more bool) {
	for i := 0; i < 64; i++ {
		if c.Pending() > low || c.shut.Load() || c.err != nil {
			return c.Pending() <= low && c.err == nil && !c.shut.Load()
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

func (c *econn) releaseOut() {
	if b := c.b; b != nil && c.Pending() == 0 {
		freeOut(b)
	}
	c.releaseBufs()
}

// fail records why the connection must end; settle ends it.
func (c *econn) fail(err error) {
	if c.err == nil {
		c.err = sockit.Wrap(opName(err), c.m.network, addrText(c.remoteAddr()), err)
	}
}

// settle applies requests and brings the descriptor's state in line: FIN
// once output is flushed, close once both directions are done, epoll
// interest from backpressure and pending output.
func (c *econn) settle() {
	if c.closed {
		return
	}
	cfg := &c.l.b.s.cfg
	if r := c.req; r != 0 {
		c.req = 0
		if r&reqAbort != 0 {
			c.aborted = true
		}
		if r&(reqFIN|reqClose) != 0 {
			c.wantFIN = true
		}
		if r&reqClose != 0 && !c.closing {
			c.closing = true
			c.until = c.l.now + int64(cfg.Linger)
		}
	}
	if c.aborted {
		c.finish(nil, true)
		return
	}
	if c.err != nil {
		c.finish(c.err, false)
		return
	}
	pending := c.Pending()
	if pending > 0 && c.events&unix.EPOLLOUT == 0 {
		c.flush() // output queued by a callback or a task: try now
		if c.err != nil {
			c.finish(c.err, false)
			return
		}
		pending = c.Pending()
	}
	if pending == 0 && c.wantFIN && !c.finSent {
		err := unix.Shutdown(int(c.fd), unix.SHUT_WR)
		c.finSent = true
		if s := c.l.b.s; s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepShutdown, FD: int(c.fd), Net: c.m.network, Detail: "SHUT_WR", Err: err})
		}
		if err != nil && err != unix.ENOTCONN {
			c.fail(os.NewSyscallError("shutdown", err))
			c.finish(c.err, false)
			return
		}
	}
	if c.finSent && c.peerFIN {
		c.finish(nil, false)
		return
	}
	moreDrain := false
	if c.m.drainer != nil && c.wantDrain && !c.wantFIN {
		moreDrain = c.drain(cfg.LowWatermark)
		if c.err != nil {
			c.finish(c.err, false)
			return
		}
		pending = c.Pending()
	}
	if pending > cfg.HighWatermark {
		c.paused = true
	} else if c.paused && pending <= cfg.LowWatermark {
		c.paused = false
	}
	want := uint32(0)
	if !c.peerFIN && (!c.paused || c.closing) {
		want |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if pending > 0 || moreDrain {
		want |= unix.EPOLLOUT
	}
	if want != c.events {
		c.events = want
		if err := c.l.p.mod(int(c.fd), want); err != nil {
			c.fail(err)
			c.finish(c.err, false)
			return
		}
	}
	c.armTimer()
}

// deadline is the earliest time something must happen to c, or 0.
func (c *econn) deadline() int64 {
	cfg := &c.l.b.s.cfg
	at := c.until
	if c.connecting {
		return c.until
	}
	earliest := func(t int64) {
		if t > 0 && (at == 0 || t < at) {
			at = t
		}
	}
	if cfg.IdleTimeout > 0 && !c.closing && !c.peerFIN {
		earliest(c.lastIn + int64(cfg.IdleTimeout))
	}
	if cfg.WriteTimeout > 0 && c.Pending() > 0 {
		earliest(max(c.lastOut, c.lastIn) + int64(cfg.WriteTimeout))
	}
	earliest(c.wake)
	return at
}

func (c *econn) armTimer() {
	if at := c.deadline(); at > 0 {
		c.l.timers.arm(at, c)
	}
}

func (c *econn) slot() *timerSlot { return &c.timer }

// fire acts on the deadline that passed, or re-arms for the next one.
func (c *econn) fire(now int64) int64 {
	if c.closed {
		return 0
	}
	c.l.now = now
	cfg := &c.l.b.s.cfg
	if c.connecting {
		if c.until > 0 && now >= c.until {
			c.failConnect(errors.Join(os.ErrDeadlineExceeded, os.NewSyscallError("connect", unix.ETIMEDOUT)))
			return 0
		}
		return c.until
	}
	switch {
	case c.until > 0 && now >= c.until:
		c.fail(os.NewSyscallError("close", unix.ETIMEDOUT))
		c.finish(c.err, true)
		return 0
	case cfg.WriteTimeout > 0 && c.Pending() > 0 && now >= max(c.lastOut, c.lastIn)+int64(cfg.WriteTimeout):
		c.fail(os.NewSyscallError("write", unix.ETIMEDOUT))
		c.finish(c.err, true)
		return 0
	case cfg.IdleTimeout > 0 && !c.closing && !c.peerFIN && now >= c.lastIn+int64(cfg.IdleTimeout):
		c.shut.Store(true)
		c.req |= reqClose
		c.idle = true
		c.settle()
	}
	if !c.closed && c.wake > 0 && now >= c.wake {
		c.wake = 0
		if c.m.timer != nil {
			c.m.timer.OnTimer(c)
		}
		c.settle()
	}
	if c.closed {
		return 0
	}
	return c.deadline()
}

// finish closes the descriptor and tells the handler. reset sends RST.
func (c *econn) finish(err error, reset bool) {
	if c.closed {
		return
	}
	l := c.l
	s := l.b.s
	c.closed = true
	c.dead.Store(true)
	l.timers.remove(c)
	l.p.del(int(c.fd))
	l.conns[int(c.fd)] = nil
	if reset && c.m.network[0] == 't' {
		sock.SetLingerZero(int(c.fd))
	}
	unix.Close(int(c.fd))
	if s.obs != nil {
		detail := ""
		if reset {
			detail = "abort: SO_LINGER 0, RST"
		}
		s.observe(sockit.Event{Step: sockit.StepClose, FD: int(c.fd), Net: c.m.network, Peer: c.remoteAddr(), Detail: detail})
	}
	if err == nil && c.idle {
		err = ErrIdle
	}
	c.b = nil
	// Count the connection gone before its handler hears of it, so that
	// Stats agree with what OnClose reports. Shutdown may now go on to stop
	// the loops, but this loop finishes the callback first.
	l.descriptorFreed()
	l.b.connGone()
	c.m.h.OnClose(c, err)
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepClosed, FD: int(c.fd), Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr(),
			In: c.inBytes, Out: c.outBytes, Dur: time.Duration(l.now - c.start), Err: err})
	}
}

// forceClose is Shutdown's last resort: a plain close(2); the kernel still
// sends what it holds.
func (c *econn) forceClose() {
	if c.connecting {
		c.failConnect(ErrShutdown)
		return
	}
	c.finish(ErrShutdown, false)
}

// startDial creates a socket and starts a non-blocking connect(2); the
// connection completes in handle when the socket becomes writable.
func (l *loop) startDial(d *dialReq) {
	s := l.b.s
	l.now = time.Now().UnixNano()
	c := &econn{l: l, fd: -1, start: l.now, lastIn: l.now, connecting: true}
	c.m = newMeta(d.network, d.h, nil, nil)
	c.setPeer(d.sa)
	fd, err := sock.Socket(d.network, d.address, d.family, d.sotype, s.obs)
	if err != nil {
		c.failConnect(err)
		return
	}
	c.fd = int32(fd)
	if err := s.opts.ApplyFD(fd, d.network, s.obs); err != nil {
		c.failConnect(err)
		return
	}
	if d.source.IsValid() {
		if err := sock.BindSource(fd, d.network, d.source); err != nil {
			c.failConnect(err)
			return
		}
		if s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepBind, FD: fd, Net: d.network, Detail: d.source.String() + ":0, port chosen at connect"})
		}
	}
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepConnect, FD: fd, Net: d.network, Peer: c.remoteAddr()})
	}
	err = unix.Connect(fd, d.sa)
	switch err {
	case nil: // Unix sockets connect at once
		c.events = unix.EPOLLIN | unix.EPOLLRDHUP
		if err := l.p.add(fd, c.events); err != nil {
			c.failConnect(err)
			return
		}
		l.setConn(fd, c)
		c.connected()
	case unix.EINPROGRESS, unix.EINTR:
		c.events = unix.EPOLLOUT
		if err := l.p.add(fd, c.events); err != nil {
			c.failConnect(err)
			return
		}
		l.setConn(fd, c)
		if d.timeout > 0 {
			c.until = l.now + int64(d.timeout)
			l.timers.arm(c.until, c)
		}
	default:
		c.failConnect(os.NewSyscallError("connect", err))
	}
}

// connected finishes a dial: the three-way handshake is done.
func (c *econn) connected() {
	s := c.l.b.s
	c.connecting = false
	c.until = 0
	if sa, err := unix.Getsockname(int(c.fd)); err == nil {
		c.m.local = sock.Addr(c.m.network, sa)
	}
	if err := s.opts.TuneFD(int(c.fd), c.m.network); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: int(c.fd), Net: c.m.network, Err: err})
	}
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepConnected, FD: int(c.fd), Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr()})
	}
	c.l.b.mu.Lock()
	closing := c.l.b.closing
	c.l.b.mu.Unlock()
	if closing { // connected as the server shuts down: the handler never sees it open
		c.connecting = true
		c.failConnect(ErrShutdown)
		return
	}
	c.wantDrain = c.m.drainer != nil
	c.m.h.OnOpen(c)
	c.settle()
}

// completeConnect reads the outcome of a non-blocking connect (per
// connect(2): SO_ERROR once the socket is writable).
func (c *econn) completeConnect() {
	e, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && e != 0 {
		err = unix.Errno(e)
	}
	if err != nil {
		c.failConnect(os.NewSyscallError("connect", err))
		return
	}
	c.events = unix.EPOLLIN | unix.EPOLLRDHUP
	if err := c.l.p.mod(int(c.fd), c.events); err != nil {
		c.failConnect(err)
		return
	}
	c.connected()
}

// failConnect ends a dial that did not connect: OnClose without OnOpen.
func (c *econn) failConnect(err error) {
	l := c.l
	c.closed = true
	c.dead.Store(true)
	l.timers.remove(c)
	if int(c.fd) >= 0 {
		if int(c.fd) < len(l.conns) && l.conns[int(c.fd)] == c {
			l.p.del(int(c.fd))
			l.conns[int(c.fd)] = nil
		}
		unix.Close(int(c.fd))
	}
	l.descriptorFreed()
	l.b.connGone() // before OnClose, as in finish
	c.m.h.OnClose(c, sockit.Wrap("connect", c.m.network, addrText(c.remoteAddr()), err))
}

// readFD reads once. On unixpacket it asks for the message's real length
// (MSG_TRUNC, per unix(7)) so that a message longer than the buffer fails
// the connection instead of losing its tail.
func (c *econn) readFD(buf []byte) (int, error) {
	if !c.m.message {
		return rawRead(int(c.fd), buf)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(int(c.fd)), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), unix.MSG_TRUNC, 0, 0)
	if e != 0 {
		return 0, e
	}
	if int(r) > len(buf) {
		return 0, unix.EMSGSIZE
	}
	return int(r), nil
}

// The loop's descriptors are non-blocking, so read(2) and write(2) on them
// never sleep. They are made as raw system calls, which the Go scheduler
// does not track: no bookkeeping on the way in and out, and the runtime's
// monitor never mistakes a long loopback write (which runs the receiver's
// TCP input too) for a blocked thread and hands the processor away.
func rawRead(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
