//go:build unix

package tour

import (
	"net"
	"os"
	"syscall"
)

// refusingUDP is a UDP socket on loopback that refuses every datagram:
// connected to its own address, it takes datagrams from itself only (per
// udp(7)), so the kernel answers the others with ICMP port unreachable;
// and no other socket can take the port while it is open.
func refusingUDP() (*net.UDPConn, error) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	self := pc.LocalAddr().(*net.UDPAddr)
	rc, err := pc.SyscallConn()
	if err != nil {
		pc.Close()
		return nil, err
	}
	var cerr error
	err = rc.Control(func(fd uintptr) {
		sa := &syscall.SockaddrInet4{Port: self.Port}
		copy(sa.Addr[:], self.IP.To4())
		cerr = syscall.Connect(int(fd), sa)
	})
	if err == nil && cerr != nil {
		err = os.NewSyscallError("connect", cerr)
	}
	if err != nil {
		pc.Close()
		return nil, err
	}
	return pc, nil
}
