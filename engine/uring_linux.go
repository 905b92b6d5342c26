package engine

import (
	"errors"
	"runtime"
	"time"
	"unsafe"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// The uring backend is the epoll backend's loops, connections and policy
// with io_uring(7) in place of readiness and system calls: a loop submits
// its work as requests and waits for their completions, many at a time, in
// one io_uring_enter(2).
//
//   - A listener keeps a multishot accept in flight; each completion is a
//     new connection.
//   - A stream connection keeps a receive in flight, into the loop's
//     ring of provided buffers; the handler reads straight out of the
//     buffer, which goes back to the ring after OnData. On TCP it is a
//     multishot receive bounded in bytes where the kernel can (else one
//     receive at a time); on Unix streams always one at a time (see
//     uwatch). Pausing for backpressure cancels the receive; resuming
//     arms a new one. On unixpacket each receive is one message, into
//     larger buffers.
//   - Output is queued (outq) and sent by one send request at a time per
//     connection, from the queue's chunks, so that it never reorders; the
//     bytes stay pending until the send completes.
//   - What io_uring has no request for, or where a system call is as
//     cheap (shutdown, setsockopt, a connect's start), is a system call.
//     A connecting socket and a connection whose peer has sent FIN wait
//     for readiness with a poll request (the latter only to learn of a
//     reset), datagram sockets too.
//   - A descriptor that queued requests may name is closed by a close
//     request queued after them, never by close(2): until the queue is
//     submitted, its number must not be free for another socket.
//   - Requests carry their connection's slot, not its descriptor: a
//     connection that has closed keeps its slot until its last request
//     has completed, and with it the output buffers a send may still read.
//
// Each loop's goroutine is locked to its thread, which owns the ring
// (SINGLE_ISSUER, and DEFER_TASKRUN: completion work runs only when the
// loop enters the kernel, in its own time).

// uring is one loop's ring and what goes with it.
type uring struct {
	r      *sock.Ring
	w      *sock.Waker
	bufs   *sock.BufRing // stream receives
	big    *sock.BufRing // message receives (unixpacket), made when first needed
	pace   pacer
	free   []int32 // free connection slots
	others map[uint32]pollee
	nextID uint32
	// inflight counts requests whose last completion has not been seen,
	// so that a stopping loop can wait for them before the buffers they
	// name go away.
	inflight int
	tickSeen bool
	// limited: multishot receives take a byte limit (Linux 6.17), which
	// bounds what one takes before the loop sees it; without it each
	// receive is a single one.
	limited  bool
	stopping bool // the loop is ending: the wake-up read is not armed again
	// Loans (see lend): the receive buffer being handed to a handler
	// (cur, its id), whether a Write has borrowed it, and how many
	// buffers are out on loan, at most maxLoans.
	cur     []byte
	curBid  uint16
	curLent bool
	loans   int
	repayFn func(int32) // repay, made once
}

// maxLoans bounds the receive buffers lent to output queues, so that
// peers that do not read cannot take the whole ring: past it, an echo is
// copied as any other write.
const maxLoans = ringBufs / 4

// lend reports whether p, written on a connection with nothing pending,
// may be sent from where it is: the receive buffer the handler is reading,
// kept from the ring until the send is done. That spares the copy into
// the output queue and its 16 KiB chunk, as a C echo server sends from
// its receive buffer.
func (u *uring) lend(p []byte) (uint16, bool) {
	if u.cur == nil || u.curLent || u.loans >= maxLoans || len(p) == 0 {
		return 0, false
	}
	start := uintptr(unsafe.Pointer(&u.cur[0]))
	at := uintptr(unsafe.Pointer(&p[0]))
	if at < start || at+uintptr(len(p)) > start+uintptr(len(u.cur)) {
		return 0, false
	}
	u.curLent = true
	u.loans++
	return u.curBid, true
}

// repay takes a lent receive buffer back into the ring.
func (u *uring) repay(bid int32) {
	u.loans--
	u.bufs.Recycle(uint16(bid))
}

// Request kinds, the top byte of a request's user data; the low 32 bits
// are a connection's slot or a listener's or datagram socket's id.
const (
	udWake uint8 = iota + 1
	udTick
	udRecv
	udSend
	udPoll
	udAccept
	udPacket
	udCancel // a cancellation's own completion: nothing to do
	udClose  // a close request's completion: its error, if any
)

func userData(kind uint8, idx uint32) uint64 { return uint64(kind)<<56 | uint64(idx) }

// Receive buffers: streams share ringBufs buffers of ringBufSize per loop
// (a receive takes one whatever it reads); unixpacket messages get
// bigBufs of the read buffer's size, so that a message fits as with epoll.
const (
	ringEntries = 1024
	ringBufs    = 1024
	ringBufSize = 4 << 10
	bigBufs     = 16
	groupStream = 0
	groupBig    = 1
)

// econn's requests in flight (uops).
const (
	uRecv     uint8 = 1 << iota // a receive is armed
	uRecvStop                   // and its cancellation asked for
	uSend                       // a send is in flight
	uPoll                       // a poll is armed
	uPollStop                   // and its cancellation asked for
)

func newUringBackend(s *Server) (backend, error) { return newLoops(s, true) }

// newURing sets up a loop's ring, on the loop's locked thread.
func newURing() (*uring, error) {
	r, err := sock.NewRing(ringEntries)
	if err != nil {
		return nil, err
	}
	u := &uring{r: r, others: make(map[uint32]pollee)}
	u.repayFn = u.repay
	if u.w, err = sock.NewWaker(); err != nil {
		r.Close()
		return nil, err
	}
	if u.bufs, err = r.NewBufRing(groupStream, ringBufs, ringBufSize); err != nil {
		u.w.Close()
		r.Close()
		return nil, err
	}
	u.limited = r.ProbeRecvLimit(groupStream)
	return u, nil
}

// runRing is the loop of the uring backend: submit and wait, handle the
// completions, run the tasks and the timers.
func (l *loop) runRing(ready chan<- error) {
	defer l.b.wg.Done()
	runtime.LockOSThread() // the ring belongs to this thread (SINGLE_ISSUER)
	defer runtime.UnlockOSThread()
	u, err := newURing()
	if err != nil {
		ready <- err
		return
	}
	l.u = u
	ready <- nil
	defer u.stop(l)
	u.armWake()
	for {
		timeout := time.Duration(-1)
		if at := l.timers.next(); at > 0 {
			timeout = max(time.Duration(at-time.Now().UnixNano()), 0)
		}
		l.awake.Store(false)
		if l.hasTasks() {
			timeout = 0
		}
		if u.pace.busy && !u.pace.ticking {
			u.pace.ticking = true
			u.pace.tickAt = u.pace.waits
			u.r.Tick(quietTick, u.track(udTick, 0))
		}
		err := u.r.Enter(timeout != 0, timeout, u.pace.busy || timeout == 0)
		l.awake.Store(true)
		if err != nil {
			l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: u.r.FD(), Err: err})
			return
		}
		u.pace.woke()
		l.now = time.Now().UnixNano()
		n := l.reap()
		if u.tickSeen {
			u.tickSeen = false
			u.pace.ticking = false
			u.pace.ticked(n == 1)
		}
		if l.runTasks() {
			return
		}
		if len(l.timers) > 0 {
			l.timers.runDue(time.Now().UnixNano())
		}
	}
}

