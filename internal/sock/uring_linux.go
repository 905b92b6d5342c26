package sock

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is io_uring(7) on raw system calls: a Ring is one instance,
// with its submission and completion queues mapped into our memory, and a
// BufRing is a ring of provided buffers the kernel receives into. The
// engine's uring loops are their only users; one goroutine, locked to its
// thread, owns each Ring.
//
// The layouts below are the kernel's (include/uapi/linux/io_uring.h); the
// opcodes and flags are the ones the engine uses, named as the kernel
// names them.

// SQE is a submission queue entry (struct io_uring_sqe, 64 bytes).
type SQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	FD          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32 // msg_flags, poll32_events, timeout_flags, accept_flags, cancel_flags
	UserData    uint64
	BufIndex    uint16 // buf_group with IOSQE_BUFFER_SELECT
	Personality uint16
	FileIndex   uint32
	Addr3       uint64
	_           uint64
}

// CQE is a completion queue entry (struct io_uring_cqe, 16 bytes).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// More reports whether the request that made the entry goes on
// (a multishot request still armed).
func (c *CQE) More() bool { return c.Flags&cqeMore != 0 }

// Buffer returns the provided buffer the entry's data is in.
func (c *CQE) Buffer() (bid uint16, ok bool) {
	return uint16(c.Flags >> 16), c.Flags&cqeBuffer != 0
}

// Err is the entry's failure, or nil for a result >= 0.
func (c *CQE) Err() syscall.Errno {
	if c.Res >= 0 {
		return 0
	}
	return syscall.Errno(-c.Res)
}

const (
	opPollAdd     = 6
	opSendmsg     = 9
	opTimeout     = 11
	opAccept      = 13
	opAsyncCancel = 14
	opConnect     = 16
	opClose       = 19
	opRead        = 22
	opSend        = 26
	opRecv        = 27

	sqeBufferSelect = 1 << 5

	recvMultishot   = 1 << 1 // IORING_RECV_MULTISHOT, in ioprio
	acceptMultishot = 1 << 0 // IORING_ACCEPT_MULTISHOT, in ioprio
	pollAddMulti    = 1 << 0 // IORING_POLL_ADD_MULTI, in len

	cqeBuffer = 1 << 0
	cqeMore   = 1 << 1

	setupCQSize        = 1 << 3
	setupSubmitAll     = 1 << 7
	setupCoopTaskrun   = 1 << 8
	setupSingleIssuer  = 1 << 12
	setupDeferTaskrun  = 1 << 13
	enterGetEvents     = 1 << 0
	enterExtArg        = 1 << 3
	featNoDrop         = 1 << 1
	featFastPoll       = 1 << 5
	featExtArg         = 1 << 8
	registerProbe      = 8
	registerPbufRing   = 22
	opSupported        = 1 << 0
	offSQRing          = 0
	offCQRing          = 0x8000000
	offSQEs            = 0x10000000
	sqCQOverflow       = 1 << 1
	sqTaskrun          = 1 << 2
	ringNeededFeatures = featNoDrop | featFastPoll | featExtArg
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		resv2                                                           uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		resv2                                                           uint64
	}
}

// getEventsArg is struct io_uring_getevents_arg.
type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	pad       uint32
	ts        uint64
}

// Ring is one io_uring instance. Its methods are for the goroutine that
// made it, locked to its thread (the kernel holds a ring set up with
// SINGLE_ISSUER to the thread that made it).
type Ring struct {
	fd      int
	flags   uint32 // the setup flags the kernel took
	sqMem   []byte
	cqMem   []byte
	sqeMem  []byte
	sqHead  *atomic.Uint32 // the kernel's
	sqTail  *atomic.Uint32 // ours, published by flush
	sqFlags *atomic.Uint32
	sqMask  uint32
	sqes    []SQE
	cqHead  *atomic.Uint32 // ours
	cqTail  *atomic.Uint32 // the kernel's
	cqMask  uint32
	cqes    []CQE
	tail    uint32        // the next SQE to fill
	head    uint32        // the next CQE to read
	cqLimit uint32        // cqTail as last loaded
	ts      unix.Timespec // Enter's timeout
	tick    unix.Timespec // Tick's
	arg     getEventsArg
	// bufs are the provided-buffer rings registered on this ring: every
	// Enter publishes what was recycled into them before it submits, so
	// that no receive is submitted while buffers given back wait unseen
	// (Enter is also called from get, when the queue fills in the middle
	// of a batch of completions).
	bufs []*BufRing
}

