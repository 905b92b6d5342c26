// Package sock is sockit's fd layer. It applies socket options at the moment
// a socket is created (between socket(2) and bind(2) or connect(2)), tells an
// observer about each step with the real descriptor number, and keeps every
// platform difference behind a few small functions in _unix and _windows
// files.
package sock

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockit/sockit"
)

// ErrUnsupported is returned for an option or operation the platform lacks.
var ErrUnsupported = errors.New("not supported on this platform")

// Options are the socket options sockit exposes as flags. The zero value
// leaves every option at the system's (or package net's) default.
type Options struct {
	Backlog   int           // listen(2) backlog; 0 = the system maximum (somaxconn)
	ReusePort bool          // SO_REUSEPORT: several listeners on one port share its connections
	Nagle     bool          // leave Nagle's algorithm on; the zero value sets TCP_NODELAY as package net does
	KeepAlive time.Duration // TCP keepalive idle time; 0 = package net's default (15s), < 0 = off
	RecvBuf   int           // SO_RCVBUF in bytes; 0 = system default
	SendBuf   int           // SO_SNDBUF in bytes; 0 = system default
}

func (o *Options) control(obs sockit.Observer, onFD func(int)) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			if onFD != nil {
				onFD(fdInt(fd))
			}
			if obs != nil {
				detail := socketFamilyType(fdInt(fd))
				if detail == "" {
					detail = FamilyType(network, address)
				}
				obs.Observe(sockit.Event{Step: sockit.StepSocket, FD: fdInt(fd), Net: network, Detail: detail})
				for _, opt := range netDefaults(fdInt(fd)) {
					obs.Observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fdInt(fd), Net: network, Detail: opt + ", by package net"})
				}
			}
			err = o.apply(fd, network, obs)
		})
		return errors.Join(cerr, err)
	}
}

// ApplyFD applies o's socket-level options to a new descriptor, before bind
// or connect, and reports each setsockopt to obs.
func (o *Options) ApplyFD(fd int, network string, obs sockit.Observer) error {
	return o.apply(uintptr(fd), network, obs)
}

