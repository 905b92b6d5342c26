//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// maxWindow bounds the messages in flight per connection.
const maxWindow = 16

// headerLen is the part of each message that names it: the message's index
// on its connection (8 bytes), the connection's id (4) and a check word (4).
const headerLen = 16

// patternPeriod is the period of the filler after the header; a prime, so
// that each message's filler starts at its own offset.
const patternPeriod = 251

// LoadSpec is one run of the load generator.
type LoadSpec struct {
	Addr    string // the server, "127.0.0.1:PORT"
	Source  string // source IPv4 address to bind, "" = the kernel's choice
	Conns   int
	FirstID int // connection ids are FirstID … FirstID+Conns-1
	Size    int // bytes per message, at least headerLen
	Window  int // messages in flight per connection, 1 … maxWindow
	// Rate is the offered load in messages per second over all connections
	// (open loop: message k of connection i is due at a fixed time, and its
	// latency counts from then). 0 = closed loop: each connection sends its
	// next message as soon as the echo of the last one is back.
	Rate     float64
	Warmup   time.Duration // load before the measured window
	Duration time.Duration // the measured window
	Drain    time.Duration // after the window: how long to wait for due echoes
	// Idle: connect, echo one message on each connection, report, then hold
	// the connections until standard input ends (or Hold passes).
	Idle bool
	Hold time.Duration // in-process idle runs: hold this long instead of reading stdin
	// Churn: every connection connects, sends one message, reads its echo
	// and closes (a reset: SO_LINGER 0); Conns of them at a time, each
	// replaced by a new one as it ends, from the start of the warm-up to
	// the end of the window (closed loop; Window must be 1). A message's
	// latency counts from the socket(2) call that began its connection.
	Churn bool
	// Spin makes the generator poll without sleeping while it runs: it
	// sends on time without timer wake-ups, and a server's echo never has
	// to wake it (which a remote client would not cost the server either).
	// It keeps its CPU busy; LoaderBusy tells how much of it was work.
	Spin bool
	// ServerPID, if set, is sampled (CPU, RSS) at the window's edges.
	ServerPID int
	// HTTP, if set, is a path: every message is a keep-alive GET of it
	// (Size is then the request's length), and every response must be a
	// 200 whose body is HTTPBody, framed by Content-Length or chunked.
	HTTP     string
	HTTPBody string
}

// LoadResult is what one run measured.
type LoadResult struct {
	Conns       int
	ConnectTime time.Duration // to open every connection
	Sent        uint64        // messages written, whole run
	Echoed      uint64        // messages echoed back whole and checked, whole run
	Mismatched  uint64        // messages whose echo differed from what was sent
	Extra       uint64        // bytes received beyond what was sent
	Lost        uint64        // messages sent and not echoed by the end
	Unsent      uint64        // messages due in the window and never sent (server too slow)
	ConnErrors  uint64        // connections that failed (reset, EOF) before the end
	FirstError  string        `json:",omitempty"`

	Window      time.Duration // the measured window, as it happened
	WindowMsgs  uint64        // echoes completed in the window
	WindowBytes uint64        // their payload bytes (one direction)
	Latency     Percentiles   // of messages due in the window, from when they were due
	ServerCPU   time.Duration // server utime+stime over the window (/proc/PID/stat)
	ServerSched time.Duration // server on-CPU time over the window (/proc/PID/task/*/schedstat)
	ServerRSS   int64         // server VmRSS at the window's end, bytes
	LoaderCPU   time.Duration // this process's utime+stime over the window
	LoaderBusy  time.Duration // time the generator spent on events and sends in the window (not waiting)
	Core0Busy   time.Duration // all busy time of CPU 0 over the window (/proc/stat)

	// Churn runs: every message is a connection, so Echoed counts the
	// connections that completed, WindowMsgs those that completed in the
	// window, and ConnErrors those that failed (refused, reset, EOF).
	Opened uint64 // connections begun, whole run
}

// Percentiles of a latency histogram.
type Percentiles struct {
	Count                    int64
	P50, P90, P99, P999, Max time.Duration
}

