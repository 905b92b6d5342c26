package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit/engine"
)

// runStreams runs the benchmark over stream connections (tcp, unix,
// unixpacket), each one an engine connection made by Server.Dial.
func runStreams(ctx context.Context, o *Options, r *recorder) error {
	srv, err := engine.NewServer(engineConfig(o))
	if err != nil {
		return err
	}
	stack, err := layers(o)
	if err != nil {
		srv.Close()
		return err
	}
	st := newStreamRun(o, r)
	r.sample(&r.base)

	// Connect, at Options.ConnectRate if given. An interrupt stops dialing and
	// stops waiting for the dials under way; those that open later close
	// at once (stopAll), and Shutdown below waits for them.
	begin := time.Now()
	for i := 0; i < o.Conns; i++ {
		if o.ConnectRate > 0 {
			sleepUntil(ctx, begin.Add(time.Duration(float64(i)/o.ConnectRate*float64(time.Second))))
		}
		if ctx.Err() != nil {
			st.undialed(o.Conns - i)
			break
		}
		c := st.newConn(o.FirstID + i)
		opts := engine.DialOptions{Timeout: o.ConnectTimeout, Source: sourceIP(o, o.FirstID+i)}
		if err := stack.Dial(srv, o.Endpoint, c, opts); err != nil {
			srv.Close()
			st.progress.stop()
			return err
		}
	}
	select {
	case <-st.settled: // each dial is bounded by the connect timeout
	case <-ctx.Done():
	}

	// Start the load on every connection at once, warm up, then measure.
	// An interrupt ends the window early.
	now := time.Now()
	st.origin = now.UnixNano()
	r.winStart.Store(now.Add(o.Warmup).UnixNano())
	r.winEnd.Store(now.Add(o.Warmup + o.Duration).UnixNano())
	st.startAll()
	st.progress.phase("warmup")
	sleepUntil(ctx, now.Add(o.Warmup))
	r.sample(&r.start)
	st.progress.phase("measure")
	sleepUntil(ctx, now.Add(o.Warmup+o.Duration))
	r.sample(&r.end)
	if ctx.Err() != nil {
		r.winEnd.Store(r.end.at)
	}

	// Stop: no new messages; each connection half-closes once its output is
	// flushed and closes when the peer has answered with its FIN, which an
	// echo server sends after the last echo. What is not done within Drain
	// is cut (and counted short).
	st.progress.phase("drain")
	st.stopAll(o.Mode)
	drain, cancel := context.WithTimeout(context.Background(), o.Drain)
	defer cancel()
	srv.Shutdown(drain)
	st.progress.stop()
	return nil
}

// sleepUntil waits for a point of the run's schedule, or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// sourceIP is connection id's source address: 127.0.0.(1 + id mod n),
// counting on into 127.0.x.y, for loopback servers with SourceIPs n.
func sourceIP(o *Options, id int) netip.Addr {
	if o.SourceIPs <= 1 {
		return netip.Addr{}
	}
	n := o.SourceOffset + id%o.SourceIPs + 1
	return netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
}

// streamRun is what the connections of one run share.
type streamRun struct {
	o        *Options
	r        *recorder
	s        *stream
	interval float64 // open loop: nanoseconds between one connection's messages
	verify   bool
	req      []byte // ModeHTTP: the request every message sends

	started atomic.Bool // the connect phase is over: connections send
	origin  int64       // when the load started (set before started): open-loop schedules count from it

	mu      sync.Mutex
	conns   []engine.Conn // open connections, for starting and stopping them
	pending int           // dials not yet resolved
	settled chan struct{} // closed when every dial has opened or failed
	stopped bool

	progress *progress
}

func newStreamRun(o *Options, r *recorder) *streamRun {
	st := &streamRun{o: o, r: r, s: newStream(o.Payload, o.Size), verify: (o.Mode == ModeEcho || o.Mode == ModeHTTP) && !o.NoVerify,
		pending: o.Conns, settled: make(chan struct{})}
	if o.Mode == ModeHTTP {
		st.req = httpRequest(o)
	}
	if o.Rate > 0 {
		st.interval = float64(o.Conns) / o.Rate * float64(time.Second)
	}
	st.progress = startProgress(o, r)
	return st
}

func (st *streamRun) dialSettled() { st.undialed(1) }

// undialed counts n dials as resolved (opened, failed, or never made).
func (st *streamRun) undialed(n int) {
	st.mu.Lock()
	st.pending -= n
	if st.pending == 0 && n > 0 {
		close(st.settled)
	}
	st.mu.Unlock()
}

// startAll starts the load on the connections open now; those that open
// later start at once.
func (st *streamRun) startAll() {
	st.mu.Lock()
	st.started.Store(true)
	conns := append([]engine.Conn(nil), st.conns...)
	st.mu.Unlock()
	for _, c := range conns {
		c.Wake()
	}
}