func (o *Options) apply(fd uintptr, network string, obs sockit.Observer) error {
	set := func(name string, f func() error, detail string) error {
		err := f()
		if obs != nil {
			obs.Observe(sockit.Event{Step: sockit.StepSetsockopt, FD: fdInt(fd), Net: network, Detail: detail, Err: err})
		}
		if err != nil {
			return &sockit.Error{Op: "setsockopt", Net: network, Syscall: "setsockopt", Err: errors.Join(errors.New(name), err)}
		}
		return nil
	}
	if o.ReusePort && !strings.HasPrefix(network, "unix") {
		if err := set("SO_REUSEPORT", func() error { return setReusePort(fd) }, "SO_REUSEPORT=1"); err != nil {
			return err
		}
	}
	if o.RecvBuf > 0 {
		if err := set("SO_RCVBUF", func() error { return setRecvBuf(fd, o.RecvBuf) }, "SO_RCVBUF="+itoa(o.RecvBuf)); err != nil {
			return err
		}
	}
	if o.SendBuf > 0 {
		if err := set("SO_SNDBUF", func() error { return setSendBuf(fd, o.SendBuf) }, "SO_SNDBUF="+itoa(o.SendBuf)); err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// ListenConfig returns a net.ListenConfig that reports socket(2) and applies
// o to each new socket before bind(2).
func (o *Options) ListenConfig(obs sockit.Observer) *net.ListenConfig {
	return &net.ListenConfig{Control: o.control(obs, nil), KeepAlive: o.KeepAlive}
}

// Dialer returns a net.Dialer that reports socket(2) and connect(2) and
// applies o before connecting. timeout bounds the connect; 0 means none.
func (o *Options) Dialer(obs sockit.Observer, laddr net.Addr, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, LocalAddr: laddr, KeepAlive: o.KeepAlive}
	ctl := o.control(obs, nil)
	d.Control = func(network, address string, c syscall.RawConn) error {
		if err := ctl(network, address, c); err != nil {
			return err
		}
		if laddr != nil {
			var err error
			fd := -1
			_ = c.Control(func(f uintptr) { fd = fdInt(f); err = bindNoPort(fd, network) })
			if err != nil {
				return err
			}
			if obs != nil && !strings.HasPrefix(network, "unix") {
				obs.Observe(sockit.Event{Step: sockit.StepBind, FD: fd, Net: network, Local: laddr})
			}
		}
		if obs != nil {
			fd := -1
			_ = c.Control(func(f uintptr) { fd = fdInt(f) })
			obs.Observe(sockit.Event{Step: sockit.StepConnect, FD: fd, Net: network, Peer: stringAddr{network, address}})
		}
		return nil
	}
	return d
}

// TuneConn applies the per-connection options that are set after accept or
// connect: TCP_NODELAY, keepalive. Other kinds of connection are left alone.
func (o *Options) TuneConn(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	if o.Nagle {
		if err := tc.SetNoDelay(false); err != nil {
			return err
		}
	}
	if o.KeepAlive < 0 {
		return tc.SetKeepAlive(false)
	}
	return nil
}

// Listen creates a stream listener for network/address with o applied and
// reports bind and listen to obs. The backlog is set with a second listen(2),
// which Linux and the BSDs take as an update of the queue length.
func (o *Options) Listen(ctx context.Context, network, address string, obs sockit.Observer) (net.Listener, error) {
	ln, err := o.ListenConfig(obs).Listen(ctx, network, address)
	if err != nil {
		return nil, sockit.Wrap("listen", network, address, err)
	}
	backlog := o.Backlog
	if backlog > 0 {
		if err := relisten(ln, backlog); err != nil {
			ln.Close()
			return nil, sockit.Wrap("listen", network, address, err)
		}
	} else {
		backlog = defaultBacklog()
	}
	if obs != nil {
		fd := FD(ln)
		obs.Observe(sockit.Event{Step: sockit.StepBind, FD: fd, Net: network, Local: ln.Addr()})
		obs.Observe(sockit.Event{Step: sockit.StepListen, FD: fd, Net: network, Local: ln.Addr(), N: backlog})
	}
	return ln, nil
}

// ListenPacket creates a datagram socket bound to network/address with o
// applied and reports bind to obs.
func (o *Options) ListenPacket(ctx context.Context, network, address string, obs sockit.Observer) (net.PacketConn, error) {
	pc, err := o.ListenConfig(obs).ListenPacket(ctx, network, address)
	if err != nil {
		return nil, sockit.Wrap("listen", network, address, err)
	}
	if obs != nil {
		obs.Observe(sockit.Event{Step: sockit.StepBind, FD: FD(pc), Net: network, Local: pc.LocalAddr()})
	}
	return pc, nil
}

// FD returns the descriptor number behind c, or -1 when it has none or the
// platform's handles are not small integers.
func FD(c any) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = fdInt(f) }); err != nil {
		return -1
	}
	return fd
}

// FamilyType names the address family and socket type the way socket(2) is
// called, e.g. "AF_INET6, SOCK_STREAM", from a net network name.
func FamilyType(network, address string) string {
	fam := "AF_INET"
	switch {
	case strings.HasPrefix(network, "unix"):
		fam = "AF_UNIX"
	case strings.HasSuffix(network, "6"):
		fam = "AF_INET6"
	case strings.HasSuffix(network, "4"):
	default:
		if host, _, err := net.SplitHostPort(address); err == nil && strings.Contains(host, ":") {
			fam = "AF_INET6"
		}
	}
	typ := "SOCK_STREAM"
	switch {
	case strings.HasPrefix(network, "udp"), network == "unixgram":
		typ = "SOCK_DGRAM"
	case network == "unixpacket":
		typ = "SOCK_SEQPACKET"
	}
	return fam + ", " + typ
}

type stringAddr struct{ net, addr string }

func (a stringAddr) Network() string { return a.net }
func (a stringAddr) String() string  { return a.addr }

// ErrNoUring says why io_uring cannot serve here: the kernel lacks it
// (ENOSYS), a sysctl or seccomp forbids it (EPERM, EACCES), or it lacks an
// operation or feature the engine needs.
var ErrNoUring = errors.New("io_uring is not available")
