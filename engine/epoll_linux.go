package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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

	mu       sync.Mutex
	closing  bool
	drained  chan struct{} // closed when shutdown has begun and no connection is left
	drainOne sync.Once
}

func newEpollBackend(s *Server) (backend, error) {
	n := s.cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	b := &epollBackend{s: s, drained: make(chan struct{})}
	for i := 0; i < n; i++ {
		p, err := newPoller()
		if err != nil {
			for _, l := range b.loops {
				l.post(task{kind: taskStop})
			}
			b.wg.Wait()
			return nil, err
		}
		l := &loop{b: b, p: p, buf: make([]byte, s.cfg.ReadBuffer)}
		b.loops = append(b.loops, l)
		b.wg.Add(1)
		go l.run()
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
	ln := &elistener{fd: fd, network: ep.Network(), addr: addr, h: h, meta: listenMeta(ep.Network(), h, addr)}
	if err := b.attach(b.pick(), task{kind: taskAddListener, ln: ln}); err != nil {
		unix.Close(fd)
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
			ln := &elistener{fd: fd, network: ep.Network(), addr: addr, h: h, own: true, meta: listenMeta(ep.Network(), h, addr)}
			if err = b.attach(l, task{kind: taskAddListener, ln: ln}); err != nil {
				unix.Close(fd)
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
		unix.Close(fd)
		return nil, err
	}
	return addr, nil
}

// attach gives a listener or datagram socket to a loop and waits until the
// loop has registered it.
func (b *epollBackend) attach(l *loop, t task) error {
	t.done = make(chan error, 1)
	// Post under b.mu: Shutdown sets closing under it too, so this task is
	// queued ahead of Shutdown's, on a loop that will still run it.
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrServerClosed
	}
	l.post(t)
	b.mu.Unlock()
	return <-t.done
}

func (b *epollBackend) shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.broadcast(taskCloseListeners)
	if b.s.c.active.Load() == 0 {
		b.drainOne.Do(func() { close(b.drained) })
	}
	var err error
	select {
	case <-b.drained:
	case <-ctx.Done():
		select {
		case <-b.drained: // both were ready: nothing had to be closed
		default:
			err = ctx.Err()
			b.broadcast(taskForceClose)
			<-b.drained
		}
	}
	for _, l := range b.loops {
		l.post(task{kind: taskStop})
	}
	b.wg.Wait()
	return err
}

// broadcast runs a task on every loop and waits for all of them.
func (b *epollBackend) broadcast(kind taskKind) {
	var dones []chan error
	for _, l := range b.loops {
		d := make(chan error, 1)
		dones = append(dones, d)
		l.post(task{kind: kind, done: d})
	}
	for _, d := range dones {
		<-d
	}
}

