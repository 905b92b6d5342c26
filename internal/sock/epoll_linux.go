package sock

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Readiness is what epoll(7) reports about a descriptor, and what a loop
// asks it to watch for.
type Readiness = uint32

// The readiness bits, as epoll_ctl(2) names them.
const (
	Readable  Readiness = unix.EPOLLIN    // data, the peer's FIN, or a connection to accept
	Writable  Readiness = unix.EPOLLOUT   // room in the send buffer; a connect finished
	PeerShut  Readiness = unix.EPOLLRDHUP // the peer shut its writing side down
	HungUp    Readiness = unix.EPOLLHUP   // both directions are over
	ErrorSeen Readiness = unix.EPOLLERR   // a pending socket error (PendingError)
	Urgent    Readiness = unix.EPOLLPRI   // TCP urgent data has come (RecvOOB takes it)
)

// Epoll is one epoll instance with the two descriptors a loop waits on
// besides its sockets: an eventfd other goroutines write to wake it (per
// eventfd(2)), and a timerfd that ticks at an interval while armed. One
// goroutine (the loop) calls Wait, Events, Mod, Del and the Consume
// methods; Wake may be called from any goroutine.
type Epoll struct {
	epfd, efd, tfd int
	events         []unix.EpollEvent
	waking         atomic.Bool // a wake-up is written and not yet consumed
	scratch        [8]byte
}

// noPwait2 is set once epoll_pwait2(2) (Linux 5.11) turns out to be
// missing; waits then round their timeout up to whole milliseconds.
var noPwait2 atomic.Bool

// NewEpoll creates an epoll instance that returns up to size events a wait,
// with its eventfd and timerfd registered.
func NewEpoll(size int) (*Epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	p := &Epoll{epfd: epfd, efd: -1, tfd: -1, events: make([]unix.EpollEvent, size)}
	if p.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		p.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	if p.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		p.Close()
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	for _, fd := range []int{p.efd, p.tfd} {
		if err := p.Add(fd, Readable); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// FD is the epoll instance's own descriptor, for narration.
func (p *Epoll) FD() int { return p.epfd }

// Add starts watching fd for r (level-triggered).
func (p *Epoll) Add(fd int, r Readiness) error { return p.ctl(unix.EPOLL_CTL_ADD, fd, r) }

// Mod changes what fd is watched for; 0 keeps it registered but silent
// (EPOLLERR and EPOLLHUP are reported all the same, per epoll_ctl(2)).
func (p *Epoll) Mod(fd int, r Readiness) error { return p.ctl(unix.EPOLL_CTL_MOD, fd, r) }

// Del stops watching fd.
func (p *Epoll) Del(fd int) error { return p.ctl(unix.EPOLL_CTL_DEL, fd, 0) }

func (p *Epoll) ctl(op, fd int, r Readiness) error {
	ev := unix.EpollEvent{Events: r, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, op, fd, &ev))
}

// ErrInterrupted is returned by Wait when a signal ended it before any
// event (the runtime's preemption, the garbage collector's): nothing
// happened, look around and wait again.
var ErrInterrupted error = syscall.EINTR

// Wait waits for events up to timeout (< 0: without limit) and returns how
// many there are. raw makes it a
// system call the Go scheduler does not track (for a loop that expects to
// be woken soon; see the engine's poller). The timeout keeps its
// nanoseconds where the kernel allows (epoll_pwait2), so that a timer due
// in 200 µs is not served a millisecond late.
func (p *Epoll) Wait(timeout time.Duration, raw bool) (int, error) {
	call := unix.Syscall6
	if raw {
		call = unix.RawSyscall6
	}
	events := uintptr(unsafe.Pointer(&p.events[0]))
	n := uintptr(len(p.events))
	var r uintptr
	var e unix.Errno
	if !noPwait2.Load() {
		var ts *unix.Timespec
		if timeout >= 0 {
			t := unix.NsecToTimespec(int64(timeout))
			ts = &t
		}
		r, _, e = call(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), events, n, uintptr(unsafe.Pointer(ts)), 0, 0)
		if e == unix.ENOSYS {
			noPwait2.Store(true)
		}
	}
	if noPwait2.Load() {
		msec := -1
		if timeout >= 0 {
			msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
		}
		r, _, e = call(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), events, n, uintptr(msec), 0, 0)
	}
	switch e {
	case 0:
		return int(r), nil
	case unix.EINTR:
		return 0, ErrInterrupted
	}
	return 0, os.NewSyscallError("epoll_wait", e)
}

// Event returns the i-th event of the last Wait.
func (p *Epoll) Event(i int) (fd int, r Readiness) {
	ev := &p.events[i]
	return int(ev.Fd), ev.Events
}

// ReadinessString names readiness bits as epoll_ctl(2) does:
// "EPOLLIN|EPOLLRDHUP".
func ReadinessString(r Readiness) string {
	var s string
	for _, b := range [...]struct {
		r    Readiness
		name string
	}{{Readable, "EPOLLIN"}, {Urgent, "EPOLLPRI"}, {Writable, "EPOLLOUT"}, {ErrorSeen, "EPOLLERR"}, {HungUp, "EPOLLHUP"}, {PeerShut, "EPOLLRDHUP"}} {
		if r&b.r != 0 {
			if s != "" {
				s += "|"
			}
			s += b.name
		}
	}
	if s == "" {
		return "0"
	}
	return s
}

// IsWake reports whether fd is the eventfd; IsTick whether it is the
// timerfd.
func (p *Epoll) IsWake(fd int) bool { return fd == p.efd }
func (p *Epoll) IsTick(fd int) bool { return fd == p.tfd }

// Wake makes the waiter's Wait return; any goroutine may call it. Only the
// first call until the waiter consumes the wake-up makes a system call.
func (p *Epoll) Wake() {
	if p.waking.CompareAndSwap(false, true) {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(p.efd, one[:]) // EAGAIN: the counter is full, the wake-up is pending anyway
	}
}

// ConsumeWake clears the eventfd, then allows the next wake-up. The order
// matters: clearing after the flag could swallow a wake-up written in
// between, while the flag still told later callers one was pending.
func (p *Epoll) ConsumeWake() {
	Read(p.efd, p.scratch[:])
	p.waking.Store(false)
}

// SetTick arms the timerfd to tick every d, or disarms it for d == 0.
func (p *Epoll) SetTick(d time.Duration) error {
	var spec unix.ItimerSpec
	if d > 0 {
		spec.Interval = unix.NsecToTimespec(int64(d))
		spec.Value = spec.Interval
	}
	return os.NewSyscallError("timerfd_settime", unix.TimerfdSettime(p.tfd, 0, &spec, nil))
}

// ConsumeTick clears the timerfd's count of expirations.
func (p *Epoll) ConsumeTick() { Read(p.tfd, p.scratch[:]) }

// Close closes the three descriptors and returns the first failure.
func (p *Epoll) Close() error {
	var first error
	for _, fd := range []int{p.tfd, p.efd, p.epfd} {
		if fd < 0 {
			continue
		}
		if err := Close(fd); err != nil && first == nil {
			first = err
		}
	}
	return first
}
