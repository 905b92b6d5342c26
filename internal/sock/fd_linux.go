package sock

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
)

// This file is the raw descriptor layer the epoll engine uses: each function
// makes one system call on a non-blocking, close-on-exec socket and names
// that call in its error.

// resolve turns network and address into the socket(2) family and type and
// the sockaddr to bind or connect to. Host names are looked up once.
func resolve(network, address string) (family, sotype int, sa unix.Sockaddr, err error) {
	var ap netip.AddrPort
	switch network {
	case "unix":
		return unix.AF_UNIX, unix.SOCK_STREAM, &unix.SockaddrUnix{Name: address}, nil
	case "unixgram":
		return unix.AF_UNIX, unix.SOCK_DGRAM, &unix.SockaddrUnix{Name: address}, nil
	case "unixpacket":
		return unix.AF_UNIX, unix.SOCK_SEQPACKET, &unix.SockaddrUnix{Name: address}, nil
	case "tcp", "tcp4", "tcp6":
		a, err := net.ResolveTCPAddr(network, address)
		if err != nil {
			return 0, 0, nil, err
		}
		sotype, ap = unix.SOCK_STREAM, a.AddrPort()
	case "udp", "udp4", "udp6":
		a, err := net.ResolveUDPAddr(network, address)
		if err != nil {
			return 0, 0, nil, err
		}
		sotype, ap = unix.SOCK_DGRAM, a.AddrPort()
	default:
		return 0, 0, nil, net.UnknownNetworkError(network)
	}
	family, sa = ipSockaddr(network, ap)
	return family, sotype, sa, nil
}

// ipSockaddr picks AF_INET for IPv4 addresses (and for the wildcard on
// tcp4/udp4) and AF_INET6 otherwise, as package net does.
func ipSockaddr(network string, ap netip.AddrPort) (int, unix.Sockaddr) {
	ip, port := ap.Addr().Unmap(), int(ap.Port())
	switch {
	case !ip.IsValid() && strings.HasSuffix(network, "4"):
		return unix.AF_INET, &unix.SockaddrInet4{Port: port}
	case ip.Is4() && !strings.HasSuffix(network, "6"):
		return unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	// An IPv6 address, the wildcard (As16 gives zeros), or an IPv4 address
	// on tcp6/udp6 (As16 gives its IPv4-mapped form).
	return unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
}

// Addr converts a sockaddr to the net.Addr package net would report.
func Addr(network string, sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		ap := netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		if strings.HasPrefix(network, "udp") {
			return net.UDPAddrFromAddrPort(ap)
		}
		return net.TCPAddrFromAddrPort(ap)
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			}
		}
		ap := netip.AddrPortFrom(ip, uint16(a.Port))
		if strings.HasPrefix(network, "udp") {
			return net.UDPAddrFromAddrPort(ap)
		}
		return net.TCPAddrFromAddrPort(ap)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: network}
	}
	return nil
}

// Socket calls socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC and reports it,
// naming the family and type it passed.
func Socket(network, address string, family, sotype int, obs sockit.Observer) (int, error) {
	fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if obs != nil {
		obs.Observe(sockit.Event{Step: sockit.StepSocket, FD: fd, Net: network, Detail: familyType(family, sotype)})
	}
	return fd, nil
}

// familyType names socket(2)'s first two arguments: "AF_INET6,
// SOCK_STREAM".
func familyType(family, sotype int) string {
	f := "AF_INET"
	switch family {
	case unix.AF_INET6:
		f = "AF_INET6"
	case unix.AF_UNIX:
		f = "AF_UNIX"
	}
	t := "SOCK_STREAM"
	switch sotype {
	case unix.SOCK_DGRAM:
		t = "SOCK_DGRAM"
	case unix.SOCK_SEQPACKET:
		t = "SOCK_SEQPACKET"
	}
	return f + ", " + t
}

// netDefaults are the options package net set on fd before Control saw
// it (per its own socket code: IPV6_V6ONLY on IPv6 sockets, SO_REUSEADDR
// on listeners), as the kernel reports them now.
func netDefaults(fd int) []string {
	var set []string
	if family, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && family == unix.AF_INET6 {
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err == nil {
			set = append(set, "IPV6_V6ONLY="+strconv.Itoa(v))
		}
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); err == nil && v != 0 {
		set = append(set, "SO_REUSEADDR=1")
	}
	return set
}