func (s *LoadSpec) check() error {
	if s.HTTP != "" {
		s.Size = len(httpRequest(s))
	}
	switch {
	case s.Conns <= 0:
		return errors.New("loadgen: Conns must be positive")
	case s.Size < headerLen:
		return fmt.Errorf("loadgen: Size must be at least %d", headerLen)
	case s.Window < 1 || s.Window > maxWindow:
		return fmt.Errorf("loadgen: Window must be 1 … %d", maxWindow)
	case s.Rate < 0:
		return errors.New("loadgen: Rate must not be negative")
	case s.Churn && (s.Rate > 0 || s.Idle || s.Window != 1):
		return errors.New("loadgen: Churn is closed loop, not idle, with Window 1")
	}
	return nil
}

// lconn is one client connection of the load generator.
type lconn struct {
	fd    int
	id    uint32
	sent  uint64 // messages handed to write(2), in full or in part
	done  uint64 // messages echoed whole
	due   uint64 // open loop: messages whose time has come
	rpos  int    // bytes of message done received so far
	bad   bool   // the message being received differs from what was sent
	wpend []byte // the part of a write the kernel did not take
	at    [maxWindow]int64
	dead  bool

	// churn
	slot       int   // index in loadgen.conns
	begun      int64 // when its socket(2) was called, ns since base
	connecting bool  // the handshake has not completed yet

	http *httpConn // HTTP runs: the response being read
}

// loadgen drives every connection from one goroutine locked to one thread,
// on one epoll instance with level-triggered, non-blocking sockets.
type loadgen struct {
	spec    LoadSpec
	hooks   hooks
	res     LoadResult
	base    time.Time
	epfd    int
	conns   []*lconn
	byFD    []*lconn
	pattern []byte // patternPeriod-periodic filler, Size+patternPeriod long
	scratch []byte
	rbuf    []byte
	hist    *hdrhistogram.Histogram
	events  []unix.EpollEvent

	t0, winStart, winEnd int64 // ns since base
	measuring, ended     bool
	interval             float64 // open loop: ns between two messages of the whole run
	cursor               uint64  // open loop: next slot to fall due
	pwait2               bool
	req                  []byte // HTTP runs: the request every message sends

	startSample sample
	busy        int64 // ns of work in the window

	// churn
	to, from *unix.SockaddrInet4
	free     []int  // slots of conns without a live connection
	nextID   uint32 // id of the next connection
}

// maxChurnErrors is how many failed connections a churn run tolerates
// before it stops opening new ones (a dead server would otherwise make it
// spin on refused connections).
const maxChurnErrors = 1000

// hooks let the caller of runLoad follow a run.
type hooks struct {
	// window is called when the measured window starts.
	window func()
	// idle is called with an idle run's result, before it holds its
	// connections (see hold).
	idle func(*LoadResult)
}

// runLoad runs spec and returns what it measured. It locks the calling
// goroutine to its thread for the run.
func runLoad(spec LoadSpec, h hooks) (*LoadResult, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Wake-ups on time matter to an open-loop generator: cut the timer
	// slack of this thread from 50 µs to 1 µs (per prctl(2)).
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)

	g := &loadgen{spec: spec, hooks: h, base: time.Now(), pwait2: true}
	if spec.HTTP != "" {
		g.req = httpRequest(&spec)
	}
	g.res.Conns = spec.Conns
	g.hist = hdrhistogram.New(1, int64(time.Minute/time.Microsecond)*1000, 3) // ns, up to a minute
	g.pattern = make([]byte, spec.Size+patternPeriod)
	for i := range g.pattern {
		g.pattern[i] = byte((i%patternPeriod)*97 + 11)
	}
	g.scratch = make([]byte, spec.Window*spec.Size)
	g.rbuf = make([]byte, max(256<<10, spec.Size))
	g.events = make([]unix.EpollEvent, 512)
	var err error
	g.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	defer g.closeAll()
	if !spec.Idle {
		if err := g.runTimed(); err != nil {
			return nil, err
		}
		return &g.res, nil
	}
	if err := g.runIdle(); err != nil {
		return nil, err
	}
	if h.idle != nil {
		h.idle(&g.res)
	}
	hold(spec)
	return &g.res, nil
}