// RingOps are the operations the engine's uring backend needs: multishot
// accept and receive into provided buffers (Linux 6.0 and later).
var ringOps = []uint8{opPollAdd, opSendmsg, opTimeout, opAccept, opAsyncCancel, opConnect, opClose, opRead, opSend, opRecv}

// NewRing sets up a ring of entries submission slots (a power of two) and
// four times as many completion slots, with SINGLE_ISSUER and
// DEFER_TASKRUN where the kernel has them (it must then be used from this
// thread only), and checks that the kernel has everything the engine uses.
func NewRing(entries uint32) (*Ring, error) {
	p := uringParams{flags: setupCQSize | setupSubmitAll | setupSingleIssuer | setupDeferTaskrun, cqEntries: 4 * entries}
	fd, err := uringSetup(entries, &p)
	if err == unix.EINVAL { // before Linux 6.1: no DEFER_TASKRUN
		p = uringParams{flags: setupCQSize | setupSubmitAll | setupCoopTaskrun, cqEntries: 4 * entries}
		fd, err = uringSetup(entries, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoUring, os.NewSyscallError("io_uring_setup", err))
	}
	r := &Ring{fd: fd, flags: p.flags}
	if p.features&ringNeededFeatures != ringNeededFeatures {
		r.Close()
		return nil, fmt.Errorf("%w: the kernel lacks NODROP, FAST_POLL or EXT_ARG (Linux 5.11)", ErrNoUring)
	}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.probe(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func uringSetup(entries uint32, p *uringParams) (int, error) {
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func (r *Ring) mmap(p *uringParams) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(CQE{}))
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return os.NewSyscallError("mmap", err)
	}
	if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return os.NewSyscallError("mmap", err)
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(SQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return os.NewSyscallError("mmap", err)
	}
	u32 := func(mem []byte, off uint32) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail), u32(r.sqMem, p.sqOff.flags)
	r.sqMask = *(*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.ringMask]))
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i) // slot i of the ring is SQE i, always
	}
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *(*uint32)(unsafe.Pointer(&r.cqMem[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	r.tail = r.sqTail.Load()
	r.head = r.cqHead.Load()
	return nil
}

// probe checks that the kernel has every operation the engine submits.
func (r *Ring) probe() error {
	const maxOps = 256
	buf := make([]byte, 16+8*maxOps)
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(&buf[0])), maxOps, 0, 0); e != 0 {
		return fmt.Errorf("%w: %w", ErrNoUring, os.NewSyscallError("io_uring_register", e))
	}
	n := int(buf[1]) // ops_len
	for _, op := range ringOps {
		flags := uint16(buf[16+8*int(op)+2]) | uint16(buf[16+8*int(op)+3])<<8
		if int(op) >= n || flags&opSupported == 0 {
			return fmt.Errorf("%w: the kernel lacks io_uring operation %d", ErrNoUring, op)
		}
	}
	return nil
}

// DeferTaskrun reports whether the ring runs completions' work only when
// its thread enters the kernel (Linux 6.1), as SINGLE_ISSUER requires.
func (r *Ring) DeferTaskrun() bool { return r.flags&setupDeferTaskrun != 0 }

// FD is the ring's descriptor, for narration.
func (r *Ring) FD() int { return r.fd }

