package engine

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
)

// epollBackend runs N event loops, one goroutine each (N = GOMAXPROCS).
// Each listener and datagram socket belongs to one loop; that loop accepts
// and hands new connections to the loops in turn through their task queues.
// All of a connection's state is touched only by its loop.
type epollBackend struct {
	s     *Server
	loops []*loop
	next  atomic.Uint32 // round-robin cursor for new connections
	wg    sync.WaitGroup
	// paused counts the listeners, on any loop, not accepting for lack of
	// descriptors (EMFILE): a descriptor freed on one loop resumes them all.
	paused atomic.Int32
}

func newEpollBackend(s *Server) (backend, error) { return newLoops(s, false) }

// newLoops starts the loops of the epoll backend, or with uring of the
// uring backend (see uring_linux.go), which shares everything else.
func newLoops(s *Server, uring bool) (backend, error) {
	n := s.cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	b := &epollBackend{s: s}
	for i := 0; i < n; i++ {
		l := &loop{b: b}
		b.wg.Add(1)
		if uring {
			ready := make(chan error, 1)
			go l.runRing(ready)
			if err := <-ready; err != nil {
				b.stop()
				return nil, err
			}
		} else {
			p, err := newPoller()
			if err != nil {
				b.wg.Done()
				b.stop()
				return nil, err
			}
			l.p, l.buf = p, make([]byte, s.cfg.ReadBuffer)
			go l.run()
		}
		b.loops = append(b.loops, l)
	}
	return b, nil
}

func (b *epollBackend) pick() *loop {
	return b.loops[int(b.next.Add(1)-1)%len(b.loops)]
}

func (b *epollBackend) listen(ep endpoint.Endpoint, h Handler) (net.Addr, error) {
	if b.s.cfg.Accept == AcceptReusePort && !ep.IsUnix() && len(b.loops) > 1 {
		return b.listenPerLoop(ep, h)
	}
	fd, addr, err := b.s.opts.ListenFD(ep.Network(), ep.Addr, b.s.obs)
	if err != nil {
		return nil, sockit.Wrap("listen", ep.Network(), ep.Addr, err)
	}
	ln := &elistener{fd: fd, network: ep.Network(), addr: addr, meta: listenMeta(&b.s.cfg, ep.Network(), h, addr)}
	if err := b.attach(b.pick(), task{kind: taskAddListener, ln: ln}); err != nil {
		b.closeFD(fd, ep.Network())
		return nil, err
	}
	return addr, nil
}

// listenPerLoop gives every loop a listening socket of its own on the same
// address (SO_REUSEPORT); each keeps the connections it accepts.
func (b *epollBackend) listenPerLoop(ep endpoint.Endpoint, h Handler) (net.Addr, error) {
	opts := b.s.opts
	opts.ReusePort = true
	var first net.Addr
	var made []*elistener
	address := ep.Addr
	for _, l := range b.loops {
		fd, addr, err := opts.ListenFD(ep.Network(), address, b.s.obs)
		if err == nil {
			ln := &elistener{fd: fd, network: ep.Network(), addr: addr, own: true, meta: listenMeta(&b.s.cfg, ep.Network(), h, addr)}
			if err = b.attach(l, task{kind: taskAddListener, ln: ln}); err != nil {
				b.closeFD(fd, ep.Network())
			} else {
				made = append(made, ln)
			}
		}
		if err != nil {
			for _, ln := range made { // undo the loops already listening
				done := make(chan error, 1)
				ln.l.post(task{kind: taskCloseListener, ln: ln, done: done})
				<-done
			}
			return nil, sockit.Wrap("listen", ep.Network(), ep.Addr, err)
		}
		if first == nil {
			first, address = addr, addr.String() // port 0: the others take the same port
		}
	}
	return first, nil
}

func (b *epollBackend) listenPacket(ep endpoint.Endpoint, h PacketHandler) (net.Addr, error) {
	fd, addr, err := b.s.opts.ListenFD(ep.Network(), ep.Addr, b.s.obs)
	if err != nil {
		return nil, sockit.Wrap("listen", ep.Network(), ep.Addr, err)
	}
	pk := &epacket{fd: fd, network: ep.Network(), addr: addr, h: h}
	if err := b.attach(b.pick(), task{kind: taskAddPacket, pk: pk}); err != nil {
		b.closeFD(fd, ep.Network())
		return nil, err
	}
	return addr, nil
}