func (b *epollBackend) dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error {
	family, sotype, sa, err := sock.Resolve(ep.Network(), ep.Addr)
	if err != nil {
		return sockit.Wrap("connect", ep.Network(), ep.Addr, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return ErrServerClosed
	}
	b.s.c.active.Add(1) // so that Shutdown waits for it from now on
	b.pick().post(task{kind: taskDial, dial: &dialReq{
		network: ep.Network(), address: ep.Addr, family: family, sotype: sotype, sa: sa, h: h, timeout: opts.Timeout, source: opts.Source,
	}})
	return nil
}

// connGone is called by a loop when a connection has finished.
func (b *epollBackend) connGone() {
	if b.s.c.active.Add(-1) == 0 {
		b.mu.Lock()
		closing := b.closing
		b.mu.Unlock()
		if closing {
			b.drainOne.Do(func() { close(b.drained) })
		}
	}
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
)

// task is work handed to a loop by another goroutine.
type task struct {
	kind  taskKind
	c     *econn
	ln    *elistener
	pk    *epacket
	fd    int
	sa    unix.Sockaddr  // taskAddConn: a peer address raddr cannot hold, or nil
	raddr netip.AddrPort // taskAddConn: an IP peer
	data  []byte
	req   uint8
	dial  *dialReq
	done  chan error
}

// dialReq is a connection for a loop to start.
type dialReq struct {
	network, address string
	family, sotype   int
	sa               unix.Sockaddr
	h                Handler
	timeout          time.Duration
	source           netip.Addr // the local address to connect from, if valid
}

// loop is one event loop: an epoll instance, the descriptors registered in
// it, a shared read buffer, a timer heap and a task queue.
type loop struct {
	b   *epollBackend
	p   *poller
	buf []byte
	now int64

	conns     []*econn       // by descriptor number: the hot lookup, 8 bytes a slot
	others    map[int]pollee // listeners and datagram sockets, by descriptor
	listeners []*elistener
	packets   []*epacket
	timers    timerHeap

	rsa    unix.RawSockaddrAny // accept4's peer address, reused
	rsaLen uint32

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
		l.p.wake()
	}
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

func (l *loop) run() {
	defer l.b.wg.Done()
	defer l.p.close()
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
			l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: l.p.epfd, Err: err})
			return
		}
		l.now = time.Now().UnixNano()
		for i := 0; i < n; i++ {
			ev := &l.p.events[i]
			fd := int(ev.Fd)
			if fd == l.p.efd {
				l.p.consumeWake()
				continue // tasks are run below, after the events
			}
			if fd == l.p.tfd {
				l.p.tick(n)
				continue
			}
			if fd < len(l.conns) && l.conns[fd] != nil {
				l.conns[fd].handle(ev.Events)
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
			l.addConn(t.fd, t.raddr, t.sa, t.ln)
		case taskAddListener:
			t.ln.l = l
			err := l.p.add(t.ln.fd, unix.EPOLLIN)
			if err == nil {
				l.setOther(t.ln.fd, pollee{ln: t.ln})
				l.listeners = append(l.listeners, t.ln)
			}
			t.done <- err
		case taskAddPacket:
			t.pk.l = l
			err := l.p.add(t.pk.fd, unix.EPOLLIN)
			if err == nil {
				l.setOther(t.pk.fd, pollee{pk: t.pk})
				l.packets = append(l.packets, t.pk)
			}
			t.done <- err
		case taskWrite:
			t.c.async.Add(-int64(len(t.data)))
			if !t.c.closed {
				if _, err := t.c.enqueue(t.data, false); err != nil && !errors.Is(err, ErrClosed) {
					t.c.fail(err)
				}
				t.c.settle()
			}
		case taskWake:
			if !t.c.closed && t.c.m.timer != nil {
				t.c.m.timer.OnTimer(t.c)
				t.c.settle()
			}
		case taskRequest:
			if !t.c.closed {
				t.c.req |= t.req
				t.c.settle()
			}
		case taskCloseListeners:
			for _, ln := range l.listeners {
				ln.close()
			}
			for _, pk := range l.packets {
				l.p.del(pk.fd)
				l.setOther(pk.fd, pollee{})
				pk.mu.Lock()
				unix.Close(pk.fd)
				fd := pk.fd
				pk.fd = -1
				pk.mu.Unlock()
				l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: pk.network, Local: pk.addr, Detail: "datagram socket " + pk.addr.String()})
			}
			l.listeners, l.packets = nil, nil
			t.done <- nil
		case taskForceClose:
			for _, c := range l.conns {
				if c != nil && !c.closed {
					c.forceClose()
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
			if t.pk.fd >= 0 {
				l.timers.arm(time.Now().UnixNano()+int64(sendRetry), t.pk)
			}
		case taskResumeListeners:
			l.resumeListeners()
		case taskStop:
			stop = true
		}
		*t = task{}
	}
	l.spare = tasks[:0]
	return stop
}

// listenMeta is the meta of a listener's connections: an accepted Unix
// peer is unnamed, as package net reports it.
func listenMeta(network string, h Handler, local net.Addr) *connMeta {
	var remote net.Addr
	if strings.HasPrefix(network, "unix") {
		remote = &net.UnixAddr{Net: network}
	}
	return newMeta(network, h, local, remote)
}

// elistener is a listening socket owned by one loop.
type elistener struct {
	l       *loop
	fd      int
	network string
	addr    net.Addr
	h       Handler
	meta    *connMeta // shared by the connections it accepts
	own     bool      // AcceptReusePort: keep accepted connections on this loop

	timer   timerSlot // armed while accepting is paused after EMFILE
	paused  bool
	backoff time.Duration
	lastLog int64
}

