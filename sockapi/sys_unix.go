//go:build linux || darwin

package sockapi

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/sock"
)

// sysFlags turns Flags into the platform's MSG_* bits.
func sysFlags(f Flags) int {
	var s int
	for _, m := range []struct {
		f Flags
		s int
	}{{Peek, unix.MSG_PEEK}, {WaitAll, unix.MSG_WAITALL}, {DontWait, unix.MSG_DONTWAIT}, {OOB, unix.MSG_OOB},
		{DontRoute, unix.MSG_DONTROUTE}, {Trunc, unix.MSG_TRUNC}, {CTrunc, unix.MSG_CTRUNC}, {EOR, unix.MSG_EOR}} {
		if f&m.f != 0 {
			s |= m.s
		}
	}
	return s
}

// fromSysFlags is sysFlags backwards, for msg_flags.
func fromSysFlags(s int) Flags {
	var f Flags
	for _, b := range []Flags{Peek, WaitAll, DontWait, OOB, DontRoute, Trunc, CTrunc, EOR} {
		if s&sysFlags(b) != 0 {
			f |= b
		}
	}
	return f
}

// again calls op until it is not interrupted (EINTR).
func again(op func() error) error {
	for {
		if err := op(); err != unix.EINTR {
			return err
		}
	}
}

const supported = true

// hasPeer reports whether the socket is connected (getpeername(2)).
func hasPeer(fd int) bool {
	_, err := unix.Getpeername(fd)
	return err == nil
}

// readable reports whether a read would not block now (poll(2) with no
// wait).
func readable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var n int
	again(func() (err error) { n, err = unix.Poll(fds, 0); return err })
	return n > 0
}

func isStream(fd int) (bool, error) {
	t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return false, os.NewSyscallError("getsockopt", err)
	}
	return t == unix.SOCK_STREAM, nil
}

func read(fd int, p []byte) (n int, err error) {
	err = again(func() error { n, err = unix.Read(fd, p); return err })
	return max(n, 0), err
}

func write(fd int, p []byte) (n int, err error) {
	err = again(func() error { n, err = unix.Write(fd, p); return err })
	return max(n, 0), err
}

func readv(fd int, bufs [][]byte) (n int, err error) {
	err = again(func() error { n, err = unix.Readv(fd, bufs); return err })
	return max(n, 0), err
}

func writev(fd int, bufs [][]byte) (n int, err error) {
	err = again(func() error { n, err = unix.Writev(fd, bufs); return err })
	return max(n, 0), err
}

func recvfrom(fd int, p []byte, f Flags) (n int, from net.Addr, err error) {
	var sa unix.Sockaddr
	err = again(func() error { n, sa, err = unix.Recvfrom(fd, p, sysFlags(f)); return err })
	if err != nil {
		return 0, nil, err
	}
	return n, netAddr(fd, sa), nil
}

func recvmsg(fd int, p []byte, f Flags) (Msg, error) {
	oob := make([]byte, sock.RightsSpace(MaxRights)+credSpace)
	var n, oobn, rflags int
	var sa unix.Sockaddr
	err := again(func() (err error) {
		n, oobn, rflags, sa, err = unix.Recvmsg(fd, p, oob, sysFlags(f)|cmsgCloexec)
		return err
	})
	if err != nil {
		return Msg{}, err
	}
	m := Msg{N: n, Flags: fromSysFlags(rflags), From: netAddr(fd, sa)}
	if oobn > 0 {
		m.Ancillary, err = parseAncillary(oob[:oobn])
	}
	if len(m.Rights) > MaxRights { // the room left for a credential took more
		sock.CloseFDs(m.Rights[MaxRights:])
		m.Rights = m.Rights[:MaxRights]
		m.Flags |= CTrunc
	}
	return m, err
}

// parseAncillary reads SCM_RIGHTS and SCM_CREDENTIALS out of oob; the
// descriptors are made close-on-exec where recvmsg could not.
func parseAncillary(oob []byte) (Ancillary, error) {
	var a Ancillary
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return a, err
	}
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch {
		case msgs[i].Header.Type == unix.SCM_RIGHTS:
			fds, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return a, err
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
			}
			a.Rights = append(a.Rights, fds...)
		default:
			if cr, ok := parseCred(&msgs[i]); ok {
				a.Cred = &cr
			}
		}
	}
	return a, nil
}