// attach gives a listener or datagram socket to a loop and waits until the
// loop has registered it. Its task is queued before Shutdown begins or not
// at all, so it runs ahead of Shutdown's tasks (the socket is then closed
// with the others) and never after the loop has stopped.
func (b *epollBackend) attach(l *loop, t task) error {
	t.done = make(chan error, 1)
	if !b.s.life.unlessClosing(func() { l.post(t) }) {
		return ErrServerClosed
	}
	return <-t.done
}

// closeFD closes a descriptor the backend owns and reports a failure once,
// through the observer: per close(2) the descriptor is gone either way.
func (b *epollBackend) closeFD(fd int, network string) {
	if err := sock.Close(fd); err != nil {
		b.s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: network, Err: err})
	}
}

func (b *epollBackend) stopAccepting() { b.broadcast(taskCloseListeners) }

func (b *epollBackend) goaway() { b.broadcast(taskGoaway) }

func (b *epollBackend) forceClose() int {
	var closed atomic.Int64
	b.broadcastWith(taskForceClose, &closed)
	return int(closed.Load())
}

// relax asks every loop to look again at the connections paused for the
// budget. It may be called on a loop, so it does not wait.
func (b *epollBackend) relax() {
	for _, l := range b.loops {
		l.post(task{kind: taskRelax})
	}
}

// stop ends the loops and waits for them.
func (b *epollBackend) stop() {
	for _, l := range b.loops {
		l.post(task{kind: taskStop})
	}
	b.wg.Wait()
}

// broadcast runs a task on every loop and waits for all of them.
func (b *epollBackend) broadcast(kind taskKind) { b.broadcastWith(kind, nil) }

func (b *epollBackend) broadcastWith(kind taskKind, count *atomic.Int64) {
	var dones []chan error
	for _, l := range b.loops {
		d := make(chan error, 1)
		dones = append(dones, d)
		l.post(task{kind: kind, done: d, count: count})
	}
	for _, d := range dones {
		<-d
	}
}

func (b *epollBackend) dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error {
	target, err := sock.Resolve(ep.Network(), ep.Addr)
	if err != nil {
		return sockit.Wrap("connect", ep.Network(), ep.Addr, err)
	}
	b.pick().post(task{kind: taskDial, dial: &dialReq{
		network: ep.Network(), address: ep.Addr, target: target, h: h, timeout: opts.Timeout, source: opts.Source,
	}})
	return nil
}

type taskKind uint8

const (
	taskAddConn taskKind = iota + 1
	taskAddListener
	taskAddPacket
	taskWrite
	taskRequest
	taskCloseListeners
	taskForceClose
	taskStop
	taskDial
	taskPacketRetry
	taskCloseListener
	taskResumeListeners
	taskWake
	taskRelax
	taskGoaway
	taskDrain
)

// task is work handed to a loop by another goroutine.
type task struct {
	kind  taskKind
	ev    event // taskRequest: CloseWrite, Close or Abort
	c     *econn
	ln    *elistener
	pk    *epacket
	fd    int
	raddr netip.AddrPort // taskAddConn: an IP peer
	other net.Addr       // taskAddConn: a peer raddr cannot hold, or nil
	data  []byte
	dial  *dialReq
	done  chan error
	count *atomic.Int64 // taskForceClose: the connections it closed
}

// dialReq is a connection for a loop to start.
type dialReq struct {
	network, address string
	target           sock.Target
	h                Handler
	timeout          time.Duration
	source           netip.Addr // the local address to connect from, if valid
}