// track counts a request of kind for idx in flight and returns its user
// data.
func (u *uring) track(kind uint8, idx uint32) uint64 {
	u.inflight++
	return userData(kind, idx)
}

func (u *uring) armWake() {
	u.inflight++
	u.w.Arm(u.r, userData(udWake, 0))
}

// cancel asks for the end of the request of kind for idx.
func (u *uring) cancel(kind uint8, idx uint32) {
	u.inflight++
	u.r.Cancel(userData(kind, idx), userData(udCancel, 0))
}

// closeFD closes fd once what is queued has been submitted.
func (u *uring) closeFD(fd int) {
	u.inflight++
	u.r.CloseFD(fd, userData(udClose, uint32(fd)))
}

// bigBufs makes the message buffers on first use.
func (u *uring) bigRing(size int) (*sock.BufRing, error) {
	if u.big == nil {
		b, err := u.r.NewBufRing(groupBig, bigBufs, size)
		if err != nil {
			return nil, err
		}
		u.big = b
	}
	return u.big, nil
}

// reap handles the completions there are and returns how many: at most
// a queue's worth, so that a loop whose handling keeps producing
// completions (a full submission queue is submitted from within the
// batch) still gets back to its tasks and timers.
func (l *loop) reap() int {
	u := l.u
	n := 0
	for n < u.r.CQSize() {
		cqe, ok := u.r.Next()
		if !ok {
			break
		}
		n++
		if !cqe.More() {
			u.inflight--
		}
		l.complete(&cqe)
	}
	u.r.Seen()
	return n
}

