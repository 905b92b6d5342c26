package sockapi

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/icmpwatch"
	"github.com/sockit/sockit/internal/sock"
)

// Socket is what a Conn needs of a socket: its descriptor and its
// deadlines. *net.TCPConn, *net.UDPConn, *net.UnixConn and a pollable
// *os.File have them.
type Socket interface {
	syscall.Conn
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Conn makes socket API calls on one socket and reports each to an
// observer. Its methods may be called from any goroutine, as package
// net's may; one read and one write may be in progress at once. A Conn
// does not own the socket: closing it is its maker's business.
type Conn struct {
	s       Socket
	rc      syscall.RawConn
	fd      int
	network string
	obs     sockit.Observer
	stream  bool // SOCK_STREAM: a read of 0 bytes is the end of the stream
	// unconnected: a datagram socket without a peer when New looked
	// (getpeername failed): RecvAuto is recvfrom.
	unconnected bool

	shutRD   atomic.Bool // SHUT_RD was called: a read of 0 is ours, not the peer's FIN
	blocking atomic.Bool // a MSG_WAITALL recv is blocked in the kernel

	mu  sync.Mutex
	rdl time.Time // the read deadline, which bounds a MSG_WAITALL recv
}

// New wraps s, a socket of network ("tcp", "udp6", "unix", ...), whose
// calls obs hears of (nil: none).
func New(s Socket, network string, obs sockit.Observer) (*Conn, error) {
	rc, err := s.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &Conn{s: s, rc: rc, fd: -1, network: network, obs: obs}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		c.fd = int(fd)
		c.stream, serr = isStream(int(fd))
		c.unconnected = !c.stream && !hasPeer(int(fd))
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return c, nil
}

// FD is the socket's descriptor number.
func (c *Conn) FD() int { return c.fd }

// SetReadDeadline sets the deadline of reads, as net.Conn's does. A
// MSG_WAITALL recv blocked in the kernel cannot see a deadline move: a
// deadline that has already passed wakes it with shutdown(SHUT_RD), after
// which reads return 0 — use it to give up on the connection.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	err := c.s.SetReadDeadline(t)
	if !t.IsZero() && !t.After(time.Now()) && c.blocking.Load() {
		c.control(func(fd int) error { return shutdown(fd, ShutRD) })
	}
	return err
}

// SetWriteDeadline sets the deadline of writes, as net.Conn's does.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

func (c *Conn) readDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rdl
}

// Read is read(2).
func (c *Conn) Read(p []byte) (int, error) {
	var n int
	err := c.read(0, func(fd int) (err error) { n, err = read(fd, p); return err })
	c.reportRead("", n, p, nil, err)
	return n, c.wrap("read", err)
}

// Recv is recv(2) with flags f: recvfrom(2) without an address.
func (c *Conn) Recv(p []byte, f Flags) (int, error) {
	var n int
	err := c.read(f, func(fd int) (err error) { n, _, err = recvfrom(fd, p, f); return err })
	c.reportRead(callName("recv", f), n, p, nil, err)
	return n, c.wrap("recv", err)
}

// RecvFrom is recvfrom(2) with flags f; from is the sender, nil for an
// unnamed one (or on a connected stream, where Linux tells none).
func (c *Conn) RecvFrom(p []byte, f Flags) (n int, from net.Addr, err error) {
	err = c.read(f, func(fd int) (err error) { n, from, err = recvfrom(fd, p, f); return err })
	c.reportRead(callName("recvfrom", f), n, p, from, err)
	return n, from, c.wrap("recvfrom", err)
}

// MaxRights is how many descriptors one RecvMsg has room for; per
// unix(7), those beyond it are closed by the kernel and the message
// comes with MSG_CTRUNC.
const MaxRights = 16

// Msg is what recvmsg(2) returned.
type Msg struct {
	N     int      // bytes of data
	Flags Flags    // msg_flags: Trunc, CTrunc, EOR, OOB
	From  net.Addr // the sender, when the kernel names one
	Ancillary
}

