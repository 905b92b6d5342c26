package sockapi

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/sock"
)

// cmsgCloexec makes recvmsg(2) install passed descriptors close-on-exec
// at once (per recvmsg(2), MSG_CMSG_CLOEXEC).
const cmsgCloexec = unix.MSG_CMSG_CLOEXEC

// credSpace is the room a control buffer needs for SCM_CREDENTIALS.
var credSpace = unix.CmsgSpace(unix.SizeofUcred)

func parseCred(m *unix.SocketControlMessage) (Cred, bool) {
	if m.Header.Type != unix.SCM_CREDENTIALS {
		return Cred{}, false
	}
	u, err := unix.ParseUnixCredentials(m)
	if err != nil {
		return Cred{}, false
	}
	return Cred{PID: u.Pid, UID: u.Uid, GID: u.Gid}, true
}

func credMessage(c Cred) ([]byte, error) {
	return unix.UnixCredentials(&unix.Ucred{Pid: c.PID, Uid: c.UID, Gid: c.GID}), nil
}

func peerCred(fd int) (Cred, error) {
	pid, uid, gid, err := sock.PeerCred(fd)
	return Cred{PID: pid, UID: uid, GID: gid}, err
}

func setPassCred(fd int, on bool) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, boolInt(on))
}

// setRecvErr sets IP_RECVERR, and IPV6_RECVERR on an IPv6 socket (which
// may send to IPv4-mapped addresses too, and then hears by IP_RECVERR).
func setRecvErr(fd int, on bool) error {
	local, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	if _, v6 := local.(*unix.SockaddrInet6); v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, boolInt(on)); err != nil {
			return err
		}
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, boolInt(on))
}

func boolInt(on bool) int {
	if on {
		return 1
	}
	return 0
}

// queuedError reads one entry of the error queue: the datagram's
// destination in msg_name, the sock_extended_err and its offender in the
// control data (per ip(7) and ipv6(7)).
func queuedError(fd int) (*QueuedError, error) {
	var p [1]byte
	oob := make([]byte, unix.CmsgSpace(sizeofExtErr+unix.SizeofSockaddrInet6))
	var oobn int
	var sa unix.Sockaddr
	err := again(func() (err error) {
		_, oobn, _, sa, err = unix.Recvmsg(fd, p[:], oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		return err
	})
	if errors.Is(err, syscall.EAGAIN) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		ip := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		ip6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if (!ip && !ip6) || len(m.Data) < sizeofExtErr {
			continue
		}
		ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
		q := &QueuedError{Errno: syscall.Errno(ee.Errno), Type: ee.Type, Code: ee.Code, To: netAddr(fd, sa)}
		switch ee.Origin {
		case unix.SO_EE_ORIGIN_ICMP:
			q.ICMP = true
		case unix.SO_EE_ORIGIN_ICMP6:
			q.ICMP, q.V6 = true, true
		}
		q.Offender = offender(m.Data[sizeofExtErr:])
		return q, nil
	}
	return nil, os.NewSyscallError("recvmsg", errors.New("error queue entry without sock_extended_err"))
}

// offender reads SO_EE_OFFENDER, the sockaddr after sock_extended_err.
func offender(b []byte) net.Addr {
	if len(b) < 2 {
		return nil
	}
	switch family := *(*uint16)(unsafe.Pointer(&b[0])); {
	case family == unix.AF_INET && len(b) >= unix.SizeofSockaddrInet4:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b[0]))
		return &net.IPAddr{IP: netip.AddrFrom4(sa.Addr).AsSlice()}
	case family == unix.AF_INET6 && len(b) >= unix.SizeofSockaddrInet6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&b[0]))
		return &net.IPAddr{IP: netip.AddrFrom16(sa.Addr).AsSlice()}
	}
	return nil
}

// sizeofExtErr is sizeof(struct sock_extended_err), per
// linux/errqueue.h: five bytes and three 32-bit words.
const sizeofExtErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))
