package tcpstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// snapLen is how much of each packet the filter keeps: the largest IPv4
// header (60) and TCP header (60) fit; payload is not needed.
const snapLen = 128

// capture owns one AF_PACKET socket.
type capture struct {
	file      *os.File
	f         Filter
	loopbacks map[int]bool // interface indexes of loopback devices
}

func newCapture(f Filter) (*capture, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("packet capture: %w (an AF_PACKET socket needs CAP_NET_RAW)", ErrNeedRoot)
	}
	prog, err := bpf.Assemble(portFilter(f.Port))
	if err != nil {
		return nil, fmt.Errorf("packet capture: filter: %w", err)
	}
	// Protocol 0 receives nothing until bind: the filter is in place before
	// the first packet arrives.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet capture: %w", os.NewSyscallError("socket", err))
	}
	if err := setupPacketSocket(fd, prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet capture: %w", err)
	}
	return &capture{file: os.NewFile(uintptr(fd), "packet"), f: f, loopbacks: loopbackIndexes()}, nil
}

func setupPacketSocket(fd int, prog []bpf.RawInstruction) error {
	fprog := unix.SockFprog{
		Len:    uint16(len(prog)),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0])),
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt(SO_ATTACH_FILTER)", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return os.NewSyscallError("setsockopt(SO_TIMESTAMPNS)", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)} // Ifindex 0: every interface
	return os.NewSyscallError("bind", unix.Bind(fd, sa))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// portFilter keeps TCP over IPv4 (first fragments) and IPv6 (without
// extension headers) with port as source or destination port; port 0 keeps
// all TCP. The packet starts at the IP header on a SOCK_DGRAM socket.
func portFilter(port uint16) []bpf.Instruction {
	const accept, reject = 1 << 20, 0
	p := uint32(port)
	v4 := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: 0}, // patched below: → reject
		bpf.LoadAbsolute{Off: 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 0}, // a later fragment → reject
		bpf.LoadMemShift{Off: 0},                                    // X = IPv4 header length
		bpf.LoadIndirect{Off: 0, Size: 2},                           // source port
	}
	v6 := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: 0},
		bpf.LoadAbsolute{Off: 40, Size: 2},
	}
	ports := func(indirect bool) []bpf.Instruction {
		if port == 0 {
			return []bpf.Instruction{bpf.RetConstant{Val: accept}}
		}
		var dst bpf.Instruction = bpf.LoadAbsolute{Off: 42, Size: 2}
		if indirect {
			dst = bpf.LoadIndirect{Off: 2, Size: 2}
		}
		return []bpf.Instruction{
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipTrue: 2},
			dst,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: p, SkipFalse: 1},
			bpf.RetConstant{Val: accept},
			bpf.RetConstant{Val: reject},
		}
	}
	v4 = append(v4, ports(true)...)
	v6 = append(v6, ports(false)...)
	head := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: uint8(len(v4))},
	}
	v6head := []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: uint8(len(v6))}}
	prog := append(append(append(head, v4...), v6head...), v6...)
	prog = append(prog, bpf.RetConstant{Val: reject})
	// Point the "not TCP" and "fragment" jumps at the final reject.
	last := len(prog) - 1
	for i, ins := range prog {
		if j, ok := ins.(bpf.JumpIf); ok && j.SkipTrue == 0 && j.SkipFalse == 0 {
			j.SkipTrue = uint8(last - i - 1)
			prog[i] = j
		}
	}
	return capSnap(prog)
}

// capSnap makes every accept keep only snapLen bytes.
func capSnap(prog []bpf.Instruction) []bpf.Instruction {
	for i, ins := range prog {
		if r, ok := ins.(bpf.RetConstant); ok && r.Val != 0 {
			prog[i] = bpf.RetConstant{Val: snapLen}
		}
	}
	return prog
}

func loopbackIndexes() map[int]bool {
	m := map[int]bool{}
	ifs, err := net.Interfaces()
	if err != nil {
		return m
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			m[ifi.Index] = true
		}
	}
	return m
}

func (c *capture) run(ctx context.Context, fn func(Packet)) error {
	stop := context.AfterFunc(ctx, func() { c.file.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := c.file.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet capture: %w", err)
	}
	buf := make([]byte, snapLen)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	for {
		var seg Segment
		var keep bool
		var rerr error
		var n int
		err := rc.Read(func(fd uintptr) bool {
			seg, n, keep, rerr = c.receive(int(fd), buf, oob)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		switch {
		case ctx.Err() != nil || errors.Is(err, os.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("packet capture: %w", err)
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil:
			return fmt.Errorf("packet capture: %w", os.NewSyscallError("recvmsg", rerr))
		case keep && c.f.Match(Socket{Local: seg.Src, Remote: seg.Dst}):
			fn(Packet{Segment: seg, Data: append([]byte(nil), buf[:min(n, len(buf))]...), WireLen: n})
		}
	}
}

// receive reads one packet, n bytes long on the wire. keep is false for the outgoing copy of a
// loopback packet (the incoming copy is the one reported) and for packets
// that do not parse.
func (c *capture) receive(fd int, buf, oob []byte) (seg Segment, n int, keep bool, err error) {
	n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC)
	if err != nil {
		return Segment{}, 0, false, err
	}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING && c.loopbacks[ll.Ifindex] {
		return Segment{}, 0, false, nil
	}
	seg, perr := ParseSegment(buf[:min(n, len(buf))])
	if perr != nil {
		return Segment{}, 0, false, nil
	}
	seg.Time = packetTime(oob[:oobn])
	return seg, n, true, nil
}

// packetTime takes the kernel's receive time from the SCM_TIMESTAMPNS
// control message, or the current time when there is none.
func packetTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Now()
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Now()
}

func (c *capture) close() error { return c.file.Close() }
