package sock

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
)

// This file holds the raw calls the engine's event loops make on their
// non-blocking, close-on-exec descriptors. Each function makes one system
// call (again only after EINTR), names that call in its error, and reports
// "nothing to do now" as ErrWouldBlock rather than as a failure. Which
// errno means what is decided in one place, decide.
//
// The calls are raw system calls, which the Go scheduler does not track: a
// call on a non-blocking socket never sleeps, so there is no bookkeeping
// on the way in and out, and the runtime's monitor never mistakes a long
// loopback write (which runs the receiver's TCP input too) for a blocked
// thread and hands the processor away.

// ErrWouldBlock is returned when a call on a non-blocking descriptor has
// nothing to do now (EAGAIN): wait until the poller says it is ready. It is
// syscall.EAGAIN itself, so errors.Is(err, syscall.EAGAIN) holds.
var ErrWouldBlock error = syscall.EAGAIN

// ErrSkip is returned when one unit of work failed in a way that concerns
// only itself, and the caller should go on with the next: a connection
// that was aborted while it waited in the accept queue (ECONNABORTED, and
// the network errors accept(2) passes on), or an ICMP error that a
// datagram socket reports about an earlier datagram (ECONNREFUSED).
var ErrSkip = errors.New("sock: that one failed; go on with the next")

// ErrInProgress is returned by Connect when the connection is being
// established: wait until the socket is writable, then ask ConnectResult.
var ErrInProgress error = syscall.EINPROGRESS

// call names the calls whose errnos mean something of their own.
type call uint8

const (
	callIO       call = iota // read, write, recvfrom
	callAccept               // accept4
	callRecvmmsg             // recvmmsg on a datagram socket
	callConnect              // connect on a non-blocking socket
	callShutdown             // shutdown
)

// outcome is what to do after a call failed with an errno.
type outcome uint8

const (
	outFail  outcome = iota // the call failed: report the errno
	outAgain                // interrupted before it did anything: call again at once
	outWait                 // not ready: ErrWouldBlock
	outSkip                 // this unit failed alone: ErrSkip
	outDone                 // not a failure here: success
	outBegun                // connect: under way, ErrInProgress
)

// decide is the one place that says, for an errno from a call on a
// non-blocking descriptor, whether to retry, wait or fail.
func decide(c call, e unix.Errno) outcome {
	if e == unix.EINTR {
		if c == callConnect {
			// Per connect(2), an interrupted connect goes on
			// asynchronously; calling it again would say EALREADY.
			return outBegun
		}
		return outAgain
	}
	if e == unix.EAGAIN {
		return outWait
	}
	switch c {
	case callAccept:
		switch e {
		// Per accept(2), Linux passes pending network errors of the new
		// connection on as accept's own; they concern that connection.
		case unix.ECONNABORTED, unix.EPROTO, unix.ENETDOWN, unix.ENOPROTOOPT, unix.EHOSTDOWN,
			unix.ENONET, unix.EHOSTUNREACH, unix.EOPNOTSUPP, unix.ENETUNREACH:
			return outSkip
		}
	case callRecvmmsg:
		if e == unix.ECONNREFUSED {
			return outSkip // an ICMP port unreachable about an earlier datagram
		}
	case callConnect:
		if e == unix.EINPROGRESS {
			return outBegun
		}
	case callShutdown:
		if e == unix.ENOTCONN {
			return outDone // the peer is gone already: nothing left to shut
		}
	}
	return outFail
}

// result turns an errno into the error a wrapper returns; retry reports an
// EINTR to call again.
func result(c call, name string, e unix.Errno) (err error, retry bool) {
	switch decide(c, e) {
	case outAgain:
		return nil, true
	case outWait:
		return ErrWouldBlock, false
	case outSkip:
		return ErrSkip, false
	case outDone:
		return nil, false
	case outBegun:
		return ErrInProgress, false
	}
	return os.NewSyscallError(name, e), false
}

// Read reads once into p. n == 0 with a nil error is the peer's EOF.
func Read(fd int, p []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == 0 {
			return int(r), nil
		}
		if err, retry := result(callIO, "read", e); !retry {
			return 0, err
		}
	}
}

// ReadMessage reads one seqpacket message into p. It asks for the
// message's real length (MSG_TRUNC, per unix(7)) so that a message longer
// than p is an error (EMSGSIZE) instead of a silently lost tail.
func ReadMessage(fd int, p []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_TRUNC, 0, 0)
		if e == 0 {
			if int(r) > len(p) {
				return 0, os.NewSyscallError("read", unix.EMSGSIZE)
			}
			return int(r), nil
		}
		if err, retry := result(callIO, "read", e); !retry {
			return 0, err
		}
	}
}

// RecvRights reads once into p with recvmsg(2), taking descriptors passed
// with SCM_RIGHTS into oob (close-on-exec, per MSG_CMSG_CLOEXEC): oobn is
// the control data's length, ctrunc reports descriptors that did not fit
// (the kernel closed them). With message it reads one seqpacket message,
// and one longer than p is an error (EMSGSIZE), as in ReadMessage.
func RecvRights(fd int, p, oob []byte, message bool) (n, oobn int, ctrunc bool, err error) {
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
	}
	var msg unix.Msghdr
	msg.Iov = &iov
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	flags := uintptr(unix.MSG_CMSG_CLOEXEC)
	if message {
		flags |= unix.MSG_TRUNC
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags)
		if e == 0 {
			if message && int(r) > len(p) {
				return 0, int(msg.Controllen), false, os.NewSyscallError("recvmsg", unix.EMSGSIZE)
			}
			return int(r), int(msg.Controllen), msg.Flags&unix.MSG_CTRUNC != 0, nil
		}
		if err, retry := result(callIO, "recvmsg", e); !retry {
			return 0, 0, false, err
		}
	}
}

