//go:build windows

package engine

import "net"

// readMessage: Windows has no seqpacket sockets.
func readMessage(nc net.Conn, buf []byte) (int, error) { return nc.Read(buf) }