// socketFamilyType asks the kernel what fd is (SO_DOMAIN, SO_TYPE), for
// narrating a socket package net made; "" if it cannot tell.
func socketFamilyType(fd int) string {
	family, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	sotype, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err1 != nil || err2 != nil {
		return ""
	}
	return familyType(family, sotype)
}

// ListenFD creates a listening (stream) or bound (datagram) socket with o
// applied: socket, setsockopt, bind, and listen for streams. It returns the
// descriptor and the bound address.
func (o *Options) ListenFD(network, address string, obs sockit.Observer) (int, net.Addr, error) {
	family, sotype, sa, err := resolve(network, address)
	if err != nil {
		return -1, nil, err
	}
	fd, err := Socket(network, address, family, sotype, obs)
	if err != nil {
		return -1, nil, err
	}
	fail := func(err error) (int, net.Addr, error) {
		unix.Close(fd)
		return -1, nil, err
	}
	if family != unix.AF_UNIX {
		// As package net does: rebinding a port with connections in
		// TIME_WAIT must work (per socket(7), SO_REUSEADDR).
		if sotype == unix.SOCK_STREAM {
			err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if obs != nil {
				obs.Observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: network, Detail: "SO_REUSEADDR=1", Err: err})
			}
			if err != nil {
				return fail(os.NewSyscallError("setsockopt", err))
			}
		}
		if family == unix.AF_INET6 {
			// As package net does: tcp and udp take IPv4 too (as
			// IPv4-mapped addresses), tcp6 and udp6 IPv6 only.
			only := 0
			if strings.HasSuffix(network, "6") {
				only = 1
			}
			err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, only)
			if obs != nil {
				obs.Observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fd, Net: network, Detail: "IPV6_V6ONLY=" + strconv.Itoa(only), Err: err})
			}
			if err != nil {
				return fail(os.NewSyscallError("setsockopt", err))
			}
		}
	}
	if err := o.apply(uintptr(fd), network, obs); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	laddr := Addr(network, bound)
	if family == unix.AF_UNIX {
		laddr = &net.UnixAddr{Name: address, Net: network}
	}
	if obs != nil {
		obs.Observe(sockit.Event{Step: sockit.StepBind, FD: fd, Net: network, Local: laddr})
	}
	if sotype == unix.SOCK_DGRAM {
		return fd, laddr, nil
	}
	backlog := o.Backlog
	if backlog <= 0 {
		backlog = defaultBacklog()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail(os.NewSyscallError("listen", err))
	}
	if obs != nil {
		obs.Observe(sockit.Event{Step: sockit.StepListen, FD: fd, Net: network, Local: laddr, N: backlog})
	}
	return fd, laddr, nil
}

// TuneFD applies the per-connection options to an accepted or connected
// stream descriptor: TCP_NODELAY unless Nagle, keepalive.
func (o *Options) TuneFD(fd int, network string) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	if !o.Nagle {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if o.KeepAlive < 0 {
		return nil
	}
	idle := int(o.KeepAlive.Seconds())
	if idle <= 0 {
		idle = 15 // package net's default
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, idle))
}

// SetLingerZero makes close(2) reset the connection (per socket(7),
// SO_LINGER with a zero timeout).
func SetLingerZero(fd int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}))
}

// AddrCache turns raw socket addresses into net.Addr values, reusing the
// value for an address seen before so that a busy datagram socket does not
// allocate per datagram. Handlers must treat the values as read-only, as
// package net's are. It is not safe for concurrent use.
type AddrCache struct {
	network string
	m       map[rawKey]net.Addr
}

type rawKey struct {
	n   uint8
	raw [unix.SizeofSockaddrAny]byte
}

const addrCacheMax = 4096

// NewAddrCache returns an empty cache for addresses of network.
func NewAddrCache(network string) *AddrCache {
	return &AddrCache{network: network, m: make(map[rawKey]net.Addr)}
}