// loop is one event loop: an epoll instance, the descriptors registered in
// it, a shared read buffer, a timer heap and a task queue; or, on the
// uring backend, a ring in place of the first three.
type loop struct {
	b   *epollBackend
	p   *poller // epoll
	u   *uring  // uring
	buf []byte
	now int64

	conns     []*econn       // by descriptor number (uring: by slot): the hot lookup, 8 bytes a slot
	others    map[int]pollee // listeners and datagram sockets, by descriptor
	listeners []*elistener
	packets   []*epacket
	timers    timerHeap
	acc       sock.AcceptBuf // accept4's peer address, reused
	vec       sock.Vectors   // writev's iovecs, reused
	oob       []byte         // recvmsg's control buffer (Config.Rights), made at first use
	rights    []int          // descriptors the last recvmsg received

	awake atomic.Bool // the loop is running, not blocked in epoll_wait
	mu    sync.Mutex
	tasks []task
	spare []task
}

// pollee is a registered listener or datagram socket: one field is set.
type pollee struct {
	ln *elistener
	pk *epacket
}

// post queues t for the loop. A loop that is awake checks its queue before
// it sleeps again, so only a sleeping loop needs the eventfd write.
func (l *loop) post(t task) {
	l.mu.Lock()
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	if !l.awake.Load() {
		if l.u != nil {
			l.u.w.Wake()
		} else {
			l.p.ep.Wake()
		}
	}
}

// closeConnFD closes a connection's descriptor; on a uring loop, after
// the requests queued for it.
func (l *loop) closeConnFD(fd int) error {
	if l.u != nil {
		l.u.closeFD(fd)
		return nil
	}
	return sock.Close(fd)
}

// hasTasks reports whether tasks are queued.
func (l *loop) hasTasks() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tasks) > 0
}

// setConn records c as the owner of fd (nil to forget it).
func (l *loop) setConn(fd int, c *econn) {
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*econn, max(64, len(l.conns)))...)
	}
	l.conns[fd] = c
}

func (l *loop) setOther(fd int, p pollee) {
	if l.others == nil {
		l.others = make(map[int]pollee)
	}
	if p == (pollee{}) {
		delete(l.others, fd)
		return
	}
	l.others[fd] = p
}

// unwatch takes fd out of the epoll set before it is closed, reporting a
// failure (the close that follows removes it all the same).
func (l *loop) unwatch(fd int, network string) {
	if err := l.p.ep.Del(fd); err != nil {
		l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: network, Err: err})
	}
}

func (l *loop) run() {
	defer l.b.wg.Done()
	defer func() {
		if err := l.p.ep.Close(); err != nil {
			l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: -1, Err: err})
		}
	}()
	for {
		timeout := time.Duration(-1)
		if at := l.timers.next(); at > 0 {
			timeout = max(time.Duration(at-time.Now().UnixNano()), 0)
		}
		// Announce sleep, then look at the queue once more: a task posted
		// after this check sees awake == false and writes the eventfd.
		l.awake.Store(false)
		if l.hasTasks() {
			timeout = 0
		}
		n, err := l.p.wait(timeout)
		l.awake.Store(true)
		if err != nil {
			// EBADF or EINVAL would mean a bug; do not spin on it.
			l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: l.p.ep.FD(), Err: err})
			return
		}
		l.now = time.Now().UnixNano()
		if l.b.s.cfg.ObserveWaits {
			l.reportWait(n)
		}
		for i := 0; i < n; i++ {
			fd, ev := l.p.ep.Event(i)
			if l.p.ep.IsWake(fd) {
				l.p.ep.ConsumeWake()
				continue // tasks are run below, after the events
			}
			if l.p.ep.IsTick(fd) {
				l.p.tick(n)
				continue
			}
			if fd < len(l.conns) && l.conns[fd] != nil {
				l.conns[fd].handle(ev)
				continue
			}
			switch p := l.others[fd]; {
			case p.ln != nil:
				p.ln.accept(l)
			case p.pk != nil:
				p.pk.receive(l)
			}
		}
		if l.runTasks() {
			return
		}
		if len(l.timers) > 0 {
			l.timers.runDue(time.Now().UnixNano())
		}
	}
}

