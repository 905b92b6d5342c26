//go:build windows

package engine

import (
	"net"

	"github.com/sockit/sockit/internal/sock"
)

// readMessage: Windows has no seqpacket sockets.
func readMessage(nc net.Conn, buf []byte) (int, error) { return nc.Read(buf) }

// readWithRights: Windows passes no descriptors (Config.Rights is refused).
func readWithRights(net.Conn, []byte, bool) (int, []int, error) { return 0, nil, sock.ErrUnsupported }

// withFD: Windows handles are not the descriptors sockit's options take.
func withFD(net.Conn, func(int) error) error { return sock.ErrUnsupported }