// Ancillary is the control data of sendmsg(2) and recvmsg(2) sockit
// speaks: descriptors passed over a Unix socket, and credentials.
type Ancillary struct {
	// Rights are SCM_RIGHTS descriptors. Those RecvMsg returns are open
	// in this process (close-on-exec) and are the caller's to close.
	Rights []int
	// Cred is SCM_CREDENTIALS (Linux): the sender's process, user and
	// group, checked by the kernel. To receive it the socket needs
	// SetPassCred.
	Cred *Cred
}

// DescribeFD says what a descriptor is, as fstat(2) tells it: "regular
// file, 42 bytes", "pipe", "socket".
func DescribeFD(fd int) string { return sock.DescribeFD(fd) }

// Cred is a process's credentials as the kernel vouches for them
// (SO_PEERCRED, SCM_CREDENTIALS).
type Cred struct {
	PID      int32
	UID, GID uint32
}

func (c Cred) String() string {
	return fmt.Sprintf("pid %d uid %d gid %d", c.PID, c.UID, c.GID)
}

// String says what the ancillary data holds, e.g. "SCM_RIGHTS fd 9
// (regular file, 42 bytes)", or "" for none.
func (a Ancillary) String() string {
	var parts []string
	for _, fd := range a.Rights {
		parts = append(parts, "SCM_RIGHTS fd "+strconv.Itoa(fd)+" ("+DescribeFD(fd)+")")
	}
	if a.Cred != nil {
		parts = append(parts, "SCM_CREDENTIALS "+a.Cred.String())
	}
	return strings.Join(parts, "; ")
}

// RecvMsg is recvmsg(2) with flags f and room for MaxRights descriptors
// and a credential. Descriptors that arrive are reported (StepAncillary)
// and returned open.
func (c *Conn) RecvMsg(p []byte, f Flags) (Msg, error) {
	var m Msg
	err := c.read(f, func(fd int) (err error) { m, err = recvmsg(fd, p, f); return err })
	c.reportRead(callName("recvmsg", f), m.N, p, m.From, err)
	if err == nil && c.obs != nil {
		if s := m.Ancillary.String(); s != "" {
			c.obs.Observe(sockit.Event{Step: sockit.StepAncillary, FD: c.fd, Net: c.network, Detail: s})
		}
		if m.Flags&(Trunc|CTrunc) != 0 {
			c.obs.Observe(sockit.Event{Step: sockit.StepAncillary, FD: c.fd, Net: c.network, Detail: "msg_flags " + (m.Flags & (Trunc | CTrunc)).String() + ": part of the message was lost"})
		}
	}
	return m, c.wrap("recvmsg", err)
}

// Readv is readv(2) into bufs, filled in order.
func (c *Conn) Readv(bufs [][]byte) (int, error) {
	var n int
	err := c.read(0, func(fd int) (err error) { n, err = readv(fd, bufs); return err })
	var first []byte
	if len(bufs) > 0 {
		first = bufs[0]
	}
	c.reportRead("readv("+vectors(bufs)+")", n, first, nil, err)
	return n, c.wrap("readv", err)
}

// Write is write(2).
func (c *Conn) Write(p []byte) (int, error) {
	var n int
	err := c.write(0, func(fd int) (err error) { n, err = write(fd, p); return err })
	c.reportWrite("", n, p, nil, "", err)
	return n, c.wrap("write", err)
}

// Send is send(2) with flags f. With OOB, the last byte of p is TCP's
// urgent byte (per tcp(7), only one byte is urgent).
func (c *Conn) Send(p []byte, f Flags) (int, error) {
	var n int
	err := c.write(f, func(fd int) (err error) { n, err = sendto(fd, p, f, nil); return err })
	c.reportWrite(callName("send", f), n, p, nil, "", err)
	return n, c.wrap("send", err)
}

// SendTo is sendto(2) with flags f to to; a nil to is send(2).
func (c *Conn) SendTo(p []byte, f Flags, to net.Addr) (int, error) {
	var n int
	err := c.write(f, func(fd int) (err error) { n, err = sendto(fd, p, f, to); return err })
	c.reportWrite(callName("sendto", f), n, p, to, "", err)
	return n, c.wrap("sendto", err)
}