// Write writes p once and returns how much the kernel took; a full socket
// buffer is (0, ErrWouldBlock).
func Write(fd int, p []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == 0 {
			return int(r), nil
		}
		if err, retry := result(callIO, "write", e); !retry {
			return 0, err
		}
	}
}

// Vectors is the iovec array Writev hands the kernel, reused so that a
// vectored write allocates nothing. It belongs to one goroutine.
type Vectors struct {
	iov [64]unix.Iovec
}

// Writev writes bufs (the first 64 of them) with one writev(2) and
// returns how much the kernel took; a full socket buffer is (0,
// ErrWouldBlock). On a seqpacket socket the vectors are one message.
func (v *Vectors) Writev(fd int, bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		if n == len(v.iov) {
			break
		}
		if len(b) == 0 {
			continue
		}
		v.iov[n] = unix.Iovec{Base: &b[0]}
		v.iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	defer clear(v.iov[:n]) // hold no pointers into the buffers
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v.iov[0])), uintptr(n))
		if e == 0 {
			return int(r), nil
		}
		if err, retry := result(callIO, "writev", e); !retry {
			return 0, err
		}
	}
}

// ShutdownWrite sends FIN: shutdown(SHUT_WR). A peer already gone
// (ENOTCONN) is not an error.
func ShutdownWrite(fd int) error {
	for {
		_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
		if e == 0 {
			return nil
		}
		if err, retry := result(callShutdown, "shutdown", e); !retry {
			return err
		}
	}
}

// Close closes fd. Per close(2) the descriptor is gone even when the call
// fails (EINTR included), so it is never retried.
func Close(fd int) error {
	return os.NewSyscallError("close", unix.Close(fd))
}

// PendingError reads and clears the socket's pending error (SO_ERROR) and
// returns it as a failure of call, or nil when there is none.
func PendingError(fd int, call string) error {
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if e == 0 {
		return nil
	}
	return os.NewSyscallError(call, unix.Errno(e))
}

// ConnectResult reads the outcome of a non-blocking connect once the
// socket is writable (per connect(2): SO_ERROR).
func ConnectResult(fd int) error { return PendingError(fd, "connect") }

// LocalAddr is the address fd is bound to, as package net reports it, or
// nil.
func LocalAddr(fd int, network string) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return Addr(network, sa)
}

// Target is a resolved address to connect to: the socket(2) family and
// type it needs, and the sockaddr.
type Target struct {
	family, sotype int
	sa             unix.Sockaddr
}

// Peer is the target as the connection's remote address: an IP address
// and port without a zone comes back as an AddrPort, anything else as a
// net.Addr.
func (t Target) Peer(network string) (netip.AddrPort, net.Addr) {
	switch a := t.sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		if a.ZoneId == 0 {
			return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
		}
	}
	return netip.AddrPort{}, Addr(network, t.sa)
}

// Resolve turns network and address into a Target. Host names are looked
// up once.
func Resolve(network, address string) (Target, error) {
	family, sotype, sa, err := resolve(network, address)
	return Target{family: family, sotype: sotype, sa: sa}, err
}

// DialFD creates a non-blocking socket for t with o's socket-level options
// applied, and binds it to source (the port left to connect, per
// IP_BIND_ADDRESS_NO_PORT) when source is valid; each step is reported to
// obs. Connect comes next.
func (o *Options) DialFD(network, address string, t Target, source netip.Addr, obs sockit.Observer) (int, error) {
	fd, err := Socket(network, address, t.family, t.sotype, obs)
	if err != nil {
		return -1, err
	}
	if err := o.ApplyFD(fd, network, obs); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if source.IsValid() {
		if err := BindSource(fd, network, source); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if obs != nil {
			obs.Observe(sockit.Event{Step: sockit.StepBind, FD: fd, Net: network, Detail: source.String() + ":0, port chosen at connect"})
		}
	}
	return fd, nil
}

// Connect starts connecting fd to t: nil when connected at once (Unix
// sockets), ErrInProgress when under way (wait for writability, then
// ConnectResult), or the failure.
func Connect(fd int, t Target) error {
	err := unix.Connect(fd, t.sa)
	if err == nil {
		return nil
	}
	e, ok := err.(unix.Errno)
	if !ok {
		return os.NewSyscallError("connect", err)
	}
	cerr, _ := result(callConnect, "connect", e)
	return cerr
}

// AcceptBuf is where Accept reads a new connection's peer address, so that
// accepting allocates nothing per connection. It belongs to one goroutine.
type AcceptBuf struct {
	rsa unix.RawSockaddrAny
	n   uint32
}

// Accept takes one connection from listening socket lfd, non-blocking and
// close-on-exec. An IP peer without a zone comes back as an AddrPort; a
// named Unix peer or a zoned IPv6 peer as a net.Addr of network; an unnamed
// Unix peer as neither. ErrWouldBlock means the queue is empty; ErrSkip
// that one connection failed before it was taken (take the next).
func (b *AcceptBuf) Accept(lfd int, network string) (fd int, ap netip.AddrPort, other net.Addr, err error) {
	for {
		b.n = unix.SizeofSockaddrAny
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&b.rsa)), uintptr(unsafe.Pointer(&b.n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			ap, sa := Peer(&b.rsa, b.n)
			if sa != nil {
				other = Addr(network, sa)
			}
			return int(r), ap, other, nil
		}
		if err, retry := result(callAccept, "accept4", e); !retry {
			return -1, netip.AddrPort{}, nil, err
		}
	}
}
