package engine

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is one epoll instance with an eventfd that other goroutines write
// to wake the loop (per eventfd(2)).
//
// How a loop waits matters more than anything else it does. A blocking
// epoll_wait(2) made as an ordinary system call has the Go runtime's
// monitor take the loop's processor away after 20 µs and wake another
// thread to hold it, then hand it back when the call returns: on a loop
// that sleeps between every few messages, that costs more CPU than the echo
// itself (measured: 15–20 % of the server's CPU, see README). So while the
// loop is busy — its last wait found events — it waits with a raw system
// call the scheduler does not track, for at most busyWaitMax; the
// runtime's preemption signals (garbage collection, a goroutine waiting for
// the processor) interrupt it at once with EINTR. When such a wait finds
// nothing the loop is idle, and it blocks the ordinary way, giving its
// processor back for as long as it sleeps.
type poller struct {
	epfd    int
	efd     int
	waking  atomic.Bool // a wake-up is written and not yet consumed
	busy    bool        // the last wait found events
	events  []unix.EpollEvent
	wakebuf [8]byte
}

// busyWaitMax bounds a raw epoll_wait of a busy loop.
const busyWaitMax = time.Millisecond

// noPwait2 is set once epoll_pwait2(2) (Linux 5.11) turns out to be
// missing; waits then round their timeout up to whole milliseconds.
var noPwait2 atomic.Bool

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

// wake makes the loop's wait return; any goroutine may call it. Only the
// first call until the loop consumes the wake-up makes a system call.
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

// wait returns ready events, waiting up to timeout (< 0: without limit).
// The timeout keeps its nanoseconds where the kernel allows (epoll_pwait2),
// so that a timer due in 200 µs is not served a millisecond late.
func (p *poller) wait(timeout time.Duration) (int, error) {
	raw := p.busy || timeout == 0
	if raw && (timeout < 0 || timeout > busyWaitMax) {
		timeout = busyWaitMax
	}
	r, e := p.epollWait(timeout, raw)
	switch {
	case e == unix.EINTR:
		return 0, nil
	case e != 0:
		return 0, os.NewSyscallError("epoll_wait", e)
	}
	p.busy = r > 0
	return r, nil
}

// epollWait makes the system call: raw (untracked by the scheduler) or
// ordinary, with epoll_pwait2 where the kernel has it.
func (p *poller) epollWait(timeout time.Duration, raw bool) (int, unix.Errno) {
	call := unix.Syscall6
	if raw {
		call = unix.RawSyscall6
	}
	events := uintptr(unsafe.Pointer(&p.events[0]))
	n := uintptr(len(p.events))
	if !noPwait2.Load() {
		var ts *unix.Timespec
		if timeout >= 0 {
			t := unix.NsecToTimespec(int64(timeout))
			ts = &t
		}
		r, _, e := call(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), events, n, uintptr(unsafe.Pointer(ts)), 0, 0)
		if e != unix.ENOSYS {
			return int(r), e
		}
		noPwait2.Store(true)
	}
	msec := -1
	if timeout >= 0 {
		msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	r, _, e := call(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), events, n, uintptr(msec), 0, 0)
	return int(r), e
}

func (p *poller) close() {
	unix.Close(p.efd)
	unix.Close(p.epfd)
}