func (g *loadgen) now() int64 { return int64(time.Since(g.base)) }

func (g *loadgen) closeAll() {
	for _, c := range g.conns {
		if c != nil && !c.dead {
			unix.Close(c.fd) // SO_LINGER 0: a reset, no TIME_WAIT on either side
		}
	}
	unix.Close(g.epfd)
}

// dialAll opens spec.Conns connections, one after another. each, if set, is
// called after every connection (the idle run sends on it at once).
func (g *loadgen) dialAll(each func(c *lconn) error) error {
	if err := g.resolve(); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < g.spec.Conns; i++ {
		fd, err := dialOne(g.to, g.from)
		if err != nil {
			return fmt.Errorf("loadgen: connection %d of %d: %w", i+1, g.spec.Conns, err)
		}
		c := &lconn{fd: fd, id: uint32(g.spec.FirstID + i)}
		g.conns = append(g.conns, c)
		if err := g.register(c, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
			unix.Close(fd)
			c.dead = true
			return err
		}
		if each != nil {
			if err := each(c); err != nil {
				return err
			}
		}
	}
	g.res.ConnectTime = time.Since(start)
	return nil
}

// resolve parses the server's and the source address.
func (g *loadgen) resolve() error {
	ap, err := netip.ParseAddrPort(g.spec.Addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("loadgen: want an IPv4 address:port, not %q", g.spec.Addr)
	}
	g.to = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if g.spec.Source != "" {
		src, err := netip.ParseAddr(g.spec.Source)
		if err != nil || !src.Is4() {
			return fmt.Errorf("loadgen: want an IPv4 source address, not %q", g.spec.Source)
		}
		g.from = &unix.SockaddrInet4{Addr: src.As4()}
	}
	return nil
}

// register adds c to the epoll set and to byFD. The event carries c's id
// beside its descriptor, so that poll can tell a stale event of a closed
// connection from one of a new connection on the same descriptor.
func (g *loadgen) register(c *lconn, events uint32) error {
	for c.fd >= len(g.byFD) {
		g.byFD = append(g.byFD, make([]*lconn, max(1024, len(g.byFD)))...)
	}
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd), Pad: int32(c.id)}); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	g.byFD[c.fd] = c
	return nil
}

// dialOne connects one non-blocking TCP socket with TCP_NODELAY, and
// SO_LINGER 0 so that closing it resets. With a source address it binds it
// first, leaving the port to connect (IP_BIND_ADDRESS_NO_PORT, per ip(7)),
// so that every source address has the whole ephemeral range per server.
func dialOne(to, from *unix.SockaddrInet4) (int, error) {
	fd, inProgress, err := startConnect(to, from)
	if err != nil || !inProgress {
		return fd, err
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
	}
	// Wait for the handshake (per connect(2): writable, then SO_ERROR).
	deadline := time.Now().Add(10 * time.Second)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, 100)
		if err == unix.EINTR || (err == nil && n == 0 && time.Now().Before(deadline)) {
			continue
		}
		if err != nil {
			return fail("poll", err)
		}
		if n == 0 {
			return fail("connect", unix.ETIMEDOUT)
		}
		break
	}
	if err := soError(fd); err != nil {
		return fail("connect", err)
	}
	return fd, nil
}

// soError is the pending error of socket fd (SO_ERROR): how a
// non-blocking connect ended.
func soError(fd int) error {
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && e != 0 {
		err = unix.Errno(e)
	}
	return err
}

// startConnect makes a socket as dialOne describes and starts connecting
// it; inProgress says the handshake has not completed yet.
func startConnect(to, from *unix.SockaddrInet4) (fd int, inProgress bool, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, bool, error) {
		unix.Close(fd)
		return -1, false, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fail("setsockopt", err)
	}
	if from != nil {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fail("setsockopt", err)
		}
		if err := unix.Bind(fd, from); err != nil {
			return fail("bind", err)
		}
	}
	err = unix.Connect(fd, to)
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		return fail("connect", err)
	}
	return fd, err != nil, nil
}