// Close unmaps the ring and closes it; the kernel cancels what is still
// in flight.
func (r *Ring) Close() error {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	if r.fd < 0 {
		return nil
	}
	err := Close(r.fd)
	r.fd = -1
	return err
}

// get returns a cleared submission entry, submitting what is queued first
// if the queue is full (the completions read so far are handed back
// first, so that the kernel has room for what the submissions produce).
func (r *Ring) get() *SQE {
	for i := 0; r.tail-r.sqHead.Load() > r.sqMask; i++ {
		if i == 1000 {
			panic("sock: io_uring submission queue stays full")
		}
		r.Seen()
		r.Enter(false, 0, true)
	}
	sqe := &r.sqes[r.tail&r.sqMask]
	*sqe = SQE{}
	r.tail++
	return sqe
}

// CQSize is the number of completion slots (four per submission slot).
func (r *Ring) CQSize() int { return len(r.cqes) }

// Queued is the number of entries filled and not yet taken by the kernel.
func (r *Ring) Queued() uint32 { return r.tail - r.sqHead.Load() }

// Enter submits what is queued and, with wait, waits until at least one
// completion is there or timeout passes (timeout < 0: without limit).
// raw makes it a system call the Go scheduler does not track (see the
// engine's poller). A signal ends a wait early: that is not an error.
func (r *Ring) Enter(wait bool, timeout time.Duration, raw bool) error {
	for _, b := range r.bufs {
		b.Publish()
	}
	submit := r.tail - r.sqHead.Load() // what the kernel has not taken, from earlier calls too
	r.sqTail.Store(r.tail)
	flags := uintptr(0)
	minComplete := uintptr(0)
	var arg unsafe.Pointer
	argSize := uintptr(0)
	if wait {
		flags = enterGetEvents | enterExtArg
		minComplete = 1
		r.arg = getEventsArg{}
		if timeout >= 0 {
			r.ts = unix.NsecToTimespec(int64(timeout))
			r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
		}
		arg, argSize = unsafe.Pointer(&r.arg), unsafe.Sizeof(r.arg)
	} else if r.DeferTaskrun() || r.sqFlags.Load()&(sqCQOverflow|sqTaskrun) != 0 {
		flags = enterGetEvents // run completions' work and flush an overflow
	}
	if submit == 0 && flags == 0 {
		return nil
	}
	call := unix.Syscall6
	if raw {
		call = unix.RawSyscall6
	}
	_, _, e := call(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(submit), minComplete, flags, uintptr(arg), argSize)
	switch e {
	case 0, unix.ETIME, unix.EINTR:
		return nil
	case unix.EAGAIN, unix.EBUSY:
		// The kernel could not take more now (completions to reap
		// first): what it did not take stays queued for the next call.
		return nil
	}
	return os.NewSyscallError("io_uring_enter", e)
}

// Next returns the next completion, if there is one.
func (r *Ring) Next() (CQE, bool) {
	if r.head == r.cqLimit {
		r.cqLimit = r.cqTail.Load()
		if r.head == r.cqLimit {
			return CQE{}, false
		}
	}
	c := r.cqes[r.head&r.cqMask]
	r.head++
	return c, true
}

// Seen hands the completions read with Next back to the kernel.
func (r *Ring) Seen() { r.cqHead.Store(r.head) }

// Overflowed reports whether completions wait in the kernel for room in
// the completion queue; an Enter moves them in.
func (r *Ring) Overflowed() bool { return r.sqFlags.Load()&sqCQOverflow != 0 }

// RecvMultishot receives on fd into buffers of group until limit bytes
// have come (at most one buffer more; Linux 6.17, see ProbeRecvLimit),
// or it is cancelled, or the peer's EOF, an error, or the group running
// out (ENOBUFS) ends it.
func (r *Ring) RecvMultishot(fd int, group uint16, limit uint32, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opRecv, int32(fd), ud
	s.Ioprio = recvMultishot
	s.Flags = sqeBufferSelect
	s.BufIndex = group
	s.FileIndex = limit // optlen: the multishot's byte limit
}

