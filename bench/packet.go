package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// runPackets runs the benchmark over datagram sockets (udp, unixgram).
// Datagrams have no connections to hold, so each socket is a connected
// socket with a sender and a receiver goroutine; Conns is the number of
// sockets. Every echoed datagram starts with its 8-byte sequence number,
// which finds the message it answers; a datagram not answered within the
// loss timeout counts as lost and frees its place in the pipeline.
func runPackets(ctx context.Context, o *Options, r *recorder) error {
	s := newStream(o.Payload, o.Size)
	r.sample(&r.base)
	prog := startProgress(o, r)
	defer prog.stop()
	var socks []*psock
	defer func() {
		for _, p := range socks {
			p.close()
		}
	}()
	var dir string
	if o.Endpoint.Network() == "unixgram" {
		d, err := os.MkdirTemp("", "sockit-bench-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(dir)
	}
	begin := time.Now()
	for i := 0; i < o.Conns; i++ {
		if o.ConnectRate > 0 {
			sleepUntil(ctx, begin.Add(time.Duration(float64(i)/o.ConnectRate*float64(time.Second))))
		}
		p, err := dialPacket(o, r, s, o.FirstID+i, dir)
		if err != nil {
			r.fail(opOf(err, "connect"), err)
			r.failed.Add(1)
			continue
		}
		socks = append(socks, p)
	}
	now := time.Now()
	r.winStart.Store(now.Add(o.Warmup).UnixNano())
	r.winEnd.Store(now.Add(o.Warmup + o.Duration).UnixNano())
	var wg sync.WaitGroup
	for _, p := range socks {
		wg.Add(2)
		go func() { defer wg.Done(); p.send(ctx, now) }()
		go func() { defer wg.Done(); p.receive() }()
	}
	prog.phase("warmup")
	sleepUntil(ctx, now.Add(o.Warmup))
	r.sample(&r.start)
	prog.phase("measure")
	sleepUntil(ctx, now.Add(o.Warmup+o.Duration))
	r.sample(&r.end)
	if ctx.Err() != nil {
		r.winEnd.Store(r.end.at)
	}
	prog.phase("drain")
	for _, p := range socks {
		p.stop(o.Drain)
	}
	wg.Wait()
	for _, p := range socks {
		p.countUnsent()
	}
	return nil
}

// psock is one datagram socket of the load.
type psock struct {
	o    *Options
	r    *recorder
	s    *stream
	id   int
	seed int
	c    net.Conn
	path string // unixgram: our own bound path, removed at the end

	mu      sync.Mutex
	cond    sync.Cond
	slots   []pslot // messages in flight, by sequence number mod Depth
	free    int
	seq     uint64 // the next sequence number
	ending  bool   // no more sends
	drainBy time.Time

	buf []byte // the sender's datagram

	// The sender's open-loop schedule: message k is due at base +
	// k·interval; next is the first message it did not send.
	base     int64
	interval float64
	next     int64
}

type pslot struct {
	busy bool
	seq  uint64
	due  int64
	sent int64
}

// lossTimeout is how long an echo may take before its datagram counts as
// lost.
const lossTimeout = time.Second

func dialPacket(o *Options, r *recorder, s *stream, id int, dir string) (*psock, error) {
	p := &psock{o: o, r: r, s: s, id: id, seed: s.seedFor(id), slots: make([]pslot, o.Depth), free: o.Depth, buf: make([]byte, o.Size)}
	p.cond.L = &p.mu
	var err error
	if o.Endpoint.Network() == "unixgram" {
		p.path = filepath.Join(dir, fmt.Sprintf("c%d.sock", id))
		p.c, err = net.DialUnix("unixgram", &net.UnixAddr{Name: p.path, Net: "unixgram"}, &net.UnixAddr{Name: o.Endpoint.Addr, Net: "unixgram"})
	} else {
		p.c, err = net.DialTimeout(o.Endpoint.Network(), o.Endpoint.Addr, o.ConnectTimeout)
	}
	if err != nil {
		return nil, err
	}
	r.connected(0)
	return p, nil
}

func (p *psock) close() {
	p.c.Close()
	if p.path != "" {
		os.Remove(p.path)
	}
}

// stop ends the sending and lets the receiver wait up to d for the echoes
// still due.
func (p *psock) stop(d time.Duration) {
	p.mu.Lock()
	p.ending = true
	p.drainBy = time.Now().Add(min(d, lossTimeout))
	p.cond.Broadcast()
	p.mu.Unlock()
	p.c.SetReadDeadline(time.Now()) // wake the receiver to look
}

// send writes datagrams until the window ends: closed loop whenever a place
// in the pipeline is free, open loop at the connection's share of Rate. An
// open-loop schedule starts at origin, the run's start, not when this
// goroutine first ran: one started late on a busy machine sends what fell
// due meanwhile, instead of shifting the schedule and owing the window
// fewer messages.
func (p *psock) send(ctx context.Context, origin time.Time) {
	o := p.o
	var interval float64
	base := origin
	if o.Rate > 0 {
		interval = float64(o.Conns) / o.Rate * float64(time.Second)
		base = base.Add(time.Duration(float64(p.id%o.Conns) / float64(o.Conns) * interval))
	}
	p.base, p.interval = base.UnixNano(), interval
	end := time.Unix(0, p.r.winEnd.Load())
	for p.next = 0; ; p.next++ {
		due := time.Now()
		if interval > 0 {
			due = base.Add(time.Duration(float64(p.next) * interval))
			if !due.Before(end) {
				return
			}
			sleepUntil(ctx, due) // the send schedule
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return
		}
		if !p.sendOne(due.UnixNano()) {
			return
		}
	}
}

// countUnsent counts, open loop, the messages due before the window's end
// that the sender never sent because the pipeline stayed full, as a stream
// connection does when it closes. It runs after the sender has returned.
func (p *psock) countUnsent() {
	end := p.r.winEnd.Load()
	if p.interval <= 0 || end <= p.base {
		return
	}
	due := int64(float64(end-p.base-1)/p.interval) + 1 // messages k with base + k·interval < end
	if due > p.next {
		p.r.addUnsent(p.id, uint64(due-p.next))
	}
}

// sendOne waits for a free place (echo mode), then sends one datagram.
func (p *psock) sendOne(due int64) bool {
	o := p.o
	p.mu.Lock()
	if o.Mode == ModeEcho {
		for p.free == 0 && !p.ending {
			p.cond.Wait()
		}
	}
	if p.ending {
		p.mu.Unlock()
		return false
	}
	if o.Mode == ModeEcho {
		// A free place need not be this sequence number's: an older
		// datagram may still wait there (lost, or answered out of order
		// after younger ones). Skip to a number whose place is free, so
		// that no datagram in flight is overwritten and forgotten.
		for p.slots[p.seq%uint64(len(p.slots))].busy {
			p.seq++
		}
	}
	seq := p.seq
	p.seq++
	if o.Mode == ModeEcho {
		p.slots[seq%uint64(len(p.slots))] = pslot{busy: true, seq: seq, due: due, sent: time.Now().UnixNano()}
		p.free--
	}
	p.mu.Unlock()

	copy(p.buf, p.s.message(p.seed, int64(seq)*int64(o.Size)))
	if o.Mode == ModeEcho {
		binary.BigEndian.PutUint64(p.buf, seq)
	}
	now := time.Now().UnixNano()
	if _, err := p.c.Write(p.buf); err != nil {
		p.r.fail(opOf(err, "write"), err)
		p.mu.Lock()
		if o.Mode == ModeEcho {
			p.slots[seq%uint64(len(p.slots))].busy = false
			p.free++
		}
		p.mu.Unlock()
		return !errors.Is(err, net.ErrClosed)
	}
	p.r.sent(p.id, len(p.buf), o.Mode == ModeSink, now)
	return true
}

// receive reads echoes, matches them to what is in flight, and expires
// datagrams that took longer than the loss timeout.
func (p *psock) receive() {
	o := p.o
	buf := make([]byte, maxDatagram+1)
	var due [1]int64
	for {
		p.c.SetReadDeadline(p.nextExpiry())
		n, err := p.c.Read(buf)
		now := time.Now().UnixNano()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if p.expire(now) {
					return
				}
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				p.r.fail(opOf(err, "read"), err)
			}
			if p.isEnding() {
				p.expire(time.Now().Add(time.Hour).UnixNano())
				return
			}
			continue // ICMP refusals on UDP: counted; go on until the end
		}
		if o.Mode != ModeEcho {
			p.r.read(p.id, n, 0, 0, nil, now)
			continue
		}
		if n < seqLen {
			p.r.read(p.id, n, 0, 0, nil, now)
			p.r.extra(p.id, 0, n, buf[0])
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		p.mu.Lock()
		sl := &p.slots[seq%uint64(len(p.slots))]
		match := sl.busy && sl.seq == seq
		if match {
			sl.busy = false
			p.free++
			p.cond.Signal()
		}
		d := sl.due
		p.mu.Unlock()
		off := int64(seq) * int64(o.Size)
		if !match { // a duplicate, or an echo after we gave it up for lost
			p.r.read(p.id, n, 0, 0, nil, now)
			p.r.extra(p.id, off, n, buf[0])
			continue
		}
		if n != o.Size {
			p.r.mismatch(p.id, off+int64(min(n, o.Size)), 0, 0)
		} else if !o.NoVerify {
			if i := p.s.check(p.seed, off+seqLen, buf[seqLen:n]); i >= 0 {
				at := off + seqLen + int64(i)
				p.r.mismatch(p.id, at, p.s.expected(p.seed, at), buf[seqLen+i])
			}
		}
		due[0] = d
		p.r.read(p.id, n, 1, n, due[:], now)
	}
}

func (p *psock) isEnding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ending
}

// nextExpiry is when the receiver must next look at its pipeline: the
// oldest datagram's loss timeout, or the drain's end.
func (p *psock) nextExpiry() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var at int64
	for i := range p.slots {
		if sl := &p.slots[i]; sl.busy && (at == 0 || sl.sent < at) {
			at = sl.sent
		}
	}
	t := time.Now().Add(lossTimeout)
	if at != 0 {
		t = time.Unix(0, at).Add(lossTimeout)
	}
	if p.ending && p.drainBy.Before(t) {
		t = p.drainBy
	}
	return t
}

// expire gives up on datagrams past the loss timeout (all of them once the
// drain is over) and reports whether the receiver is done.
func (p *psock) expire(now int64) (done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	drained := p.ending && now >= p.drainBy.UnixNano()
	for i := range p.slots {
		sl := &p.slots[i]
		if sl.busy && (drained || now-sl.sent >= int64(lossTimeout)) {
			sl.busy = false
			p.free++
			p.r.lost(p.id, int64(sl.seq)*int64(p.o.Size))
		}
	}
	p.cond.Broadcast()
	return p.ending && (drained || p.free == len(p.slots))
}