// complete hands one completion to what it belongs to.
func (l *loop) complete(cqe *sock.CQE) {
	u := l.u
	kind, idx := uint8(cqe.UserData>>56), uint32(cqe.UserData)
	switch kind {
	case udWake:
		if !u.stopping {
			u.armWake() // the tasks are run after the completions
		}
	case udTick:
		u.tickSeen = true
	case udRecv, udSend, udPoll:
		c := l.conns[idx]
		switch kind {
		case udRecv:
			c.received(cqe)
		case udSend:
			c.sent(cqe)
		default:
			c.polled(cqe)
		}
		c.release()
	case udAccept:
		p, ok := u.others[idx]
		if !ok || p.ln == nil {
			if cqe.Res >= 0 { // accepted as its listener closed
				l.b.closeFD(int(cqe.Res), "")
			}
			return
		}
		p.ln.accepted(l, cqe)
	case udPacket:
		if p, ok := u.others[idx]; ok && p.pk != nil {
			p.pk.polled(l, cqe)
		}
	case udClose:
		if err := cqe.Err(); err != 0 {
			l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: int(idx), Err: sockit.Wrap("close", "", "", err)})
		}
	}
}

// stop ends the loop's ring: what is still in flight is cancelled and
// waited for (a little), so that no request outlives the buffers it
// names; then the buffers are unmapped, unless something never
// completed.
func (u *uring) stop(l *loop) {
	u.stopping = true
	u.cancel(udWake, 0)
	if u.pace.ticking {
		u.cancel(udTick, 0)
	}
	deadline := time.Now().Add(2 * time.Second)
	for u.inflight > 0 && time.Now().Before(deadline) {
		if err := u.r.Enter(true, 10*time.Millisecond, false); err != nil {
			break
		}
		l.reap()
	}
	quiet := u.inflight == 0
	if err := u.r.Close(); err != nil {
		l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Err: err})
	}
	if err := u.w.Close(); err != nil {
		l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Err: err})
	}
	if quiet {
		u.bufs.Free()
		if u.big != nil {
			u.big.Free()
		}
	}
}

// attach gives c a slot: its requests name the slot.
func (l *loop) attach(c *econn) {
	u := l.u
	if n := len(u.free); n > 0 {
		c.idx = u.free[n-1]
		u.free = u.free[:n-1]
	} else {
		c.idx = int32(len(l.conns))
		l.conns = append(l.conns, nil)
	}
	l.conns[c.idx] = c
}

// release frees a closed connection's slot once its last request has
// completed, and the output buffers a send was reading.
func (c *econn) release() {
	if c.st != stClosed || c.uops&(uRecv|uSend|uPoll) != 0 || c.idx < 0 {
		return
	}
	if b := c.b; b != nil {
		b.out.drop()
		bufPool.Put(b)
		c.b = nil
	}
	l := c.l
	l.conns[c.idx] = nil
	l.u.free = append(l.u.free, c.idx)
	c.idx = -1
}

