package engine

import (
	"net"
	"strconv"
	"sync"
	"time"

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
	fd      int // under mu once registered: WriteTo reads it from any goroutine
	network string
	addr    net.Addr
	h       PacketHandler
	rb      *sock.RecvBatch // loop only

	// send side: WriteTo may come from any goroutine
	mu      sync.Mutex
	inBatch bool // the loop is inside receive: queue, flush after
	queue   sock.SendQueue
	stuck   int64     // unix nanos when the head of the queue first met EAGAIN, 0 = not stuck
	retry   bool      // a retry is armed or on its way to the loop
	timer   timerSlot // the loop's; guarded by the loop, not mu
	id      uint32    // uring: what its requests name; loop only
	armed   bool      // uring: a poll is in flight; loop only
}

func (p *epacket) LocalAddr() net.Addr { return p.addr }

// open reports whether the socket is still open.
func (p *epacket) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fd >= 0
}

// WriteTo sends one datagram. Called from OnPacket it is queued and sent
// with the batch's sendmmsg(2); elsewhere it is sent at once.
func (p *epacket) WriteTo(b []byte, addr net.Addr) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), ErrClosed)
	}
	if p.queue.Len() >= sendQueueMax {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), errNoBuffers())
	}
	if err := p.queue.Push(b, addr); err != nil {
		return 0, sockit.Wrap("sendto", p.network, addrText(addr), err)
	}
	if !p.inBatch {
		p.flushLocked()
	}
	return len(b), nil
}

// receive reads datagrams with recvmmsg until the socket is empty or a few
// batches have been served, then sends the replies.
func (p *epacket) receive(l *loop) {
	if p.rb == nil {
		batch, size := udpBatch, 64<<10
		if p.network == "unixgram" {
			batch, size = unixgramBatch, maxDatagram
		}
		p.rb = sock.NewRecvBatch(p.network, batch, size)
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
		n, err := p.rb.Recv(p.fd)
		switch err {
		case nil:
		case sock.ErrSkip: // an ICMP error about an earlier datagram
			continue
		case sock.ErrWouldBlock:
			return
		default:
			s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Call: "recvmmsg", Err: err})
			return
		}
		for i := 0; i < n; i++ {
			data, from := p.rb.Datagram(i)
			s.c.bytesIn.Add(uint64(len(data)))
			s.c.pktIn.Add(1)
			if s.obs != nil {
				s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Call: "recvmmsg", Peer: from, N: len(data), Data: data,
					Detail: batchDetail(i, n)})
			}
			p.h.OnPacket(p, data, from)
		}
		if n < p.rb.Cap() {
			return
		}
	}
}

// batchDetail says which datagram of a recvmmsg or sendmmsg batch an
// event is about: "datagram 1 of 3".
func batchDetail(i, n int) string {
	return "datagram " + strconv.Itoa(i+1) + " of " + strconv.Itoa(n)
}

// flushLocked sends queued datagrams with sendmmsg; p.mu must be held.
func (p *epacket) flushLocked() {
	s := p.l.b.s
	for p.queue.Len() > 0 {
		sent, err := p.queue.Send(p.fd)
		for i := 0; i < sent; i++ {
			n, to := p.queue.At(i)
			s.c.bytesOut.Add(uint64(n))
			s.c.pktOut.Add(1)
			if s.obs != nil {
				s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Call: "sendmmsg", Peer: to, N: n,
					Data: p.queue.Data(i), Detail: batchDetail(i, sent)})
			}
		}
		if sent > 0 {
			p.stuck = 0
		}
		switch {
		case err == sock.ErrWouldBlock:
			now := time.Now().UnixNano()
			if sent == 0 && p.stuck != 0 && now-p.stuck >= int64(sendGiveUp) {
				p.queue.Drop(1) // the head's peer is not reading: drop it, go on
				p.stuck = 0
				continue
			}
			if p.stuck == 0 {
				p.stuck = now
			}
			p.queue.Drop(sent)
			p.retryLater()
			return
		case err != nil:
			// The datagram after those sent cannot be sent (no such socket
			// file, too big): report it and go on with the rest.
			_, to := p.queue.At(sent)
			s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Call: "sendmmsg", Peer: to, Err: err})
			sent++
		}
		p.queue.Drop(sent)
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

// close closes the socket; WriteTo fails from then on. Loop only.
func (p *epacket) close() {
	l := p.l
	l.timers.remove(p)
	p.mu.Lock()
	fd := p.fd
	var err error
	if l.u != nil {
		l.unregister(p.id, p.armed, udPacket, fd)
	} else {
		l.unwatch(p.fd, p.network)
		l.setOther(p.fd, pollee{})
		err = sock.Close(fd)
	}
	p.fd = -1
	p.mu.Unlock()
	l.b.s.observe(sockit.Event{Step: sockit.StepClose, FD: fd, Net: p.network, Local: p.addr, Detail: "datagram socket " + p.addr.String(), Err: err})
}
