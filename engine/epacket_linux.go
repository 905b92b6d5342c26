package engine

import (
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// Datagram batching. receive takes up to a batch of datagrams with one
// recvmmsg(2); replies written during the batch (from OnPacket) are queued
// and leave with one sendmmsg(2) after it. A reply the kernel cannot take
// now (EAGAIN: a full unixgram peer) stays queued, up to sendQueueMax, and
// is retried shortly.
const (
	udpBatch      = 32
	unixgramBatch = 8
	sendQueueMax  = 1024
	sendRetry     = time.Millisecond
	// sendGiveUp is how long the head of the queue may wait for a full
	// peer before it is dropped, so that one slow unixgram reader cannot
	// hold up the replies to every other peer.
	sendGiveUp = 100 * time.Millisecond
)

// epacket is a datagram socket (udp, unixgram) owned by one loop.
type epacket struct {
	l       *loop
	fd      int
	network string
	addr    net.Addr
	h       PacketHandler
	addrs   *sock.AddrCache

	// receive side, loop only
	rbufs  [][]byte
	rhdrs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrAny

	// send side: WriteTo may come from any goroutine
	mu      sync.Mutex
	inBatch bool // the loop is inside receive: queue, flush after
	queue   []outDatagram
	arena   []byte
	shdrs   []unix.Mmsghdr
	siovs   []unix.Iovec
	stuck   int64     // unix nanos when the head of the queue first met EAGAIN, 0 = not stuck
	retry   bool      // a retry is armed or on its way to the loop
	timer   timerSlot // the loop's; guarded by the loop, not mu
}

type outDatagram struct {
	off, n  int
	name    unix.RawSockaddrAny
	namelen uint32
	to      net.Addr // for narration and errors
}

func (p *epacket) LocalAddr() net.Addr { return p.addr }

func (p *epacket) init() {
	batch, size := udpBatch, 64<<10
	if p.network == "unixgram" {
		batch, size = unixgramBatch, maxDatagram
	}
	p.addrs = sock.NewAddrCache(p.network)
	p.rbufs = make([][]byte, batch)
	p.rhdrs = make([]unix.Mmsghdr, batch)
	p.riovs = make([]unix.Iovec, batch)
	p.rnames = make([]unix.RawSockaddrAny, batch)
	for i := range p.rbufs {
		p.rbufs[i] = make([]byte, size)
	}
}

// WriteTo sends one datagram. Called from OnPacket it is queued and sent
// with the batch's sendmmsg(2); elsewhere it is sent at once.
func (p *epacket) WriteTo(b []byte, addr net.Addr) (int, error) {
	var d outDatagram
	namelen, err := sock.PutRaw(&d.name, addr)
	if err != nil {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), err)
	}
	d.namelen, d.to, d.n = namelen, addr, len(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), ErrClosed)
	}
	if len(p.queue) >= sendQueueMax {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), os.NewSyscallError("sendto", unix.ENOBUFS))
	}
	d.off = len(p.arena)
	p.arena = append(p.arena, b...)
	p.queue = append(p.queue, d)
	if !p.inBatch {
		p.flushLocked()
	}
	return len(b), nil
}

// receive reads datagrams with recvmmsg until the socket is empty or a few
// batches have been served, then sends the replies.
func (p *epacket) receive(l *loop) {
	if p.rbufs == nil {
		p.init()
	}
	s := l.b.s
	p.mu.Lock()
	p.inBatch = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inBatch = false
		p.flushLocked()
		p.mu.Unlock()
	}()
	for round := 0; round < 4; round++ {
		for i := range p.rhdrs {
			p.riovs[i].Base = &p.rbufs[i][0]
			p.riovs[i].SetLen(len(p.rbufs[i]))
			h := &p.rhdrs[i].Hdr
			h.Name = (*byte)(unsafe.Pointer(&p.rnames[i]))
			h.Namelen = unix.SizeofSockaddrAny
			h.Iov = &p.riovs[i]
			h.SetIovlen(1)
			h.Flags = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.rhdrs[0])), uintptr(len(p.rhdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR || e == unix.ECONNREFUSED {
			return // ECONNREFUSED: an ICMP error about an earlier datagram
		}
		if e != 0 {
			s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Err: os.NewSyscallError("recvmmsg", e)})
			return
		}
		n := int(r)
		for i := 0; i < n; i++ {
			size := int(p.rhdrs[i].Len)
			from := p.addrs.Lookup(&p.rnames[i], p.rhdrs[i].Hdr.Namelen)
			s.c.bytesIn.Add(uint64(size))
			s.c.pktIn.Add(1)
			if s.obs != nil {
				s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Peer: from, N: size})
			}
			p.h.OnPacket(p, p.rbufs[i][:size], from)
		}
		if n < len(p.rhdrs) {
			return
		}
	}
}