// stopAll ends the load: echo and sink connections half-close (flushing
// what is queued); sources reset, as a server like chargen sends until the
// client goes, and closing with unread input resets anyway (tcp(7)).
func (st *streamRun) stopAll(mode Mode) {
	st.mu.Lock()
	st.stopped = true
	conns := st.conns
	st.conns = nil
	st.mu.Unlock()
	for _, c := range conns {
		if mode == ModeSource {
			c.Abort()
		} else {
			c.CloseWrite()
		}
	}
}

func (st *streamRun) newConn(id int) *bconn {
	b := &bconn{st: st, id: id, seed: st.s.seedFor(id), dialed: time.Now().UnixNano()}
	if st.o.Mode == ModeEcho || st.o.Mode == ModeHTTP {
		b.due = make([]int64, st.o.Depth)
	}
	return b
}

// bconn is one connection of the load. Its fields are touched only by its
// loop (its callbacks).
type bconn struct {
	st     *streamRun
	id     int
	seed   int
	dialed int64
	c      engine.Conn

	sentOff, recvOff int64   // stream offsets: bytes written, bytes read back
	sent, done       int64   // messages written, messages complete
	due              []int64 // when each message in flight was due (a ring of Depth)
	base             int64   // open loop: when message 0 was due
	begun            bool    // the load has started on this connection
	finished         bool    // the window is over: no new messages
	writeFailed      bool    // a write failed and was counted
	doneDue          []int64 // scratch: when each message one OnData completed was due
	h                httpCheck
}

func (b *bconn) OnOpen(c engine.Conn) {
	st := b.st
	now := time.Now().UnixNano()
	b.c = c
	st.r.connected(time.Duration(now - b.dialed))
	st.mu.Lock()
	stopped := st.stopped
	if !stopped {
		st.conns = append(st.conns, c)
	}
	started := st.started.Load()
	st.mu.Unlock()
	st.dialSettled()
	if stopped { // opened after the end (a slow connect): nothing to do
		c.Close()
		return
	}
	if started { // a late connection: startAll has passed it by; its schedule starts now
		b.begin(now, now)
	}
}

// begin starts the connection's load, once: connections wait for each
// other, so that the connect phase does not compete with the load. An
// open-loop schedule starts at origin, not when this connection's wake-up
// arrived: a wake-up late on a busy machine then sends what fell due
// meanwhile (timed from when it was due), instead of silently shifting the
// schedule and owing the window fewer messages.
func (b *bconn) begin(now, origin int64) {
	if b.begun {
		return
	}
	b.begun = true
	st := b.st
	if st.o.Mode == ModeSource {
		return
	}
	if st.interval > 0 {
		// Spread the connections' schedules over one interval, so that
		// they do not all send at the same instant.
		b.base = origin + int64(rand.Float64()*st.interval)
		b.c.SetTimer(time.Unix(0, b.base))
		return
	}
	b.fill(now)
}

// dueAt is when message k is due, open loop.
func (b *bconn) dueAt(k int64) int64 {
	return b.base + int64(float64(k)*b.st.interval)
}

// inFlight is how many messages are out and not complete: echoes not yet
// back, or for a sink, messages still queued in the engine.
func (b *bconn) inFlight() int64 {
	if b.st.o.Mode == ModeSink {
		return int64((b.c.Pending() + b.st.o.Size - 1) / b.st.o.Size)
	}
	return b.sent - b.done
}

// fill sends closed loop: as many messages as the window allows. A sink
// sends at most Depth per call, as a write the kernel takes at once leaves
// nothing queued to stop it; the engine calls OnDrain again for more.
func (b *bconn) fill(now int64) {
	if now >= b.st.r.winEnd.Load() {
		b.finished = true
		return
	}
	for i := 0; i < b.st.o.Depth && b.inFlight() < int64(b.st.o.Depth); i++ {
		if !b.send(now, now) {
			return
		}
	}
}

// pace sends open loop: every message that is due, as far as the window
// allows, then asks for a timer for the next one.
func (b *bconn) pace(now int64) {
	end := b.st.r.winEnd.Load()
	for {
		at := b.dueAt(b.sent)
		if at >= end {
			b.finished = true
			return
		}
		if at > now {
			b.c.SetTimer(time.Unix(0, at))
			return
		}
		if b.inFlight() >= int64(b.st.o.Depth) {
			return // an echo coming back sends the next
		}
		if !b.send(now, at) {
			return
		}
	}
}

// send writes message number b.sent, due at due.
func (b *bconn) send(now, due int64) bool {
	st := b.st
	msg := st.req
	if msg == nil {
		msg = st.s.message(b.seed, b.sentOff)
	}
	if _, err := b.c.Write(msg); err != nil {
		if !errors.Is(err, engine.ErrClosed) {
			st.r.fail("write", err)
			b.writeFailed = true // the same error closes the connection: count it once
		}
		b.finished = true
		return false
	}
	if b.due != nil {
		b.due[b.sent%int64(len(b.due))] = due
	}
	b.sent++
	b.sentOff += int64(len(msg))
	sink := st.o.Mode == ModeSink
	if sink {
		b.done++
	}
	st.r.sent(b.id, len(msg), sink, now)
	return true
}

