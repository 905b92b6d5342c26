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
// to wake the loop (per eventfd(2)) and a timerfd that tells it when it has
// gone quiet.
//
// How a loop waits matters more than anything else it does. A blocking
// epoll_wait(2) made as an ordinary system call has the Go runtime's
// monitor take the loop's processor away after 20 µs and wake another
// thread to hold it, then hand it back when the call returns: on a loop
// that sleeps between every few messages, that costs more CPU than the echo
// itself (measured: 15–20 % of the server's CPU, see README). So while the
// loop is busy it waits with a raw system call the scheduler does not
// track, and blocks the ordinary way only when it is idle, giving its
// processor back for as long as it sleeps.
//
// Telling busy from idle must not cost a timeout per wait: a timeout arms a
// kernel hrtimer on every sleep and cancels it on every wake-up, which on
// this VM cost about 2 µs per 64-byte echo (server CPU per message at 40 000
// msgs/s: 15.7 µs with a 1 ms timeout on each raw wait, 13.8 µs without).
// Instead, while the loop is busy, the timerfd ticks every quietTick; a
// raw wait has no timeout but a due timer's. When a tick finds that no
// wait since the previous tick returned anything else, the loop has been
// quiet for a whole tick: it is idle, the ticking stops and the next wait
// is the ordinary one. So other goroutines get the processor within one
// to two ticks of a loop going quiet (while it stays busy, within the
// runtime's 10 ms preemption, as with any goroutine that never blocks), and
// an idle loop costs nothing. Signals (the runtime's preemption, the
// garbage collector's) end a raw wait at once with EINTR.
type poller struct {
	epfd    int
	efd     int
	tfd     int         // timerfd ticking every quietTick while busy
	waking  atomic.Bool // a wake-up is written and not yet consumed
	busy    bool        // wait raw
	ticking bool        // tfd is armed
	waits   uint64      // waits that returned events or a due timer
	tickAt  uint64      // waits as of the last tick
	events  []unix.EpollEvent
	wakebuf [8]byte
}

// quietTick is how long a busy loop must see nothing before it counts as
// idle (at most twice this).
const quietTick = time.Millisecond

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
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	p := &poller{epfd: epfd, efd: efd, tfd: tfd, events: make([]unix.EpollEvent, 256)}
	if err := p.add(efd, unix.EPOLLIN); err != nil {
		p.close()
		return nil, err
	}
	if err := p.add(tfd, unix.EPOLLIN); err != nil {
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
	rawRead(p.efd, p.wakebuf[:])
	p.waking.Store(false)
}

// wait returns ready events, waiting up to timeout (< 0: without limit).
// The timeout keeps its nanoseconds where the kernel allows (epoll_pwait2),
// so that a timer due in 200 µs is not served a millisecond late.
func (p *poller) wait(timeout time.Duration) (int, error) {
	if p.busy != p.ticking {
		p.setTicking(p.busy)
	}
	r, e := p.epollWait(timeout, p.busy || timeout == 0)
	switch {
	case e == unix.EINTR:
		return 0, nil
	case e != 0:
		return 0, os.NewSyscallError("epoll_wait", e)
	}
	p.waits++
	p.busy = true // events, or a timer due: the loop has work
	return r, nil
}

// tick consumes a tick of the timerfd, which came with n events in all
// (itself included). A tick that is alone and the only thing any wait
// returned since the previous tick means the loop is idle.
func (p *poller) tick(n int) {
	rawRead(p.tfd, p.wakebuf[:])
	if n == 1 && p.waits == p.tickAt+1 {
		p.busy = false
	}
	p.tickAt = p.waits
}

// setTicking arms the timerfd to tick every quietTick, or disarms it.
func (p *poller) setTicking(on bool) {
	var spec unix.ItimerSpec
	if on {
		spec.Interval = unix.NsecToTimespec(int64(quietTick))
		spec.Value = spec.Interval
	}
	if unix.TimerfdSettime(p.tfd, 0, &spec, nil) != nil {
		p.busy = false // no ticks to end a raw wait: wait the ordinary way
		return
	}
	p.ticking = on
	p.tickAt = p.waits
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
	unix.Close(p.tfd)
	unix.Close(p.efd)
	unix.Close(p.epfd)
}