// reportWait tells the observer which sockets the last wait returned
// (Config.ObserveWaits); a wait with none (a wake-up, a tick) is not told.
func (l *loop) reportWait(n int) {
	var b strings.Builder
	ready := 0
	for i := 0; i < n; i++ {
		fd, ev := l.p.ep.Event(i)
		if l.p.ep.IsWake(fd) || l.p.ep.IsTick(fd) {
			continue
		}
		if ready > 0 {
			b.WriteString(", ")
		}
		ready++
		b.WriteString("fd " + strconv.Itoa(fd) + " " + sock.ReadinessString(ev))
	}
	if ready > 0 {
		l.b.s.observe(sockit.Event{Step: sockit.StepPoll, FD: l.p.ep.FD(), N: ready, Detail: b.String()})
	}
}

// runTasks runs queued tasks; it reports whether the loop must stop.
func (l *loop) runTasks() (stop bool) {
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	l.mu.Unlock()
	for i := range tasks {
		t := &tasks[i]
		switch t.kind {
		case taskAddConn:
			l.addConn(t.fd, t.raddr, t.other, t.ln)
		case taskAddListener:
			t.done <- l.addListener(t.ln)
		case taskAddPacket:
			t.done <- l.addPacket(t.pk)
		case taskWrite:
			t.c.async.Add(-int64(len(t.data)))
			if t.c.st != stClosed {
				if _, err := t.c.enqueue(t.data, false); err != nil && !errors.Is(err, ErrClosed) {
					t.c.fail(err)
				}
				t.c.settle()
			}
		case taskWake:
			if t.c.st != stClosed && t.c.m.timer != nil {
				t.c.m.timer.OnTimer(t.c)
				t.c.settle()
			}
		case taskRequest:
			if t.c.st != stClosed {
				t.c.apply(t.ev)
				t.c.settle()
			}
		case taskCloseListeners:
			l.closeListeners()
			t.done <- nil
		case taskForceClose:
			for _, c := range l.conns {
				if c != nil && c.st != stClosed {
					c.forceClose()
					t.count.Add(1)
				}
			}
			t.done <- nil
		case taskDial:
			l.startDial(t.dial)
		case taskCloseListener:
			t.ln.close()
			for i, ln := range l.listeners {
				if ln == t.ln {
					l.listeners = append(l.listeners[:i], l.listeners[i+1:]...)
					break
				}
			}
			t.done <- nil
		case taskPacketRetry:
			if t.pk.open() {
				l.timers.arm(time.Now().UnixNano()+int64(sendRetry), t.pk)
			}
		case taskResumeListeners:
			l.resumeListeners()
		case taskGoaway:
			for _, c := range l.conns {
				if c != nil && c.st.live() && c.st != stConnecting && c.m.goaway != nil {
					c.m.goaway.OnShutdown(c)
					c.settle()
				}
			}
			t.done <- nil
		case taskDrain:
			if t.c.st != stClosed && t.c.m.drainer != nil {
				t.c.wantDrain = true
				t.c.settle()
			}
		case taskRelax:
			for _, c := range l.conns {
				if c != nil && c.stops&stopPressure != 0 {
					c.settle()
				}
			}
		case taskStop:
			stop = true
		}
		*t = task{}
	}
	l.spare = tasks[:0]
	return stop
}

// addListener registers a listener; with Config.AcceptDelay it stays
// silent and its timer accepts.
func (l *loop) addListener(ln *elistener) error {
	ln.l = l
	if l.u != nil { // AcceptDelay is refused on uring (LabSupportOf)
		if err := sock.SetBlocking(ln.fd); err != nil { // io_uring does the waiting
			return err
		}
		l.register(pollee{ln: ln})
		l.listeners = append(l.listeners, ln)
		return nil
	}
	interest := sock.Readable
	if d := l.b.s.cfg.AcceptDelay; d > 0 {
		interest = 0
		l.timers.arm(time.Now().UnixNano()+int64(d), ln)
	}
	if err := l.p.ep.Add(ln.fd, interest); err != nil {
		return err
	}
	l.setOther(ln.fd, pollee{ln: ln})
	l.listeners = append(l.listeners, ln)
	return nil
}