// Recv receives once on fd into a buffer of group.
func (r *Ring) Recv(fd int, group uint16, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opRecv, int32(fd), ud
	s.Flags = sqeBufferSelect
	s.BufIndex = group
}

// ProbeRecvLimit reports whether the kernel bounds a multishot receive by
// a byte limit (Linux 6.17): without it a multishot receive takes all
// there is to read, however much, before a cancellation can stop it, and
// backpressure needs single receives. It tries one on a socket pair,
// with buffers of group; use it before other requests are in flight.
func (r *Ring) ProbeRecvLimit(group uint16) bool {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	const probe, cancel = 1, 2
	r.RecvMultishot(fds[0], group, 1<<20, probe)
	r.Cancel(probe, cancel)
	ok, seen := false, 0
	for tries := 0; seen < 2 && tries < 100; tries++ {
		if r.Enter(true, 10*time.Millisecond, false) != nil {
			break
		}
		for {
			c, more := r.Next()
			if !more {
				break
			}
			seen++
			if c.UserData == probe {
				ok = c.Res != -int32(unix.EINVAL)
			}
		}
		r.Seen()
	}
	return ok && seen == 2
}

// RecvMessage receives one message on fd into a buffer of group; the
// result is the message's whole length (MSG_TRUNC, per unix(7)), so that
// one longer than the buffer shows.
func (r *Ring) RecvMessage(fd int, group uint16, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opRecv, int32(fd), ud
	s.Flags = sqeBufferSelect
	s.BufIndex = group
	s.OpFlags = unix.MSG_TRUNC
}

// Send sends p on fd; p must stay as it is until the completion.
func (r *Ring) Send(fd int, p []byte, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opSend, int32(fd), ud
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&p[0]))), uint32(len(p))
	s.OpFlags = unix.MSG_NOSIGNAL
}

// SendMsg sends msg's vectors on fd; msg and what it points to must stay
// as they are until the completion.
func (r *Ring) SendMsg(fd int, msg *unix.Msghdr, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opSendmsg, int32(fd), ud
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(msg))), 1
	s.OpFlags = unix.MSG_NOSIGNAL
}

// AcceptMultishot accepts on listening fd until cancelled; each completion
// is a new descriptor (close-on-exec, blocking: io_uring waits for it) or
// an error.
func (r *Ring) AcceptMultishot(fd int, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opAccept, int32(fd), ud
	s.Ioprio = acceptMultishot
	s.OpFlags = unix.SOCK_CLOEXEC
}

// PollAdd waits for events on fd (POLLERR and POLLHUP always count), once
// or, with multi, until cancelled.
func (r *Ring) PollAdd(fd int, events uint32, multi bool, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opPollAdd, int32(fd), ud
	s.OpFlags = events
	if multi {
		s.Len = pollAddMulti
	}
}

// Connect connects fd to the address at sa (len n), which must stay as it
// is until the completion.
func (r *Ring) Connect(fd int, sa unsafe.Pointer, n uint32, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opConnect, int32(fd), ud
	s.Addr, s.Off = uint64(uintptr(sa)), uint64(n)
}

// Cancel cancels the request with user data target; its own completion
// has user data ud.
func (r *Ring) Cancel(target, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opAsyncCancel, -1, ud
	s.Addr = target
}

// Tick completes (with ETIME) after d; one Tick at a time.
func (r *Ring) Tick(d time.Duration, ud uint64) {
	r.tick = unix.NsecToTimespec(int64(d))
	s := r.get()
	s.Opcode, s.FD, s.UserData = opTimeout, -1, ud
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&r.tick))), 1
}

// Close closes fd once every entry submitted before it has taken its
// hold on the file: a descriptor that queued entries name must not be
// closed any other way, or its number could be reused before they are
// submitted.
func (r *Ring) CloseFD(fd int, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opClose, int32(fd), ud
}