func (ln *elistener) slot() *timerSlot { return &ln.timer }

// fire resumes accepting after a pause for lack of descriptors.
func (ln *elistener) fire(int64) int64 {
	if ln.paused && ln.fd >= 0 {
		ln.paused = false
		ln.l.b.paused.Add(-1)
		ln.l.p.mod(ln.fd, unix.EPOLLIN)
	}
	return 0
}

// accept takes up to a batch of pending connections and deals them out.
func (ln *elistener) accept(l *loop) {
	s := l.b.s
	for i := 0; i < 128; i++ {
		// accept4(2) into the loop's own sockaddr buffer: unlike
		// unix.Accept4, this allocates nothing per connection.
		l.rsaLen = unix.SizeofSockaddrAny
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(ln.fd), uintptr(unsafe.Pointer(&l.rsa)), uintptr(unsafe.Pointer(&l.rsaLen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != 0 {
			switch e {
			case unix.EAGAIN:
				ln.backoff = 0
				return
			case unix.EINTR, unix.ECONNABORTED:
				continue
			}
			// EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection waits in the
			// backlog. Stop watching the listener for a while instead of
			// spinning on it, and say so at most once a second.
			s.c.acceptErrs.Add(1)
			if l.now-ln.lastLog >= int64(time.Second) {
				ln.lastLog = l.now
				s.observe(sockit.Event{Step: sockit.StepAccept, FD: ln.fd, Net: ln.network, Local: ln.addr,
					Err: sockit.Wrap("accept", ln.network, ln.addr.String(), os.NewSyscallError("accept4", e))})
			}
			ln.backoff = min(max(2*ln.backoff, 5*time.Millisecond), time.Second)
			if !ln.paused {
				l.b.paused.Add(1)
			}
			ln.paused = true
			l.p.mod(ln.fd, 0)
			l.timers.arm(l.now+int64(ln.backoff), ln)
			return
		}
		fd := int(r)
		ap, sa := sock.Peer(&l.rsa, l.rsaLen)
		s.c.accepted.Add(1)
		s.c.active.Add(1)
		if t := l.b.pick(); t != l && !ln.own {
			t.post(task{kind: taskAddConn, fd: fd, raddr: ap, sa: sa, ln: ln})
		} else {
			l.addConn(fd, ap, sa, ln)
		}
	}
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
	ln.l.p.del(ln.fd)
	ln.l.setOther(ln.fd, pollee{})
	unix.Close(ln.fd)
	ln.l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: ln.fd, Net: ln.network, Local: ln.addr, Detail: "listener " + ln.addr.String()})
	ln.fd = -1
}

func (l *loop) addConn(fd int, raddr netip.AddrPort, sa unix.Sockaddr, ln *elistener) {
	s := l.b.s
	if l.now == 0 {
		l.now = time.Now().UnixNano()
	}
	c := &econn{l: l, m: ln.meta, fd: int32(fd), start: l.now, lastIn: l.now}
	c.raddr = raddr
	if sa != nil {
		c.setPeer(sa)
	}
	if err := s.opts.TuneFD(fd, ln.network); err != nil {
		s.observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: ln.network, Err: err})
	}
	c.events = unix.EPOLLIN | unix.EPOLLRDHUP
	if err := l.p.add(fd, c.events); err != nil {
		unix.Close(fd)
		l.b.connGone()
		return
	}
	l.setConn(fd, c)
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepAccept, FD: fd, Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr()})
		s.observe(sockit.Event{Step: sockit.StepOpen, FD: fd, Net: c.m.network, Local: c.m.local, Peer: c.remoteAddr()})
	}
	l.b.mu.Lock()
	closing := l.b.closing
	l.b.mu.Unlock()
	if closing { // accepted as the server shuts down: the handler never sees it
		l.timers.remove(c)
		l.p.del(fd)
		l.conns[fd] = nil
		unix.Close(fd)
		l.descriptorFreed()
		l.b.connGone()
		return
	}
	c.wantDrain = c.m.drainer != nil
	c.m.h.OnOpen(c)
	c.settle()
}
