package icmpwatch

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/sockit/sockit"
)

// ErrNeedRaw is matched by the error of Listen when the process may not
// open raw sockets: SOCK_RAW needs root, or CAP_NET_RAW on Linux.
var ErrNeedRaw = errors.New("a raw socket (SOCK_RAW) needs root or CAP_NET_RAW")

// Watcher holds a raw ICMP socket and a raw ICMPv6 socket (where the
// machine has IPv6).
type Watcher struct {
	conns []rawConn
}

type rawConn struct {
	c  net.PacketConn
	v6 bool
}

// Listen opens the raw sockets. Without the privilege it fails with an
// error matching ErrNeedRaw (and os.ErrPermission).
func Listen() (*Watcher, error) {
	w := &Watcher{}
	c4, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, listenError("ip4:icmp", err)
	}
	w.conns = append(w.conns, rawConn{c: c4})
	if c6, err := net.ListenPacket("ip6:ipv6-icmp", "::"); err == nil {
		w.conns = append(w.conns, rawConn{c: c6, v6: true})
	}
	return w, nil
}

func listenError(network string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		err = errors.Join(ErrNeedRaw, err)
	}
	return sockit.Wrap("socket", network, "", err)
}

// Run calls fn for each message until ctx ends (it then returns nil) or
// reading fails. fn is called from one goroutine at a time.
func (w *Watcher) Run(ctx context.Context, fn func(Message)) error {
	var mu sync.Mutex
	errs := make(chan error, len(w.conns))
	stop := context.AfterFunc(ctx, func() {
		for _, rc := range w.conns {
			rc.c.SetReadDeadline(time.Unix(1, 0))
		}
	})
	defer stop()
	var wg sync.WaitGroup
	for _, rc := range w.conns {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				n, from, err := rc.c.ReadFrom(buf)
				if err != nil {
					if ctx.Err() != nil {
						err = nil
					}
					errs <- err
					return
				}
				m, perr := Parse(rc.v6, buf[:n], addrOf(from))
				if perr != nil {
					continue
				}
				m.Time = time.Now()
				mu.Lock()
				fn(m)
				mu.Unlock()
			}
		})
	}
	err := <-errs
	for _, rc := range w.conns {
		rc.c.SetReadDeadline(time.Unix(1, 0)) // the other reader too
	}
	wg.Wait()
	return err
}

func addrOf(a net.Addr) netip.Addr {
	if ia, ok := a.(*net.IPAddr); ok {
		ip, _ := netip.AddrFromSlice(ia.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// Close closes the raw sockets.
func (w *Watcher) Close() error {
	var errs []error
	for _, rc := range w.conns {
		errs = append(errs, rc.c.Close())
	}
	return errors.Join(errs...)
}