// SendMsg is sendmsg(2) of p with ancillary data a and flags f, to to
// (nil on a connected socket).
func (c *Conn) SendMsg(p []byte, a Ancillary, f Flags, to net.Addr) (int, error) {
	var n int
	err := c.write(f, func(fd int) (err error) { n, err = sendmsg(fd, p, a, f, to); return err })
	c.reportWrite(callName("sendmsg", f), n, p, to, a.String(), err)
	return n, c.wrap("sendmsg", err)
}

// Writev is writev(2) of bufs, gathered in order.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	var n int
	err := c.write(0, func(fd int) (err error) { n, err = writev(fd, bufs); return err })
	var first []byte
	if len(bufs) > 0 {
		first = bufs[0]
	}
	c.reportWrite("writev("+vectors(bufs)+")", n, first, nil, "", err)
	return n, c.wrap("writev", err)
}

// RecvWith receives with call (flags f apply to the calls that take
// them) into p; readv splits p in two vectors. from is the sender where
// the call tells it. RecvAuto is recvfrom on a datagram socket that had no
// peer when New looked, else recv with flags and read without.
func (c *Conn) RecvWith(call RecvCall, p []byte, f Flags) (n int, from net.Addr, err error) {
	if call == RecvAuto {
		switch {
		case c.unconnected:
			call = RecvFrom
		case f != 0:
			call = Recv
		default:
			call = Read
		}
	}
	switch call {
	case Recv:
		n, err = c.Recv(p, f)
	case RecvFrom:
		n, from, err = c.RecvFrom(p, f)
	case RecvMsg:
		var m Msg
		m, err = c.RecvMsg(p, f)
		n, from = m.N, m.From
		for _, fd := range m.Rights {
			sock.CloseFDs([]int{fd}) // nobody here takes them
		}
	case Readv:
		n, err = c.Readv(split(p))
	default:
		n, err = c.Read(p)
	}
	return n, from, err
}

// SendWith sends p with call (flags f apply to the calls that take them),
// to to for sendto and sendmsg (nil on a connected socket); writev sends
// p as two vectors. SendAuto is sendto when to is set, else send with
// flags and write without.
func (c *Conn) SendWith(call SendCall, p []byte, f Flags, to net.Addr) (int, error) {
	if call == SendAuto {
		switch {
		case to != nil:
			call = SendTo
		case f != 0:
			call = Send
		default:
			call = Write
		}
	}
	switch call {
	case Send:
		return c.Send(p, f)
	case SendTo:
		return c.SendTo(p, f, to)
	case SendMsg:
		return c.SendMsg(p, Ancillary{}, f, to)
	case Writev:
		return c.Writev(split(p))
	}
	return c.Write(p)
}

// Supported reports whether the platform has the calls (Linux and the
// BSDs); elsewhere each fails with ErrUnsupported.
func Supported() bool { return supported }

// split cuts p in two vectors, so that a vectored call is seen to gather
// or scatter; fewer than two bytes stay one vector.
func split(p []byte) [][]byte {
	if len(p) < 2 {
		return [][]byte{p}
	}
	h := len(p) / 2
	return [][]byte{p[:h:h], p[h:]}
}

// vectors describes iovecs: "2 vectors: 3+3 bytes".
func vectors(bufs [][]byte) string {
	sizes := make([]string, len(bufs))
	for i, b := range bufs {
		sizes[i] = strconv.Itoa(len(b))
	}
	noun := "vectors"
	if len(bufs) == 1 {
		noun = "vector"
	}
	return strconv.Itoa(len(bufs)) + " " + noun + ": " + strings.Join(sizes, "+") + " bytes"
}

// WaitReadable waits until the socket has something to read (data, end
// of file or an error), within the read deadline, as poll(2) with POLLIN
// would, and makes no call that takes anything. A program that got
// EAGAIN from a MSG_DONTWAIT recv waits so before it calls again.
func (c *Conn) WaitReadable() error {
	first := true
	return c.rc.Read(func(fd uintptr) bool {
		if first { // before any wait: it may be readable already
			first = false
			return readable(int(fd))
		}
		return true
	})
}