func sendto(fd int, p []byte, f Flags, to net.Addr) (n int, err error) {
	var sa unix.Sockaddr
	if to != nil {
		if sa, err = sockaddr(fd, to); err != nil {
			return 0, err
		}
	}
	if sa == nil {
		// send(2): sendto without an address.
		err = again(func() error { n, err = unix.SendmsgN(fd, p, nil, nil, sysFlags(f)); return err })
		return max(n, 0), err
	}
	err = again(func() error { n, err = unix.SendmsgN(fd, p, nil, sa, sysFlags(f)); return err })
	return max(n, 0), err
}

func sendmsg(fd int, p []byte, a Ancillary, f Flags, to net.Addr) (n int, err error) {
	var sa unix.Sockaddr
	if to != nil {
		if sa, err = sockaddr(fd, to); err != nil {
			return 0, err
		}
	}
	var oob []byte
	if len(a.Rights) > 0 {
		oob = append(oob, unix.UnixRights(a.Rights...)...)
	}
	if a.Cred != nil {
		c, err := credMessage(*a.Cred)
		if err != nil {
			return 0, err
		}
		oob = append(oob, c...)
	}
	err = again(func() error { n, err = unix.SendmsgN(fd, p, oob, sa, sysFlags(f)); return err })
	return max(n, 0), err
}

func shutdown(fd int, h How) error {
	how := unix.SHUT_WR
	switch h {
	case ShutRD:
		how = unix.SHUT_RD
	case ShutRDWR:
		how = unix.SHUT_RDWR
	}
	return unix.Shutdown(fd, how)
}

func atMark(fd int) (bool, error) { return sock.AtMark(fd) }

func setOOBInline(fd int, on bool) error { return sock.SetOOBInline(fd, on) }

// blocking makes op with O_NONBLOCK cleared and SO_RCVTIMEO set to what
// is left until deadline (none for a zero deadline); a recv the timeout
// ends without data fails with EAGAIN and a deadline error.
func blocking(fd int, deadline time.Time, op func(fd int) error) error {
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		tv := unix.NsecToTimeval(int64(left))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
		defer unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	defer unix.SetNonblock(fd, true)
	err := op(fd)
	if errors.Is(err, syscall.EAGAIN) && !deadline.IsZero() {
		err = errors.Join(os.ErrDeadlineExceeded, err)
	}
	return err
}

// netAddr is sa as package net names it, for the socket fd; nil for an
// unnamed sender or none.
func netAddr(fd int, sa unix.Sockaddr) net.Addr {
	typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return ipAddr(typ, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			}
		}
		return ipAddr(typ, netip.AddrPortFrom(ip, uint16(a.Port)))
	case *unix.SockaddrUnix:
		if a.Name == "" {
			return nil
		}
		network := "unix"
		switch typ {
		case unix.SOCK_DGRAM:
			network = "unixgram"
		case unix.SOCK_SEQPACKET:
			network = "unixpacket"
		}
		return &net.UnixAddr{Name: a.Name, Net: network}
	}
	return nil
}

func ipAddr(typ int, ap netip.AddrPort) net.Addr {
	if typ == unix.SOCK_STREAM {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// sockaddr is to in the family of the socket fd: an IPv4 address is
// mapped for an AF_INET6 socket.
func sockaddr(fd int, to net.Addr) (unix.Sockaddr, error) {
	var ap netip.AddrPort
	switch a := to.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UnixAddr:
		return &unix.SockaddrUnix{Name: a.Name}, nil
	default:
		return nil, net.InvalidAddrError("sockapi: cannot send to a " + to.Network() + " address")
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	ip := ap.Addr().Unmap()
	if _, v6 := local.(*unix.SockaddrInet6); v6 {
		sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			}
		}
		return sa, nil
	}
	if !ip.Is4() {
		return nil, net.InvalidAddrError("sockapi: an IPv6 address for an IPv4 socket: " + ap.String())
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}, nil
}