// Read reads from fd into p, which must stay as it is until the
// completion.
func (r *Ring) Read(fd int, p []byte, ud uint64) {
	s := r.get()
	s.Opcode, s.FD, s.UserData = opRead, int32(fd), ud
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&p[0]))), uint32(len(p))
	s.Off = ^uint64(0) // the file's position: none for an eventfd
}

// BufRing is a ring of provided buffers (IORING_REGISTER_PBUF_RING, Linux
// 5.19): count buffers of size bytes, in memory of its own outside the Go
// heap. The kernel takes one per receive; Recycle gives it back.
type BufRing struct {
	ring  []byte // the entries (struct io_uring_buf), the tail overlaid on the first
	data  []byte
	size  int
	mask  uint16
	tail  uint16
	group uint16
	dirty bool
}

// bufEntry is struct io_uring_buf.
type bufEntry struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// NewBufRing registers count buffers (a power of two, at most 32768) of
// size bytes as group.
func (r *Ring) NewBufRing(group uint16, count, size int) (*BufRing, error) {
	if count <= 0 || count > 1<<15 || count&(count-1) != 0 {
		return nil, fmt.Errorf("sock: %d provided buffers: not a power of two up to 32768", count)
	}
	ring, err := unix.Mmap(-1, 0, count*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	data, err := unix.Mmap(-1, 0, count*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unix.Munmap(ring)
		return nil, os.NewSyscallError("mmap", err)
	}
	reg := struct {
		ringAddr    uint64
		ringEntries uint32
		bgid        uint16
		pad         uint16
		resv        [3]uint64
	}{ringAddr: uint64(uintptr(unsafe.Pointer(&ring[0]))), ringEntries: uint32(count), bgid: group}
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); e != 0 {
		unix.Munmap(data)
		unix.Munmap(ring)
		return nil, fmt.Errorf("%w: %w", ErrNoUring, os.NewSyscallError("io_uring_register", e))
	}
	b := &BufRing{ring: ring, data: data, size: size, mask: uint16(count - 1), group: group}
	for i := 0; i < count; i++ {
		b.Recycle(uint16(i))
	}
	b.Publish()
	r.bufs = append(r.bufs, b)
	return b, nil
}

// Group is the buffer group the ring was registered as.
func (b *BufRing) Group() uint16 { return b.group }

// Buf returns the first n bytes of buffer bid.
func (b *BufRing) Buf(bid uint16, n int) []byte {
	off := int(bid) * b.size
	return b.data[off : off+min(n, b.size) : off+b.size]
}

// Recycle gives buffer bid back to the kernel (at the next Publish, which
// the ring's next Enter makes).
func (b *BufRing) Recycle(bid uint16) {
	e := (*bufEntry)(unsafe.Pointer(&b.ring[int(b.tail&b.mask)*16]))
	e.addr = uint64(uintptr(unsafe.Pointer(&b.data[int(bid)*b.size])))
	e.len = uint32(b.size)
	e.bid = bid
	b.tail++
	b.dirty = true
}

// Publish makes the recycled buffers visible to the kernel.
func (b *BufRing) Publish() {
	if b.dirty {
		// The tail overlays the last 16 bits of entry 0 (its resv); the
		// 32-bit store keeps entry 0's bid, which only we write.
		bid0 := uint32(*(*uint16)(unsafe.Pointer(&b.ring[12])))
		(*atomic.Uint32)(unsafe.Pointer(&b.ring[12])).Store(uint32(b.tail)<<16 | bid0)
		b.dirty = false
	}
}

// Size is the size of each buffer.
func (b *BufRing) Size() int { return b.size }

// Free unmaps the buffers; their ring must be closed, with nothing in
// flight that could still write to them.
func (b *BufRing) Free() {
	unix.Munmap(b.data)
	unix.Munmap(b.ring)
}

// SendVec is the message header and vectors of a vectored send, which
// must stay as they are until its completion.
type SendVec struct {
	msg unix.Msghdr
	iov [maxSendVectors]unix.Iovec
}