// runTimed is an open- or closed-loop run: warm-up, measured window, drain.
func (g *loadgen) runTimed() error {
	s := &g.spec
	if s.Churn {
		if err := g.resolve(); err != nil {
			return err
		}
		g.conns = make([]*lconn, s.Conns)
		for i := range g.conns {
			g.free = append(g.free, i)
		}
		g.nextID = uint32(s.FirstID)
	} else if err := g.dialAll(nil); err != nil {
		return err
	}
	g.t0 = g.now() + int64(20*time.Millisecond)
	g.winStart = g.t0 + int64(s.Warmup)
	g.winEnd = g.winStart + int64(s.Duration)
	drainEnd := g.winEnd + int64(s.Drain)
	if s.Rate > 0 {
		g.interval = 1e9 / s.Rate
	}
	started := false
	for {
		now := g.now()
		if !started && now >= g.t0 {
			started = true
			if s.Rate == 0 && !s.Churn { // churn: refill opens the connections
				for _, c := range g.conns {
					g.send(c, now)
				}
			}
		}
		if started && s.Rate > 0 && g.advance(now) && g.measuring && !g.ended {
			g.busy += g.now() - now
		}
		if started && s.Churn && g.refill(now) && g.measuring && !g.ended {
			g.busy += g.now() - now
		}
		if !g.measuring && now >= g.winStart {
			g.measuring = true
			g.startSample = takeSample(s.ServerPID)
			if g.hooks.window != nil {
				g.hooks.window()
			}
		}
		if g.measuring && !g.ended && now >= g.winEnd {
			g.ended = true
			end := takeSample(s.ServerPID)
			g.res.Window = time.Duration(end.at.Sub(g.startSample.at))
			g.res.ServerCPU = end.cpu - g.startSample.cpu
			g.res.ServerSched = end.sched - g.startSample.sched
			g.res.LoaderCPU = end.self - g.startSample.self
			g.res.Core0Busy = end.core0 - g.startSample.core0
			g.res.ServerRSS = end.rss
			g.res.LoaderBusy = time.Duration(g.busy)
		}
		if g.ended && (g.outstanding() == 0 || now >= drainEnd) {
			break
		}
		next := drainEnd
		switch {
		case !started:
			next = g.t0
		case !g.measuring:
			next = g.winStart
		case !g.ended:
			next = g.winEnd
		}
		if s.Rate > 0 && started {
			if t := g.slotTime(g.cursor); t < next && t < g.winEnd {
				next = t
			}
		}
		wait := next - now
		switch {
		case s.Churn && started && now < g.winEnd && (s.Spin || (len(g.free) > 0 && g.res.ConnErrors < maxChurnErrors)):
			wait = 0 // spin, or retry at once a connection that failed to open
		case s.Spin:
			if wait < int64(time.Millisecond) {
				wait = 0
			} else {
				wait -= int64(500 * time.Microsecond)
			}
		}
		if _, err := g.poll(wait); err != nil {
			return err
		}
	}
	g.finish()
	return nil
}

// slotTime is when open-loop slot k falls due: slots are spread evenly over
// time and dealt to the connections in turn.
func (g *loadgen) slotTime(k uint64) int64 {
	return g.t0 + int64(math.Round(float64(k)*g.interval))
}

// intended is when message k of c was due (open loop).
func (g *loadgen) intended(c *lconn, k uint64) int64 {
	n := uint64(len(g.conns))
	return g.slotTime(k*n + uint64(int(c.id)-g.spec.FirstID))
}

// advance makes every slot due by now due on its connection, up to the end
// of the window, and sends what the windows allow. It reports whether any
// slot fell due.
func (g *loadgen) advance(now int64) (fell bool) {
	n := uint64(len(g.conns))
	for ; ; fell = true {
		t := g.slotTime(g.cursor)
		if t > now || t >= g.winEnd {
			return fell
		}
		c := g.conns[g.cursor%n]
		c.due = g.cursor/n + 1
		g.cursor++
		g.send(c, now)
	}
}

