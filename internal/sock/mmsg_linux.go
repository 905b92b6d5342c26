package sock

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RecvBatch receives up to a batch of datagrams with one recvmmsg(2) into
// buffers it owns, and names their senders through an AddrCache, so that a
// busy datagram socket allocates nothing per datagram. It belongs to one
// goroutine.
type RecvBatch struct {
	bufs  [][]byte
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	addrs *AddrCache
}

// NewRecvBatch makes a batch of n buffers of size bytes for a socket of
// network.
func NewRecvBatch(network string, n, size int) *RecvBatch {
	b := &RecvBatch{
		bufs:  make([][]byte, n),
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrAny, n),
		addrs: NewAddrCache(network),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
	}
	return b
}

// Cap is how many datagrams one Recv can take.
func (b *RecvBatch) Cap() int { return len(b.hdrs) }

// Recv takes what datagrams are queued on fd, up to Cap, and returns how
// many. ErrWouldBlock: none; ErrSkip: the socket reported an ICMP error
// about an earlier datagram (call again for the datagrams behind it).
func (b *RecvBatch) Recv(fd int) (int, error) {
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Flags = 0
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			return int(r), nil
		}
		if err, retry := result(callRecvmmsg, "recvmmsg", e); !retry {
			return 0, err
		}
	}
}

// Datagram returns the i-th datagram of the last Recv, valid until the
// next, and its sender: nil for an unnamed (unbound) unixgram sender, which
// cannot be answered.
func (b *RecvBatch) Datagram(i int) ([]byte, net.Addr) {
	return b.bufs[i][:b.hdrs[i].Len], b.addrs.Lookup(&b.names[i], b.hdrs[i].Hdr.Namelen)
}

// SendQueue holds datagrams waiting to leave with sendmmsg(2): their bytes
// in one arena, their addresses already in the kernel's form. It is not
// safe for concurrent use.
type SendQueue struct {
	q     []queued // the queue is q[head:]
	head  int
	arena []byte
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
}

type queued struct {
	off, n  int
	name    unix.RawSockaddrAny
	namelen uint32
	to      net.Addr
}

// sendBatch is the most datagrams one sendmmsg(2) is given.
const sendBatch = 64

// Len is the number of datagrams queued.
func (s *SendQueue) Len() int { return len(s.q) - s.head }

// Push queues a copy of p for to. It fails, queuing nothing, when to
// cannot be put in a sockaddr.
func (s *SendQueue) Push(p []byte, to net.Addr) error {
	var d queued
	namelen, err := PutRaw(&d.name, to)
	if err != nil {
		return err
	}
	d.namelen, d.to, d.n, d.off = namelen, to, len(p), len(s.arena)
	s.arena = append(s.arena, p...)
	s.q = append(s.q, d)
	return nil
}

// At returns the size and destination of the i-th queued datagram.
func (s *SendQueue) At(i int) (n int, to net.Addr) {
	d := &s.q[s.head+i]
	return d.n, d.to
}

// Data returns the bytes of the i-th queued datagram, valid until Drop.
func (s *SendQueue) Data(i int) []byte {
	d := &s.q[s.head+i]
	return s.arena[d.off : d.off+d.n]
}

// Send offers the datagrams at the head of the queue to fd and returns how
// many the kernel took; they stay queued until Drop. err is nil,
// ErrWouldBlock (the socket's buffer is full, or ENOBUFS: try again soon),
// or the failure of the datagram after the sent ones (it cannot be sent:
// no such socket file, too big; drop it and go on).
func (s *SendQueue) Send(fd int) (int, error) {
	n := min(s.Len(), sendBatch)
	if n == 0 {
		return 0, nil
	}
	if s.hdrs == nil {
		s.hdrs = make([]unix.Mmsghdr, sendBatch)
		s.iovs = make([]unix.Iovec, sendBatch)
	}
	hdrs, iovs := s.hdrs[:n], s.iovs[:n]
	for i := range hdrs {
		d := &s.q[s.head+i]
		iovs[i] = unix.Iovec{}
		if d.n > 0 {
			iovs[i].Base = &s.arena[d.off]
		}
		iovs[i].SetLen(d.n)
		hdrs[i] = unix.Mmsghdr{}
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&d.name))
		hdrs[i].Hdr.Namelen = d.namelen
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			return int(r), nil
		}
		if e == unix.ENOBUFS {
			return 0, ErrWouldBlock // per sendmmsg(2) on Linux, a transient shortage of buffers
		}
		if err, retry := result(callIO, "sendmmsg", e); !retry {
			return 0, err
		}
	}
}

// Drop removes the first k datagrams. The arena is reset when the queue
// empties, and compacted when its live part has moved past half, so that
// a queue that never empties does not grow it without bound.
func (s *SendQueue) Drop(k int) {
	clear(s.q[s.head : s.head+k]) // the addresses
	s.head += k
	if s.head == len(s.q) {
		s.q, s.head, s.arena = s.q[:0], 0, s.arena[:0]
		return
	}
	if base := s.q[s.head].off; base >= len(s.arena)/2 {
		m := copy(s.arena, s.arena[base:])
		s.arena = s.arena[:m]
		live := copy(s.q, s.q[s.head:])
		clear(s.q[live:])
		s.q, s.head = s.q[:live], 0
		for i := range s.q {
			s.q[i].off -= base
		}
	}
}