// maxSendVectors bounds the slices one vectored send takes.
const maxSendVectors = 16

// SendVectors sends bufs (the first maxSendVectors of them) on fd as one
// sendmsg(2), through v; the bytes and v must stay as they are until the
// completion.
func (r *Ring) SendVectors(fd int, v *SendVec, bufs [][]byte, ud uint64) {
	n := min(len(bufs), maxSendVectors)
	for i, b := range bufs[:n] {
		v.iov[i].Base = unsafe.SliceData(b)
		v.iov[i].SetLen(len(b))
	}
	v.msg = unix.Msghdr{Iov: &v.iov[0]}
	v.msg.SetIovlen(n)
	r.SendMsg(fd, &v.msg, ud)
}

// Waker is an eventfd that other goroutines write to end a ring's wait:
// the ring keeps a read of it in flight (Arm), whose completion is the
// wake-up.
type Waker struct {
	fd     int
	waking atomic.Bool // a wake-up is written and its read not yet seen
	buf    [8]byte
}

// NewWaker makes the eventfd.
func NewWaker() (*Waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return &Waker{fd: fd}, nil
}

// Arm queues the read whose completion, with user data ud, is the next
// wake-up; call it again after each.
func (w *Waker) Arm(r *Ring, ud uint64) {
	w.waking.Store(false)
	r.Read(w.fd, w.buf[:], ud)
}

// Wake ends the ring's wait; any goroutine may call it. Only the first
// call until the wake-up is seen makes a system call.
func (w *Waker) Wake() {
	if w.waking.CompareAndSwap(false, true) {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(w.fd, one[:]) // EAGAIN: the counter is full, the wake-up is pending anyway
	}
}

// Close closes the eventfd; the ring must be closed first.
func (w *Waker) Close() error { return Close(w.fd) }

// SetBlocking clears O_NONBLOCK, for a socket io_uring does the waiting
// on: on a non-blocking socket a send or receive it retries can surface
// EAGAIN.
func SetBlocking(fd int) error {
	return os.NewSyscallError("fcntl", unix.SetNonblock(fd, false))
}

// PeerOf is the peer of connected socket fd, in the shapes Accept returns:
// an AddrPort for an IP peer without a zone, a net.Addr of network for a
// named Unix or zoned IPv6 peer, neither for an unnamed Unix peer (or when
// the peer is gone already).
func PeerOf(fd int, network string) (netip.AddrPort, net.Addr) {
	var raw unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	if _, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return netip.AddrPort{}, nil
	}
	ap, sa := Peer(&raw, n)
	if sa != nil {
		return ap, Addr(network, sa)
	}
	return ap, nil
}

// The calls a completion's result can come from, for Completed.
const (
	CallIO     = callIO     // a receive or a send
	CallAccept = callAccept // an accept
)

// Completed turns a completion's result into what the call would have
// returned, decided as for the system call itself (decide): n >= 0, or
// ErrWouldBlock (nothing happened: EAGAIN, EINTR), ErrSkip (one accepted
// connection failed alone), ErrCanceled, or the failure of call name.
func Completed(c call, name string, res int32) (int, error) {
	if res >= 0 {
		return int(res), nil
	}
	e := unix.Errno(-res)
	switch e {
	case unix.ECANCELED:
		return 0, ErrCanceled
	case unix.ENOBUFS:
		return 0, ErrNoBuffers
	}
	err, retry := result(c, name, e)
	if retry {
		return 0, ErrWouldBlock
	}
	return 0, err
}

// ErrCanceled is the result of a request that was cancelled.
var ErrCanceled error = syscall.ECANCELED

// ErrNoBuffers is the end of a receive that found no provided buffer.
var ErrNoBuffers error = syscall.ENOBUFS

// MessageTooLong fails a message longer than the buffer it was read into.
func MessageTooLong() error { return os.NewSyscallError("read", unix.EMSGSIZE) }