// Lookup returns the address in the first n bytes of raw, or nil for an
// unnamed (unbound Unix) sender.
func (c *AddrCache) Lookup(raw *unix.RawSockaddrAny, n uint32) net.Addr {
	if n > unix.SizeofSockaddrAny {
		n = unix.SizeofSockaddrAny
	}
	var k rawKey
	k.n = uint8(n)
	copy(k.raw[:n], (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(raw))[:n])
	if a, ok := c.m[k]; ok {
		return a
	}
	a := rawToAddr(c.network, raw, n)
	if a == nil {
		return nil
	}
	if len(c.m) >= addrCacheMax {
		clear(c.m)
	}
	c.m[k] = a
	return a
}

func rawToAddr(network string, raw *unix.RawSockaddrAny, n uint32) net.Addr {
	switch raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return Addr(network, &unix.SockaddrInet4{Port: int(port), Addr: sa.Addr})
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return Addr(network, &unix.SockaddrInet6{Port: int(port), Addr: sa.Addr, ZoneId: sa.Scope_id})
	case unix.AF_UNIX:
		sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		pathLen := int(n) - 2 // minus sun_family
		if pathLen <= 0 {
			return nil
		}
		b := make([]byte, 0, pathLen)
		for i := 0; i < pathLen; i++ {
			b = append(b, byte(sa.Path[i]))
		}
		if b[0] == 0 {
			b[0] = '@' // abstract namespace, as package net writes it
		} else if i := bytesIndexZero(b); i >= 0 {
			b = b[:i]
		}
		if len(b) == 0 {
			return nil
		}
		return &net.UnixAddr{Name: string(b), Net: network}
	}
	return nil
}

func bytesIndexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// PutRaw writes a into raw without allocating and returns the length to
// pass to the kernel.
func PutRaw(raw *unix.RawSockaddrAny, a net.Addr) (uint32, error) {
	*raw = unix.RawSockaddrAny{}
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UnixAddr:
		sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		sa.Family = unix.AF_UNIX
		name := a.Name
		if len(name) >= len(sa.Path) {
			return 0, unix.ENAMETOOLONG
		}
		for i := 0; i < len(name); i++ {
			sa.Path[i] = int8(name[i])
		}
		if len(name) > 0 && name[0] == '@' {
			sa.Path[0] = 0
			return uint32(2 + len(name)), nil
		}
		return uint32(2 + len(name) + 1), nil
	default:
		return 0, net.InvalidAddrError("unsupported address type")
	}
	ip := ap.Addr()
	port := ap.Port()
	if ip.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
		sa.Addr = ip.As4()
		return unix.SizeofSockaddrInet4, nil
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
	sa.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
	sa.Addr = ip.As16()
	if z := ip.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		}
	}
	return unix.SizeofSockaddrInet6, nil
}

// Peer reads a raw socket address as accept4(2) fills it. An IPv4 or IPv6
// address without a zone comes back as an AddrPort, without allocating;
// anything else (a named Unix peer, an IPv6 zone) as a Sockaddr; an unnamed
// Unix peer as neither.
func Peer(raw *unix.RawSockaddrAny, n uint32) (netip.AddrPort, unix.Sockaddr) {
	switch raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		if sa.Scope_id == 0 {
			return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), nil
		}
		return netip.AddrPort{}, &unix.SockaddrInet6{Port: int(port), Addr: sa.Addr, ZoneId: sa.Scope_id}
	case unix.AF_UNIX:
		if a, ok := rawToAddr("unix", raw, n).(*net.UnixAddr); ok {
			return netip.AddrPort{}, &unix.SockaddrUnix{Name: a.Name}
		}
	}
	return netip.AddrPort{}, nil
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on a TCP socket that is about to
// bind a source address with port 0: the kernel then picks the port at
// connect(2), per destination, instead of reserving one at bind(2) for
// every destination — without it, one source address runs out of ports
// after ~28 000 connections even to different servers.
func bindNoPort(fd int, network string) error {
	if network[0] != 't' {
		return nil
	}
	return os.NewSyscallError("setsockopt IP_BIND_ADDRESS_NO_PORT", unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1))
}

// BindSource binds fd to source address ip with the port left to connect(2).
func BindSource(fd int, network string, ip netip.Addr) error {
	if err := bindNoPort(fd, network); err != nil {
		return err
	}
	var sa unix.Sockaddr
	if ip.Is4() {
		sa = &unix.SockaddrInet4{Addr: ip.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: ip.As16()}
	}
	return os.NewSyscallError("bind", unix.Bind(fd, sa))
}
