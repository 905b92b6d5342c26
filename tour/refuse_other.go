//go:build !unix

package tour

import (
	"net"

	"github.com/sockit/sockit/sockapi"
)

// refusingUDP needs connect(2) on a bound UDP socket's descriptor, which
// this platform's package syscall does not offer the same way.
func refusingUDP() (*net.UDPConn, error) { return nil, sockapi.ErrUnsupported }