// outstanding counts messages still owed: sent and not echoed, or due and
// not sent.
func (g *loadgen) outstanding() uint64 {
	var n uint64
	for _, c := range g.conns {
		if c == nil || c.dead {
			continue
		}
		n += c.sent - c.done
		if c.due > c.sent {
			n += c.due - c.sent
		}
	}
	return n
}

func (g *loadgen) finish() {
	for _, c := range g.conns {
		if c == nil || (g.spec.Churn && c.dead) {
			continue // churn: a connection that failed counts as a connection error only
		}
		if c.sent > c.done {
			g.res.Lost += c.sent - c.done
		}
		if c.due > c.sent {
			g.res.Unsent += c.due - c.sent
		}
	}
	h := g.hist
	g.res.Latency = Percentiles{
		Count: h.TotalCount(),
		P50:   time.Duration(h.ValueAtQuantile(50)),
		P90:   time.Duration(h.ValueAtQuantile(90)),
		P99:   time.Duration(h.ValueAtQuantile(99)),
		P999:  time.Duration(h.ValueAtQuantile(99.9)),
		Max:   time.Duration(h.Max()),
	}
}

// send writes as many messages as c may have in flight and owes: in the
// open loop those that are due, in the closed loop one window at once.
func (g *loadgen) send(c *lconn, now int64) {
	if c.dead || len(c.wpend) > 0 {
		return
	}
	s := &g.spec
	if g.ended && !s.Churn && (s.Rate == 0 || s.Idle) {
		return
	}
	limit := c.done + uint64(s.Window)
	if s.Rate > 0 || s.Idle || s.Churn {
		limit = min(limit, c.due)
	}
	b := g.scratch[:0]
	for ; c.sent < limit; c.sent++ {
		at := now
		switch {
		case s.Rate > 0:
			at = g.intended(c, c.sent)
		case s.Churn:
			at = c.begun
		}
		c.at[c.sent%maxWindow] = at
		b = g.appendMessage(b, c.id, c.sent)
	}
	if len(b) == 0 {
		return
	}
	n, err := unix.Write(c.fd, b)
	if err == unix.EAGAIN || err == unix.EINTR {
		n, err = 0, nil
	}
	if err != nil {
		g.connFailed(c, os.NewSyscallError("write", err))
		return
	}
	g.res.Sent += uint64(len(b) / s.Size)
	if n < len(b) {
		c.wpend = append([]byte(nil), b[n:]...)
		g.watch(c, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT)
	}
}

// flush writes the rest of a partial write.
func (g *loadgen) flush(c *lconn) {
	n, err := unix.Write(c.fd, c.wpend)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if err != nil {
		g.connFailed(c, os.NewSyscallError("write", err))
		return
	}
	c.wpend = c.wpend[n:]
	if len(c.wpend) == 0 {
		c.wpend = nil
		g.watch(c, unix.EPOLLIN|unix.EPOLLRDHUP)
		g.send(c, g.now()) // what fell due meanwhile
	}
}

func (g *loadgen) watch(c *lconn, events uint32) {
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd), Pad: int32(c.id)}); err != nil {
		g.connFailed(c, os.NewSyscallError("epoll_ctl", err))
	}
}

// appendMessage appends message k of connection id: its header, then
// filler that starts at an offset of its own.
func (g *loadgen) appendMessage(b []byte, id uint32, k uint64) []byte {
	if g.req != nil {
		return append(b, g.req...)
	}
	var h [headerLen]byte
	header(&h, id, k)
	off := fillerOffset(id, k)
	b = append(b, h[:]...)
	return append(b, g.pattern[off+headerLen:off+g.spec.Size]...)
}

func header(h *[headerLen]byte, id uint32, k uint64) {
	binary.LittleEndian.PutUint64(h[0:], k)
	binary.LittleEndian.PutUint32(h[8:], id)
	binary.LittleEndian.PutUint32(h[12:], ^id*2654435761^uint32(k))
}