// Shutdown is shutdown(2). ShutNone does nothing.
func (c *Conn) Shutdown(h How) error {
	if h == ShutNone {
		return nil
	}
	// Marked before the call: a read in another goroutine may return 0
	// for it before shutdown(2) itself has returned here.
	was := c.shutRD.Load()
	if h.Reads() {
		c.shutRD.Store(true)
	}
	err := c.control(func(fd int) error { return shutdown(fd, h) })
	if err != nil {
		c.shutRD.Store(was)
	}
	if c.obs != nil {
		c.obs.Observe(sockit.Event{Step: sockit.StepShutdown, FD: c.fd, Net: c.network, Detail: h.String(), Err: err})
	}
	return c.wrap("shutdown", err)
}

// AtMark is ioctl(SIOCATMARK): whether the next byte to read is where
// the urgent data was (per tcp(7), a read stops before that mark).
func (c *Conn) AtMark() (bool, error) {
	var at bool
	err := c.control(func(fd int) (err error) { at, err = atMark(fd); return err })
	return at, c.wrap("ioctl", err)
}

// SetOOBInline sets SO_OOBINLINE: urgent data stays in the stream, in
// order, instead of waiting for a recv with MSG_OOB.
func (c *Conn) SetOOBInline(on bool) error {
	return c.setsockopt("SO_OOBINLINE", on, setOOBInline)
}

// PeerCred is getsockopt(SO_PEERCRED) on a Unix socket: the process that
// connected (or listened), as the kernel recorded it at connect(2).
func (c *Conn) PeerCred() (Cred, error) {
	var cr Cred
	err := c.control(func(fd int) (err error) { cr, err = peerCred(fd); return err })
	return cr, c.wrap("getsockopt", err)
}

// SetPassCred sets SO_PASSCRED: each message received carries the
// sender's SCM_CREDENTIALS (Linux).
func (c *Conn) SetPassCred(on bool) error {
	return c.setsockopt("SO_PASSCRED", on, setPassCred)
}

// SetRecvErr sets IP_RECVERR (IPV6_RECVERR on IPv6): an ICMP error about
// a datagram this socket sent is reported even though it is not
// connected, and QueuedError tells where it came from (Linux).
func (c *Conn) SetRecvErr(on bool) error {
	return c.setsockopt("IP_RECVERR", on, setRecvErr)
}

// QueuedError takes the oldest error from the socket's error queue
// (recvmsg with MSG_ERRQUEUE, per ip(7)): what an ICMP message said about
// a datagram sent earlier. It returns nil, nil when the queue is empty.
func (c *Conn) QueuedError() (*QueuedError, error) {
	var q *QueuedError
	err := c.control(func(fd int) (err error) { q, err = queuedError(fd); return err })
	return q, c.wrap("recvmsg", err)
}

// QueuedError is one entry of a socket's error queue: an ICMP (or ICMPv6)
// message about a datagram this socket sent (struct sock_extended_err).
type QueuedError struct {
	Errno    syscall.Errno // what the kernel made of it: ECONNREFUSED, EHOSTUNREACH, ...
	ICMP     bool          // it came from an ICMP or ICMPv6 message (else from this host's own stack)
	V6       bool          // ICMPv6
	Type     uint8         // the ICMP type and code
	Code     uint8
	Offender net.Addr // the host that sent the ICMP message
	To       net.Addr // where the datagram it is about was going
}

func (q *QueuedError) Error() string {
	if !q.ICMP {
		return "a local error: " + q.Errno.Error()
	}
	s := icmpwatch.Text(q.V6, q.Type, q.Code)
	if q.Offender != nil {
		s += " from " + q.Offender.String()
	}
	if q.To != nil {
		s += " about a datagram to " + q.To.String()
	}
	return s
}

// Unwrap is the errno.
func (q *QueuedError) Unwrap() error { return q.Errno }

