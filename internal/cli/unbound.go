package cli

import (
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/sockit/sockit/engine"
)

// unboundNote is serve's datagram handler: h, plus a word for a datagram
// from an unbound Unix datagram socket, which no answer can reach (the
// socket has no address). Without it the sender waits for a reply that
// never comes, and nothing says why. The note is a warning the first
// time, and with -v every time.
type unboundNote struct {
	h       engine.PacketHandler
	log     *slog.Logger
	verbose bool
	told    atomic.Bool
}

func (u *unboundNote) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if from == nil {
		switch {
		case !u.told.Swap(true):
			u.log.Warn("a datagram on " + pc.LocalAddr().String() + " came from an unbound socket, which has no address: no answer can reach it (a client must bind a path of its own to get answers, as sockit send does)")
		case u.verbose:
			u.log.Info("no answer to a datagram from an unbound socket")
		}
	}
	u.h.OnPacket(pc, p, from)
}