// flushLocked sends queued datagrams with sendmmsg; p.mu must be held.
func (p *epacket) flushLocked() {
	s := p.l.b.s
	for len(p.queue) > 0 {
		n := min(len(p.queue), 64)
		if cap(p.shdrs) < n {
			p.shdrs = make([]unix.Mmsghdr, 64)
			p.siovs = make([]unix.Iovec, 64)
		}
		hdrs, iovs := p.shdrs[:n], p.siovs[:n]
		for i := range hdrs {
			d := &p.queue[i]
			iovs[i] = unix.Iovec{}
			if d.n > 0 {
				iovs[i].Base = &p.arena[d.off]
			}
			iovs[i].SetLen(d.n)
			hdrs[i] = unix.Mmsghdr{}
			hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&d.name))
			hdrs[i].Hdr.Namelen = d.namelen
			hdrs[i].Hdr.Iov = &iovs[i]
			hdrs[i].Hdr.SetIovlen(1)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		sent := int(r)
		if e != 0 {
			sent = 0
		}
		for i := 0; i < sent; i++ {
			d := &p.queue[i]
			s.c.bytesOut.Add(uint64(d.n))
			s.c.pktOut.Add(1)
			if s.obs != nil {
				s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Peer: d.to, N: d.n})
			}
		}
		if sent > 0 {
			p.stuck = 0
		}
		switch {
		case e == unix.EAGAIN || e == unix.ENOBUFS:
			now := time.Now().UnixNano()
			if sent == 0 && p.stuck != 0 && now-p.stuck >= int64(sendGiveUp) {
				sent = 1 // the head's peer is not reading: drop it, go on
				p.stuck = 0
				break
			}
			if p.stuck == 0 {
				p.stuck = now
			}
			p.queue = p.queue[sent:]
			p.compact()
			p.retryLater()
			return
		case e == unix.EINTR:
			continue
		case e != 0:
			// This datagram cannot be sent (no such socket file, too big):
			// report it and go on with the rest.
			if s.obs != nil {
				d := &p.queue[0]
				s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Peer: d.to, Err: os.NewSyscallError("sendmmsg", e)})
			}
			sent = 1
		}
		p.queue = p.queue[sent:]
	}
	p.queue = p.queue[:0]
	p.arena = p.arena[:0]
}

// compact moves the queued datagrams' bytes to the front of the arena, so
// that a queue that never empties does not grow it without bound.
func (p *epacket) compact() {
	if len(p.queue) == 0 || p.queue[0].off < len(p.arena)/2 {
		return
	}
	base := p.queue[0].off
	n := copy(p.arena, p.arena[base:])
	p.arena = p.arena[:n]
	for i := range p.queue {
		p.queue[i].off -= base
	}
}

// retryLater asks the loop to try the queue again shortly. Only the loop
// may touch its timer heap, so this posts a task; p.mu must be held.
func (p *epacket) retryLater() {
	if !p.retry {
		p.retry = true
		p.l.post(task{kind: taskPacketRetry, pk: p})
	}
}

func (p *epacket) slot() *timerSlot { return &p.timer }

func (p *epacket) fire(int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retry = false
	if p.fd >= 0 {
		p.flushLocked()
	}
	return 0
}
