package engine

import (
	"encoding/binary"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// poller is one epoll instance with an eventfd that other goroutines write
// to wake the loop (per eventfd(2)).
type poller struct {
	epfd    int
	efd     int
	waking  atomic.Bool // a wake-up is written and not yet consumed
	events  []unix.EpollEvent
	wakebuf [8]byte
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &poller{epfd: epfd, efd: efd, events: make([]unix.EpollEvent, 256)}
	if err := p.add(efd, unix.EPOLLIN); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *poller) add(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

func (p *poller) mod(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev))
}

func (p *poller) del(fd int) error {
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil))
}

// wake makes the loop's epoll_wait return; any goroutine may call it. Only
// the first call until the loop consumes the wake-up makes a system call.
func (p *poller) wake() {
	if p.waking.CompareAndSwap(false, true) {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(p.efd, one[:])
	}
}

// consumeWake clears the eventfd, then allows the next wake-up. The order
// matters: clearing after the flag could swallow a wake-up written in
// between, while the flag still told later posters one was pending.
func (p *poller) consumeWake() {
	unix.Read(p.efd, p.wakebuf[:])
	p.waking.Store(false)
}

func (p *poller) wait(msec int) (int, error) {
	n, err := unix.EpollWait(p.epfd, p.events, msec)
	if err == unix.EINTR {
		return 0, nil
	}
	return n, os.NewSyscallError("epoll_wait", err)
}

func (p *poller) close() {
	unix.Close(p.efd)
	unix.Close(p.epfd)
}
