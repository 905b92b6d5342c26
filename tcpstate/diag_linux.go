package tcpstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The inet_diag wire format, from include/uapi/linux/inet_diag.h.
const (
	sizeofSockID  = 48 // sport, dport, src[4], dst[4], if, cookie[2]
	sizeofReqV2   = 8 + sizeofSockID
	sizeofDiagMsg = 4 + sizeofSockID + 20
	inetDiagInfo  = 2 // INET_DIAG_INFO: the attribute holding tcp_info
	// allStates has the bit of every TCP state, 1 << ESTABLISHED to
	// 1 << NEW_SYN_RECV (request sockets), as ss -a asks: not bit 13,
	// TCP_BOUND_INACTIVE, which since Linux 6.6 would add sockets that are
	// bound but neither listen nor connect, which ss -tan does not show.
	allStates = 1<<13 - 1
)

// diagRequest is an inet_diag_req_v2 for TCP sockets of family.
type diagRequest struct {
	family        uint8
	states        uint32
	local, remote netip.AddrPort // for a lookup; zero for a dump
	wantTCPInfo   bool
}

func (r diagRequest) encode() []byte {
	b := make([]byte, sizeofReqV2)
	b[0] = r.family
	b[1] = unix.IPPROTO_TCP
	if r.wantTCPInfo {
		b[2] = 1 << (inetDiagInfo - 1)
	}
	binary.NativeEndian.PutUint32(b[4:], r.states)
	id := b[8:]
	binary.BigEndian.PutUint16(id[0:], r.local.Port())
	binary.BigEndian.PutUint16(id[2:], r.remote.Port())
	putAddr(id[4:20], r.local.Addr())
	putAddr(id[20:36], r.remote.Addr())
	// cookie: INET_DIAG_NOCOOKIE (all ones) says "any socket with these ends".
	binary.NativeEndian.PutUint32(id[40:], ^uint32(0))
	binary.NativeEndian.PutUint32(id[44:], ^uint32(0))
	return b
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

func snapshot() ([]Socket, error) { return snapshotStates(allStates) }

// snapshotStates dumps the TCP sockets, IPv4 and IPv6, in the states whose
// bits (1 << State) are set in states.
func snapshotStates(states uint32) ([]Socket, error) {
	c, err := dialDiag()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := diagRequest{family: fam, states: states, wantTCPInfo: true}
		socks, err := execute(c, req, netlink.Request|netlink.Dump)
		if err != nil {
			return nil, err
		}
		out = append(out, socks...)
	}
	return out, nil
}

func lookup(local, remote netip.AddrPort) (Socket, bool, error) {
	fam := uint8(unix.AF_INET6)
	if local.Addr().Is4() && remote.Addr().Is4() {
		fam = unix.AF_INET
	}
	c, err := dialDiag()
	if err != nil {
		return Socket{}, false, err
	}
	defer c.Close()
	req := diagRequest{family: fam, states: allStates, local: local, remote: remote, wantTCPInfo: true}
	socks, err := execute(c, req, netlink.Request)
	switch {
	case errors.Is(err, unix.ENOENT):
		return Socket{}, false, nil
	case err != nil:
		return Socket{}, false, err
	}
	// The kernel answers a lookup the way it routes a segment: with no
	// connection of these ends, the listener on the local port answers.
	want := Key{local, remote}
	for _, s := range socks {
		if s.Key() == want {
			return s, true, nil
		}
	}
	return Socket{}, false, nil
}

func dialDiag() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	return c, nil
}

func execute(c *netlink.Conn, r diagRequest, flags netlink.HeaderFlags) ([]Socket, error) {
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: flags},
		Data:   r.encode(),
	})
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	out := make([]Socket, 0, len(msgs))
	for _, m := range msgs {
		s, err := parseDiagMsg(m.Data)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseDiagMsg decodes an inet_diag_msg and its attributes.
func parseDiagMsg(b []byte) (Socket, error) {
	if len(b) < sizeofDiagMsg {
		return Socket{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(b), sizeofDiagMsg)
	}
	family, id := b[0], b[4:4+sizeofSockID]
	s := Socket{
		State:   State(b[1]).normal(),
		Local:   netip.AddrPortFrom(diagAddr(family, id[4:20]), binary.BigEndian.Uint16(id[0:])),
		Remote:  netip.AddrPortFrom(diagAddr(family, id[20:36]), binary.BigEndian.Uint16(id[2:])),
		Expires: time.Duration(binary.NativeEndian.Uint32(b[52:])) * time.Millisecond,
		RecvQ:   binary.NativeEndian.Uint32(b[56:]),
		SendQ:   binary.NativeEndian.Uint32(b[60:]),
		UID:     binary.NativeEndian.Uint32(b[64:]),
		Inode:   uint64(binary.NativeEndian.Uint32(b[68:])),
	}
	ad, err := netlink.NewAttributeDecoder(b[sizeofDiagMsg:])
	if err != nil {
		return Socket{}, err
	}
	for ad.Next() {
		if ad.Type() == inetDiagInfo {
			ti := decodeTCPInfo(ad.Bytes())
			s.RTT = time.Duration(ti.Rtt) * time.Microsecond
			s.RTTVar = time.Duration(ti.Rttvar) * time.Microsecond
		}
	}
	return s, ad.Err()
}

func diagAddr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

// decodeTCPInfo copies a kernel tcp_info, which grows with each kernel
// version, into x/sys's layout: fields the kernel did not send stay zero.
func decodeTCPInfo(b []byte) unix.TCPInfo {
	var ti unix.TCPInfo
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti)), b)
	return ti
}

func stateOf(fd int) (State, error) {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt(TCP_INFO)", err)
	}
	return State(ti.State), nil
}