func (c *Conn) setsockopt(name string, on bool, set func(fd int, on bool) error) error {
	err := c.control(func(fd int) error { return set(fd, on) })
	if c.obs != nil {
		v := "0"
		if on {
			v = "1"
		}
		c.obs.Observe(sockit.Event{Step: sockit.StepSetsockopt, FD: c.fd, Net: c.network, Detail: name + "=" + v, Err: err})
	}
	return c.wrap("setsockopt", err)
}

// read runs op when the socket is readable: again after EAGAIN once it is
// ready, unless f has DontWait; with WaitAll, once on a blocking socket.
func (c *Conn) read(f Flags, op func(fd int) error) error {
	if f&WaitAll != 0 && f&DontWait == 0 {
		return c.blockingRead(op)
	}
	var opErr error
	err := c.rc.Read(func(fd uintptr) bool {
		opErr = op(int(fd))
		return f&DontWait != 0 || !errors.Is(opErr, syscall.EAGAIN)
	})
	if err != nil {
		return err
	}
	return opErr
}

// blockingRead makes op on the socket with O_NONBLOCK cleared and
// SO_RCVTIMEO set to what is left of the read deadline.
func (c *Conn) blockingRead(op func(fd int) error) error {
	var opErr error
	err := c.rc.Read(func(fd uintptr) bool {
		c.blocking.Store(true)
		defer c.blocking.Store(false)
		opErr = blocking(int(fd), c.readDeadline(), op)
		return true
	})
	if err != nil {
		return err
	}
	return opErr
}

func (c *Conn) write(f Flags, op func(fd int) error) error {
	var opErr error
	err := c.rc.Write(func(fd uintptr) bool {
		opErr = op(int(fd))
		return f&DontWait != 0 || !errors.Is(opErr, syscall.EAGAIN)
	})
	if err != nil {
		return err
	}
	return opErr
}

func (c *Conn) control(op func(fd int) error) error {
	var opErr error
	if err := c.rc.Control(func(fd uintptr) { opErr = op(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// wrap names the call in err, as package os does.
func (c *Conn) wrap(call string, err error) error {
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		return err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return err
	}
	return &os.SyscallError{Syscall: call, Err: err}
}

// made reports whether a call that ended with err was made: a deadline
// that passed while it waited, or a socket closed meanwhile, ends it
// before the kernel is asked, and is not reported as a call.
func made(err error) bool {
	var errno syscall.Errno
	return err == nil || errors.As(err, &errno)
}

func (c *Conn) reportRead(call string, n int, p []byte, from net.Addr, err error) {
	if c.obs == nil || !made(err) {
		return
	}
	e := sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.network, Call: call, N: n, Err: err}
	if from != nil {
		e.Step, e.Peer = sockit.StepRecvFrom, from
	}
	if errors.Is(err, syscall.ECONNRESET) && c.shutRD.Load() {
		// Linux resets a connection whose reading was shut down when
		// data comes after its FIN (tcp_rcv_state_process, counted as
		// TCPAbortOnData in nstat).
		e.Detail = "data came after our shutdown(SHUT_RD), and the kernel answered it with RST"
	}
	if err == nil {
		e.Data = p[:min(n, len(p))]
		if n == 0 && e.Step == sockit.StepRead {
			switch {
			case !c.stream:
				e.Detail = "an empty datagram"
			case c.shutRD.Load():
				e.Detail = "end of file: reading was shut down here (SHUT_RD)"
			}
		}
	}
	c.obs.Observe(e)
}

func (c *Conn) reportWrite(call string, n int, p []byte, to net.Addr, detail string, err error) {
	if c.obs == nil || !made(err) {
		return
	}
	e := sockit.Event{Step: sockit.StepWrite, FD: c.fd, Net: c.network, Call: call, N: n, Detail: detail, Err: err}
	if to != nil {
		e.Step, e.Peer = sockit.StepSendTo, to
	}
	if err == nil {
		e.Data = p[:min(n, len(p))]
	}
	c.obs.Observe(e)
}

// callName writes a call with its flags as C would pass them: "recv",
// "recv(MSG_PEEK)".
func callName(call string, f Flags) string {
	if f == 0 {
		return call
	}
	return call + "(" + f.String() + ")"
}