// OnTimer starts the load (startAll wakes every connection) and paces an
// open loop.
func (b *bconn) OnTimer(c engine.Conn) {
	now := time.Now().UnixNano()
	switch {
	case !b.begun:
		b.begin(now, b.st.origin)
	case !b.finished && b.st.interval > 0:
		b.pace(now)
	}
}

// OnDrain keeps a closed-loop sink writing as the kernel takes its output.
func (b *bconn) OnDrain(c engine.Conn) {
	if b.st.o.Mode == ModeSink && b.st.interval == 0 && b.begun && !b.finished {
		b.fill(time.Now().UnixNano())
	}
}

func (b *bconn) OnData(c engine.Conn, in []byte) int {
	st := b.st
	now := time.Now().UnixNano()
	size := int64(st.o.Size)
	switch st.o.Mode {
	case ModeSource:
		before := b.recvOff / size
		b.recvOff += int64(len(in))
		n := b.recvOff/size - before
		st.r.read(b.id, len(in), int(n), int(n*size), nil, now)
		return len(in)
	case ModeSink:
		st.r.read(b.id, len(in), 0, 0, nil, now) // a sink's server should not answer; count and drop
		return len(in)
	case ModeHTTP:
		b.doneDue = b.doneDue[:0]
		k := b.httpData(in)
		b.recvOff += int64(k)
		n := len(b.doneDue)
		st.r.read(b.id, k, n, n*len(st.req), b.doneDue, now)
		if n > 0 && !b.finished {
			if st.interval > 0 {
				b.pace(now)
			} else {
				b.fill(now)
			}
		}
		return k
	}
	take := min(int64(len(in)), b.sentOff-b.recvOff)
	if st.verify && take > 0 {
		b.verify(in[:take])
	}
	if extra := int64(len(in)) - take; extra > 0 {
		st.r.extra(b.id, b.sentOff, int(extra), in[take])
	}
	b.recvOff += take
	b.doneDue = b.doneDue[:0]
	for b.done < b.recvOff/size {
		b.doneDue = append(b.doneDue, b.due[b.done%int64(len(b.due))])
		b.done++
	}
	n := len(b.doneDue)
	st.r.read(b.id, len(in), n, n*int(size), b.doneDue, now)
	if n > 0 {
		if !b.finished {
			if st.interval > 0 {
				b.pace(now)
			} else {
				b.fill(now)
			}
		}
	}
	return len(in)
}

// verify compares echoed bytes with what was sent at the same offsets,
// counting each message with a wrong byte once.
func (b *bconn) verify(got []byte) {
	st := b.st
	size := int64(st.o.Size)
	pos := int64(0)
	for pos < int64(len(got)) {
		i := st.s.check(b.seed, b.recvOff+pos, got[pos:])
		if i < 0 {
			return
		}
		off := b.recvOff + pos + int64(i)
		st.r.mismatch(b.id, off, st.s.expected(b.seed, off), got[pos+int64(i)])
		pos = (off/size+1)*size - b.recvOff // on to the next message
	}
}

func (b *bconn) OnPeerClose(c engine.Conn) {
	st := b.st
	if !b.finished && time.Now().UnixNano() < st.r.winEnd.Load() && st.o.Mode != ModeSource {
		st.r.failText("read: closed by the peer", "the server closed the connection (FIN) while the run was still sending")
	}
	c.Close()
}

func (b *bconn) OnClose(c engine.Conn, err error) {
	st := b.st
	if b.c == nil { // never connected (or its TLS handshake or WebSocket upgrade failed)
		// A dial the run itself cut short, interrupted while connecting,
		// is not the server's failure.
		if !errors.Is(err, engine.ErrShutdown) {
			st.r.fail("connect", err)
			st.r.failed.Add(1)
		}
		st.dialSettled()
		return
	}
	st.r.connsUp.Add(-1)
	if err != nil && !errors.Is(err, engine.ErrShutdown) {
		if !b.writeFailed {
			st.r.fail(opOf(err, "connection"), err)
		}
	} else if errors.Is(err, engine.ErrShutdown) {
		st.r.failText("drain: cut off", "the connection had not finished when the drain time ran out")
	}
	switch st.o.Mode {
	case ModeEcho:
		st.r.short(b.id, b.recvOff, b.sentOff-b.recvOff, uint64(b.sent-b.done))
	case ModeHTTP: // the requests still unanswered
		st.r.short(b.id, b.recvOff, (b.sent-b.done)*int64(len(st.req)), uint64(b.sent-b.done))
	}
	if b.st.interval > 0 {
		// Messages due in the window that never went out, because the
		// pipeline stayed full.
		end := st.r.winEnd.Load()
		var due int64 // messages k with base + k·interval < end
		if end > b.base {
			due = int64(float64(end-b.base-1)/st.interval) + 1
		}
		if due > b.sent {
			st.r.addUnsent(b.id, uint64(due-b.sent))
		}
	}
}