// addPacket registers a datagram socket.
func (l *loop) addPacket(pk *epacket) error {
	pk.l = l
	if l.u != nil {
		l.register(pollee{pk: pk})
		l.packets = append(l.packets, pk)
		return nil
	}
	if err := l.p.ep.Add(pk.fd, sock.Readable); err != nil {
		return err
	}
	l.setOther(pk.fd, pollee{pk: pk})
	l.packets = append(l.packets, pk)
	return nil
}

// closeListeners closes the loop's listeners and datagram sockets.
func (l *loop) closeListeners() {
	for _, ln := range l.listeners {
		ln.close()
	}
	for _, pk := range l.packets {
		pk.close()
	}
	l.listeners, l.packets = nil, nil
}

// setInline sets SO_OOBINLINE (UrgentInline) on a new connection and
// tells the observer.
func (l *loop) setInline(fd int, network string) {
	err := setInline(fd, network)
	if s := l.b.s; s.obs != nil || err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: network, Detail: "SO_OOBINLINE=1", Err: err})
	}
}

// listenMeta is the meta of a listener's connections: an accepted Unix
// peer is unnamed, as package net reports it.
func listenMeta(cfg *Config, network string, h Handler, local net.Addr) *connMeta {
	var remote net.Addr
	if strings.HasPrefix(network, "unix") {
		remote = &net.UnixAddr{Net: network}
	}
	return newMeta(cfg, network, h, local, remote)
}

// elistener is a listening socket owned by one loop.
type elistener struct {
	l       *loop
	fd      int
	network string
	addr    net.Addr
	meta    *connMeta // shared by the connections it accepts
	own     bool      // AcceptReusePort: keep accepted connections on this loop

	timer   timerSlot // armed while accepting is paused after EMFILE
	paused  bool
	backoff acceptBackoff
	id      uint32 // uring: what its requests name
	armed   bool   // uring: a multishot accept is in flight
}

func (ln *elistener) slot() *timerSlot { return &ln.timer }

// fire resumes accepting after a pause for lack of descriptors; with
// Config.AcceptDelay it accepts one connection and waits again.
func (ln *elistener) fire(now int64) int64 {
	if d := ln.l.b.s.cfg.AcceptDelay; d > 0 {
		if ln.fd < 0 {
			return 0
		}
		if ln.paused { // after EMFILE: the backoff has passed
			ln.paused = false
			ln.l.b.paused.Add(-1)
		}
		ln.l.now = now
		ln.acceptN(ln.l, 1)
		if ln.paused {
			return 0 // EMFILE again: its backoff timer is armed
		}
		return now + int64(d)
	}
	if ln.paused && ln.fd >= 0 {
		ln.paused = false
		ln.l.b.paused.Add(-1)
		if ln.l.u != nil {
			ln.armAccept()
			return 0
		}
		if err := ln.l.p.ep.Mod(ln.fd, sock.Readable); err != nil {
			ln.l.b.s.observe(sockit.Event{Step: sockit.StepAccept, FD: ln.fd, Net: ln.network, Local: ln.addr, Err: err})
		}
	}
	return 0
}

// accept takes up to a batch of pending connections and deals them out.
func (ln *elistener) accept(l *loop) { ln.acceptN(l, 128) }

// acceptN takes up to max pending connections.
func (ln *elistener) acceptN(l *loop, max int) {
	s := l.b.s
	for i := 0; i < max; i++ {
		fd, ap, other, err := l.acc.Accept(ln.fd, ln.network)
		switch err {
		case nil:
		case sock.ErrWouldBlock:
			ln.backoff.ok()
			return
		case sock.ErrSkip:
			continue
		default:
			ln.pause(l, err)
			if err := l.p.ep.Mod(ln.fd, 0); err != nil {
				s.observe(sockit.Event{Step: sockit.StepAccept, FD: ln.fd, Net: ln.network, Local: ln.addr, Err: err})
			}
			return
		}
		ln.take(l, fd, ap, other)
	}
}

// take deals a connection accepted on ln to a loop.
func (ln *elistener) take(l *loop, fd int, ap netip.AddrPort, other net.Addr) {
	s := l.b.s
	ln.backoff.ok()
	if !s.life.admit() { // accepted as Shutdown began: closed unseen
		l.b.closeFD(fd, ln.network)
		return
	}
	s.c.accepted.Add(1)
	if t := l.b.pick(); t != l && !ln.own {
		t.post(task{kind: taskAddConn, fd: fd, raddr: ap, other: other, ln: ln})
	} else {
		l.addConn(fd, ap, other, ln)
	}
}