// received handles a receive's completion: data in a provided buffer, the
// peer's EOF, or the receive's end.
func (c *econn) received(cqe *sock.CQE) {
	if !cqe.More() {
		c.uops &^= uRecv | uRecvStop
	}
	bid, hasBuf := cqe.Buffer()
	ring := c.l.u.bufs
	if c.m.message {
		ring = c.l.u.big
	}
	if c.st.reads() {
		n, err := sock.Completed(sock.CallIO, "read", cqe.Res)
		var data []byte
		switch {
		case err == sock.ErrWouldBlock || err == sock.ErrCanceled || err == sock.ErrNoBuffers:
			// nothing read: settle arms a new receive if one is wanted
		case err == nil && hasBuf && n > ring.Size():
			c.fail(sock.MessageTooLong()) // a message longer than the buffer
		case err == nil && hasBuf:
			data = ring.Buf(bid, n)
			u := c.l.u
			if !c.m.message {
				u.cur, u.curBid, u.curLent = data, bid, false
			}
			c.got(data, nil)
			if u.curLent {
				hasBuf = false // lent to the output queue, which gives it back
			}
			u.cur, u.curLent = nil, false
		default:
			c.got(nil, err) // n == 0: the peer's FIN
		}
	}
	if hasBuf {
		ring.Recycle(bid)
	}
	c.settle()
}

// sent handles a send's completion.
func (c *econn) sent(cqe *sock.CQE) {
	c.uops &^= uSend
	if c.st == stClosed {
		return // release drops the output
	}
	n, err := sock.Completed(sock.CallIO, "write", cqe.Res)
	switch {
	case err == nil:
		var p []byte // what the observer shows of the bytes sent
		if c.l.b.s.obs != nil {
			p = c.b.out.vectors(c.m.message)[0]
		}
		c.wrote(n, p)
		c.b.out.advance(n, c.m.message)
		if c.Pending() == 0 {
			c.releaseBufs()
			if c.m.drainer != nil {
				c.wantDrain = true // room again
			}
		}
	case err == sock.ErrWouldBlock || err == sock.ErrCanceled || err == sock.ErrNoBuffers:
		// not sent: settle sends again
	default:
		// Narrated as epoll's failed write is: a reset the send meets first
		// takes the socket's error, and the receive then sees none.
		c.failedCall(sockit.StepWrite, "", err)
		c.fail(err)
	}
	c.settle()
}

// polled handles a poll's completion: a dial's connect has finished, or
// a connection whose peer has sent FIN has an error or hung up.
func (c *econn) polled(cqe *sock.CQE) {
	if !cqe.More() {
		c.uops &^= uPoll | uPollStop
	}
	if c.st == stClosed || cqe.Res < 0 {
		if c.st != stClosed && c.st != stConnecting {
			c.settle() // cancelled, or failed: settle arms what is wanted
		}
		return
	}
	if c.st == stConnecting {
		c.completeConnect()
		return
	}
	c.hangup(sock.Readiness(cqe.Res))
	c.settle()
}

// usend sends what is pending, unless a send is in flight.
func (c *econn) usend() {
	if c.uops&uSend != 0 || c.Pending() == 0 {
		return
	}
	u := c.l.u
	v := c.b.out.vectors(c.m.message)
	c.uops |= uSend
	if len(v) == 1 {
		u.r.Send(int(c.fd), v[0], u.track(udSend, uint32(c.idx)))
		return
	}
	if c.b.vec == nil {
		c.b.vec = new(sock.SendVec)
	}
	u.r.SendVectors(int(c.fd), c.b.vec, v, u.track(udSend, uint32(c.idx)))
}

