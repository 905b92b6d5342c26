package spoof

import (
	"errors"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

func available() error {
	if os.Geteuid() != 0 {
		return errors.New("forging a datagram's source needs a raw socket, which needs root (CAP_NET_RAW); CI runs as root")
	}
	return nil
}

// send writes one whole IPv4 packet on a raw socket: IPPROTO_RAW implies
// IP_HDRINCL (raw(7)).
func send(dst netip.Addr, pkt []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}
