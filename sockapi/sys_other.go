//go:build !(linux || darwin)

package sockapi

import (
	"net"
	"time"
)

// On other platforms (Windows) the calls are not offered: each fails with
// ErrUnsupported.

const supported = false

func hasPeer(int) bool                                   { return true }
func readable(int) bool                                  { return true }
func isStream(int) (bool, error)                         { return true, nil }
func read(int, []byte) (int, error)                      { return 0, ErrUnsupported }
func write(int, []byte) (int, error)                     { return 0, ErrUnsupported }
func readv(int, [][]byte) (int, error)                   { return 0, ErrUnsupported }
func writev(int, [][]byte) (int, error)                  { return 0, ErrUnsupported }
func recvfrom(int, []byte, Flags) (int, net.Addr, error) { return 0, nil, ErrUnsupported }
func recvmsg(int, []byte, Flags) (Msg, error)            { return Msg{}, ErrUnsupported }
func sendto(int, []byte, Flags, net.Addr) (int, error)   { return 0, ErrUnsupported }
func sendmsg(int, []byte, Ancillary, Flags, net.Addr) (int, error) {
	return 0, ErrUnsupported
}
func shutdown(int, How) error                        { return ErrUnsupported }
func atMark(int) (bool, error)                       { return false, ErrUnsupported }
func setOOBInline(int, bool) error                   { return ErrUnsupported }
func blocking(int, time.Time, func(int) error) error { return ErrUnsupported }
func peerCred(int) (Cred, error)                     { return Cred{}, ErrUnsupported }
func setPassCred(int, bool) error                    { return ErrUnsupported }
func setRecvErr(int, bool) error                     { return ErrUnsupported }
func queuedError(int) (*QueuedError, error)          { return nil, ErrUnsupported }