func fillerOffset(id uint32, k uint64) int {
	return int((k*7 + uint64(id)) % patternPeriod)
}

// matches reports whether p equals bytes pos … pos+len(p) of message k of
// connection id.
func (g *loadgen) matches(id uint32, k uint64, pos int, p []byte) bool {
	if pos < headerLen {
		var h [headerLen]byte
		header(&h, id, k)
		m := min(headerLen-pos, len(p))
		if !bytes.Equal(p[:m], h[pos:pos+m]) {
			return false
		}
		p, pos = p[m:], pos+m
	}
	off := fillerOffset(id, k)
	return bytes.Equal(p, g.pattern[off+pos:off+pos+len(p)])
}

// receive reads what c's server sent, checks it, and completes messages.
func (g *loadgen) receive(c *lconn) {
	for {
		n, err := unix.Read(c.fd, g.rbuf)
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		if err != nil {
			g.connFailed(c, os.NewSyscallError("read", err))
			return
		}
		if n == 0 {
			g.connFailed(c, errors.New("read: EOF: the server closed the connection"))
			return
		}
		g.consume(c, g.rbuf[:n])
		if c.dead || n < len(g.rbuf) { // dead: a churn connection that completed
			return
		}
	}
}

func (g *loadgen) consume(c *lconn, p []byte) {
	if g.req != nil {
		g.consumeHTTP(c, p)
		return
	}
	s := &g.spec
	now := int64(-1)
	for len(p) > 0 {
		if c.done >= c.sent {
			g.res.Extra += uint64(len(p))
			return
		}
		m := min(s.Size-c.rpos, len(p))
		if !c.bad && !g.matches(c.id, c.done, c.rpos, p[:m]) {
			c.bad = true
		}
		c.rpos += m
		p = p[m:]
		if c.rpos < s.Size {
			continue
		}
		if now < 0 {
			now = g.now()
		}
		g.complete(c, now)
	}
	if now >= 0 && s.Churn {
		g.retire(c) // its one message is back
		return
	}
	if now >= 0 {
		g.send(c, now) // the window has room again
	}
}

// complete ends message c.done: counts it and records its latency.
func (g *loadgen) complete(c *lconn, now int64) {
	s := &g.spec
	at := c.at[c.done%maxWindow]
	if c.bad {
		g.res.Mismatched++
	} else {
		g.res.Echoed++
	}
	if g.measuring && !g.ended {
		g.res.WindowMsgs++
		g.res.WindowBytes += uint64(s.Size)
	}
	if at >= g.winStart && at < g.winEnd && !s.Idle {
		g.hist.RecordValue(max(now-at, 1))
	}
	c.done++
	c.rpos = 0
	c.bad = false
}

func (g *loadgen) connFailed(c *lconn, err error) {
	if c.dead {
		return
	}
	c.dead = true
	g.res.ConnErrors++
	if g.res.FirstError == "" {
		g.res.FirstError = fmt.Sprintf("connection %d: %v", c.id, err)
	}
	unix.Close(c.fd) // also leaves the epoll set
	g.byFD[c.fd] = nil
	if g.spec.Churn {
		g.free = append(g.free, c.slot)
	}
}

// refill opens a connection in every free slot, until the window ends
// (churn). It reports whether it opened any.
func (g *loadgen) refill(now int64) bool {
	n := len(g.free) // a slot whose connection fails at once waits for the next round
	if n == 0 || now >= g.winEnd || g.res.ConnErrors >= maxChurnErrors {
		return false
	}
	for _, slot := range g.free[:n] {
		g.open(slot)
	}
	g.free = append(g.free[:0], g.free[n:]...)
	return true
}

