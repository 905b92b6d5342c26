package engine

import (
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// epacket is a datagram socket (udp, unixgram) owned by one loop.
type epacket struct {
	l       *loop
	fd      int
	network string
	addr    net.Addr
	h       PacketHandler
	buf     []byte
}

func (p *epacket) LocalAddr() net.Addr { return p.addr }

// WriteTo sends one datagram with sendto(2). The socket is non-blocking: if
// the send buffer is full the datagram is not sent and the error says so,
// as datagram delivery is never guaranteed anyway.
func (p *epacket) WriteTo(b []byte, addr net.Addr) (int, error) {
	s := p.l.b.s
	sa, err := sock.Sockaddr(addr)
	if err == nil {
		err = unix.Sendto(p.fd, b, 0, sa)
		if err == unix.EINTR {
			err = unix.Sendto(p.fd, b, 0, sa)
		}
		err = os.NewSyscallError("sendto", err)
	}
	n := 0
	if err == nil {
		n = len(b)
		s.c.bytesOut.Add(uint64(n))
		s.c.pktOut.Add(1)
	}
	if s.obs != nil {
		s.observe(sockit.Event{Step: sockit.StepSendTo, FD: p.fd, Net: p.network, Peer: addr, N: n, Err: err})
	}
	return n, sockit.Wrap("sendto", p.network, addrText(addr), err)
}

// receive reads up to a batch of datagrams and hands each to the handler.
func (p *epacket) receive(l *loop) {
	s := l.b.s
	if p.buf == nil {
		p.buf = make([]byte, maxDatagram)
	}
	for i := 0; i < 64; i++ {
		n, from, err := unix.Recvfrom(p.fd, p.buf, 0)
		if err == unix.EAGAIN {
			return
		}
		if err == unix.EINTR || err == unix.ECONNREFUSED {
			continue // an ICMP error about an earlier datagram, not this socket's
		}
		if err != nil {
			s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Err: os.NewSyscallError("recvfrom", err)})
			return
		}
		var addr net.Addr
		if from != nil {
			addr = sock.Addr(p.network, from)
			if ua, ok := addr.(*net.UnixAddr); ok && ua.Name == "" {
				addr = nil
			}
		}
		s.c.bytesIn.Add(uint64(n))
		s.c.pktIn.Add(1)
		if s.obs != nil {
			s.observe(sockit.Event{Step: sockit.StepRecvFrom, FD: p.fd, Net: p.network, Peer: addr, N: n})
		}
		p.h.OnPacket(p, p.buf[:n], addr)
	}
}