// pause stops accepting for a while after accept failed for want of
// resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the connection waits in
// the backlog. The caller stops watching the listener.
func (ln *elistener) pause(l *loop, err error) {
	s := l.b.s
	s.c.acceptErrs.Add(1)
	wait, report := ln.backoff.failed(l.now)
	if report {
		s.observe(sockit.Event{Step: sockit.StepAccept, FD: ln.fd, Net: ln.network, Local: ln.addr,
			Err: sockit.Wrap("accept", ln.network, ln.addr.String(), err)})
	}
	if !ln.paused {
		l.b.paused.Add(1)
	}
	ln.paused = true
	l.timers.arm(l.now+int64(wait), ln)
}

// descriptorFreed is called by a loop that closed a connection: listeners
// paused by EMFILE accept again at once, on every loop, as descriptors are
// the process's, not the loop's.
func (l *loop) descriptorFreed() {
	if l.b.paused.Load() == 0 {
		return
	}
	for _, o := range l.b.loops {
		if o == l {
			l.resumeListeners()
		} else {
			o.post(task{kind: taskResumeListeners})
		}
	}
}

// resumeListeners lets the loop's listeners paused by EMFILE accept again.
func (l *loop) resumeListeners() {
	for _, ln := range l.listeners {
		if ln.paused {
			ln.fire(l.now)
		}
	}
}

func (ln *elistener) close() {
	if ln.fd < 0 {
		return
	}
	if ln.paused {
		ln.paused = false
		ln.l.b.paused.Add(-1)
	}
	l := ln.l
	l.timers.remove(ln)
	var err error
	if l.u != nil {
		l.unregister(ln.id, ln.armed, udAccept, ln.fd)
	} else {
		l.unwatch(ln.fd, ln.network)
		l.setOther(ln.fd, pollee{})
		err = sock.Close(ln.fd)
	}
	l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: ln.fd, Net: ln.network, Local: ln.addr, Detail: "listener " + ln.addr.String(), Err: err})
	ln.fd = -1
}

func (l *loop) addConn(fd int, raddr netip.AddrPort, other net.Addr, ln *elistener) {
	s := l.b.s
	if l.now == 0 {
		l.now = time.Now().UnixNano()
	}
	c := &econn{l: l, m: ln.meta, fd: int32(fd), idx: -1, st: stOpen, start: l.now, lastIn: l.now}
	c.raddr = raddr
	if other != nil {
		c.setRemote(other)
	}
	if err := s.opts.TuneFD(fd, ln.network); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: ln.network, Err: err})
	}
	if c.m.inline {
		l.setInline(fd, ln.network)
	}
	if l.u != nil {
		l.attach(c)
	} else {
		c.events = sock.Readable | sock.PeerShut | c.m.urgent
		if err := l.p.ep.Add(fd, c.events); err != nil {
			s.observe(sockit.Event{Step: sockit.StepAccept, FD: fd, Net: ln.network, Peer: c.remoteAddr(), Err: err})
			l.b.closeFD(fd, ln.network)
			s.life.gone()
			return
		}
		l.setConn(fd, c)
	}
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepAccept, FD: fd, Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr(), Detail: peerDetail(fd, c.m.network)})
		s.observe(sockit.Event{Step: sockit.StepOpen, FD: fd, Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr()})
	}
	if s.life.closingNow() { // accepted as the server shuts down: the handler never sees it
		if l.u != nil {
			l.conns[c.idx] = nil
			l.u.free = append(l.u.free, c.idx)
		} else {
			l.unwatch(fd, ln.network)
			l.conns[fd] = nil
		}
		l.b.closeFD(fd, ln.network)
		l.descriptorFreed()
		s.life.gone()
		return
	}
	c.wantDrain = c.m.drainer != nil
	c.m.h.OnOpen(c)
	c.settle()
}