// uwatch arms and cancels c's requests to match what it wants: a receive
// while it reads, a poll for errors once the peer has sent FIN.
func (c *econn) uwatch(read bool) {
	u := c.l.u
	slot := uint32(c.idx)
	switch {
	case read && c.uops&uRecv == 0:
		c.uops |= uRecv
		if c.m.message {
			ring, err := u.bigRing(c.l.b.s.cfg.ReadBuffer)
			if err != nil {
				c.uops &^= uRecv
				c.fail(err)
				return
			}
			u.r.RecvMessage(int(c.fd), ring.Group(), u.track(udRecv, slot))
		} else if u.limited && c.m.network != "unix" {
			// A multishot receive of what one read would take
			// (Config.ReadBuffer, 4 KiB while the budget is over), never
			// past the high watermark. Not on a Unix stream: there a
			// multishot receive can miss the peer's EOF that comes right
			// after the last data (liburing issue 1549; about once in 40
			// runs of the 64 MiB conformance case on Linux 6.18), and
			// the connection would never learn of the FIN.
			cfg := &c.l.b.s.cfg
			limit := min(c.l.b.s.budget.readSize(cfg.ReadBuffer), max(cfg.HighWatermark-c.Pending(), 1))
			u.r.RecvMultishot(int(c.fd), groupStream, uint32(limit), u.track(udRecv, slot))
		} else {
			u.r.Recv(int(c.fd), groupStream, u.track(udRecv, slot))
		}
	case !read && c.uops&(uRecv|uRecvStop) == uRecv:
		c.uops |= uRecvStop
		u.cancel(udRecv, slot)
	}
	if !c.st.reads() && c.st.live() && c.uops&uPoll == 0 {
		// Nothing more to read: watch for a reset, or the peer gone
		// both ways (poll reports the peer's FIN at once, then wakes
		// only for a change).
		c.uops |= uPoll
		u.r.PollAdd(int(c.fd), 0, true, u.track(udPoll, slot))
	}
}

// ucancel cancels what c has in flight, as it closes.
func (c *econn) ucancel() {
	u := c.l.u
	slot := uint32(c.idx)
	if c.uops&(uRecv|uRecvStop) == uRecv {
		c.uops |= uRecvStop
		u.cancel(udRecv, slot)
	}
	if c.uops&(uPoll|uPollStop) == uPoll {
		c.uops |= uPollStop
		u.cancel(udPoll, slot)
	}
	if c.uops&uSend != 0 {
		u.cancel(udSend, slot)
	}
}

// armAccept keeps a multishot accept in flight on ln.
func (ln *elistener) armAccept() {
	u := ln.l.u
	if ln.armed || ln.paused || ln.fd < 0 {
		return
	}
	ln.armed = true
	u.r.AcceptMultishot(ln.fd, u.track(udAccept, ln.id))
}

// accepted handles an accept's completion: a new connection, or an error.
func (ln *elistener) accepted(l *loop, cqe *sock.CQE) {
	if !cqe.More() {
		ln.armed = false
	}
	fd, err := sock.Completed(sock.CallAccept, "accept", cqe.Res)
	switch err {
	case nil:
		ap, other := sock.PeerOf(fd, ln.network)
		ln.take(l, fd, ap, other)
	case sock.ErrWouldBlock, sock.ErrSkip, sock.ErrCanceled:
	default:
		ln.pause(l, err)
	}
	ln.armAccept()
}

// register starts watching a listener or datagram socket of a uring loop.
func (l *loop) register(p pollee) {
	u := l.u
	u.nextID++
	id := u.nextID
	u.others[id] = p
	switch {
	case p.ln != nil:
		p.ln.id = id
		p.ln.armAccept()
	case p.pk != nil:
		p.pk.id = id
		p.pk.armPoll()
	}
}

// unregister stops watching a listener or datagram socket and closes it.
func (l *loop) unregister(id uint32, armed bool, kind uint8, fd int) {
	u := l.u
	delete(u.others, id)
	if armed {
		u.cancel(kind, id)
	}
	u.closeFD(fd)
}

// armPoll waits for a datagram to read.
func (p *epacket) armPoll() {
	u := p.l.u
	if p.armed {
		return
	}
	p.armed = true
	u.r.PollAdd(p.fd, sock.Readable, false, u.track(udPacket, p.id))
}

// polled reads the datagrams that are there, and waits again.
func (p *epacket) polled(l *loop, cqe *sock.CQE) {
	p.armed = false
	if cqe.Res < 0 {
		if errors.Is(cqe.Err(), sock.ErrCanceled) {
			return
		}
		l.b.s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Err: sockit.Wrap("poll", p.network, "", cqe.Err())})
	} else {
		p.receive(l)
	}
	if p.open() {
		p.armPoll()
	}
}