// open begins a connection in slot (churn): it sends its message as soon
// as the handshake completes, and retire closes it when the echo is back.
func (g *loadgen) open(slot int) {
	c := &lconn{id: g.nextID, slot: slot, due: 1, begun: g.now()}
	g.nextID++
	g.res.Opened++
	g.conns[slot] = c
	fd, inProgress, err := startConnect(g.to, g.from)
	if err != nil {
		c.fd = -1
		g.res.ConnErrors++
		if g.res.FirstError == "" {
			g.res.FirstError = fmt.Sprintf("connection %d: %v", c.id, err)
		}
		c.dead = true
		g.free = append(g.free, slot)
		return
	}
	c.fd, c.connecting = fd, inProgress
	// Edge-triggered: one event when the handshake completes, one when
	// the echo arrives; receive reads until a short read.
	if err := g.register(c, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET); err != nil {
		g.connFailed(c, err)
		return
	}
	if !inProgress {
		g.send(c, g.now())
	}
}

// connected completes c's handshake (churn) and sends its message.
func (g *loadgen) connected(c *lconn) {
	if err := soError(c.fd); err != nil {
		g.connFailed(c, os.NewSyscallError("connect", err))
		return
	}
	c.connecting = false
	g.send(c, g.now())
}

// retire closes a churn connection whose message is back, with a reset
// (SO_LINGER 0), and frees its slot for the next.
func (g *loadgen) retire(c *lconn) {
	c.dead = true
	unix.Close(c.fd)
	g.byFD[c.fd] = nil
	g.free = append(g.free, c.slot)
}

// poll waits up to timeout ns for events and handles them; it returns how
// many there were.
func (g *loadgen) poll(timeout int64) (int, error) {
	n, err := g.wait(max(timeout, 0))
	if err != nil || n == 0 {
		return n, err
	}
	if g.measuring && !g.ended {
		t := g.now()
		defer func() { g.busy += g.now() - t }()
	}
	for i := 0; i < n; i++ {
		ev := &g.events[i]
		fd := int(ev.Fd)
		if fd >= len(g.byFD) || g.byFD[fd] == nil {
			continue
		}
		c := g.byFD[fd]
		if uint32(ev.Pad) != c.id {
			continue // a connection closed earlier in this batch; c is a new one on its descriptor
		}
		if c.connecting && ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			g.connected(c)
		}
		if ev.Events&unix.EPOLLOUT != 0 && len(c.wpend) > 0 && !c.dead {
			g.flush(c)
		}
		if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.dead {
			g.receive(c)
		}
	}
	return n, nil
}

// wait is epoll_wait with a timeout in nanoseconds: epoll_pwait2(2) where
// the kernel has it (5.11 on), else epoll_wait with milliseconds rounded up.
func (g *loadgen) wait(timeout int64) (int, error) {
	for {
		if g.pwait2 {
			ts := unix.NsecToTimespec(timeout)
			r, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(g.epfd), uintptr(unsafe.Pointer(&g.events[0])),
				uintptr(len(g.events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
			switch e {
			case 0:
				return int(r), nil
			case unix.EINTR:
				return 0, nil
			case unix.ENOSYS:
				g.pwait2 = false
				continue
			}
			return 0, os.NewSyscallError("epoll_pwait2", e)
		}
		msec := int((timeout + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		n, err := unix.EpollWait(g.epfd, g.events, msec)
		if err == unix.EINTR {
			return 0, nil
		}
		return n, os.NewSyscallError("epoll_wait", err)
	}
}

// runIdle opens every connection and echoes one message on each, then
// holds them.
func (g *loadgen) runIdle() error {
	g.winStart, g.winEnd = math.MaxInt64, math.MaxInt64
	g.measuring = false
	var pending int
	err := g.dialAll(func(c *lconn) error {
		c.due = 1
		g.send(c, g.now())
		pending++
		if pending%256 == 0 {
			_, err := g.poll(0)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	deadline := g.now() + int64(30*time.Second)
	for g.outstanding() > 0 && g.now() < deadline {
		if _, err := g.poll(int64(100 * time.Millisecond)); err != nil {
			return err
		}
	}
	g.finish()
	return nil
}

// hold keeps the connections of an idle run open until stdin ends or, for
// in-process runs, spec.Hold passes.
func hold(spec LoadSpec) {
	if spec.Hold > 0 {
		time.Sleep(spec.Hold)
		return
	}
	var b [512]byte
	for {
		if _, err := os.Stdin.Read(b[:]); err != nil {
			return
		}
	}
}
