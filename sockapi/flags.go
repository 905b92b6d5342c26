package sockapi

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is returned by a call the platform does not have.
var ErrUnsupported = errors.New("sockapi: not supported on this platform")

// Flags are the MSG_* flags of send(2) and recv(2), and those recvmsg(2)
// reports back. The zero value is no flag.
type Flags uint16

// The flags a caller passes.
const (
	Peek      Flags = 1 << iota // MSG_PEEK: look at the data without taking it from the queue
	WaitAll                     // MSG_WAITALL: wait until the whole buffer is filled (blocking socket)
	DontWait                    // MSG_DONTWAIT: fail with EAGAIN instead of waiting
	OOB                         // MSG_OOB: urgent (out-of-band) data
	DontRoute                   // MSG_DONTROUTE: send only to directly connected hosts, bypassing routing
	// The flags recvmsg(2) reports in msg_flags.
	Trunc  // MSG_TRUNC: the datagram was longer than the buffer; its tail is lost
	CTrunc // MSG_CTRUNC: the ancillary data did not fit its buffer; the rest is lost
	EOR    // MSG_EOR: the end of a record (seqpacket)
)

// flagNames are the flags in bit order, as the man pages spell them.
var flagNames = []struct {
	f    Flags
	name string
}{
	{Peek, "MSG_PEEK"}, {WaitAll, "MSG_WAITALL"}, {DontWait, "MSG_DONTWAIT"}, {OOB, "MSG_OOB"},
	{DontRoute, "MSG_DONTROUTE"}, {Trunc, "MSG_TRUNC"}, {CTrunc, "MSG_CTRUNC"}, {EOR, "MSG_EOR"},
}

// callerFlags are those ParseFlags accepts.
const callerFlags = Peek | WaitAll | DontWait | OOB | DontRoute

// String writes the flags as C does, "MSG_PEEK|MSG_OOB"; no flag is "0".
func (f Flags) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// ParseFlags reads flags written as "peek,oob" or "MSG_PEEK|MSG_OOB":
// names with or without MSG_, in any case, separated by commas or bars.
// "" and "0" are no flag.
func ParseFlags(s string) (Flags, error) {
	var f Flags
	for _, word := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' }) {
		if word == "0" {
			continue
		}
		name := strings.ToUpper(word)
		if !strings.HasPrefix(name, "MSG_") {
			name = "MSG_" + name
		}
		found := false
		for _, n := range flagNames {
			if n.name == name && n.f&callerFlags != 0 {
				f, found = f|n.f, true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown flag %q (want oob, peek, waitall, dontwait or dontroute)", word)
		}
	}
	return f, nil
}

// SendCall names the system call that sends: write(2), send(2),
// sendto(2), sendmsg(2) or writev(2). The zero value, SendAuto, is the
// usual one: write, send when there are flags, sendto when there is a
// destination.
type SendCall uint8

// The send calls.
const (
	SendAuto SendCall = iota
	Write
	Send
	SendTo
	SendMsg
	Writev
)

var sendNames = []string{SendAuto: "auto", Write: "write", Send: "send", SendTo: "sendto", SendMsg: "sendmsg", Writev: "writev"}

func (c SendCall) String() string {
	if int(c) < len(sendNames) {
		return sendNames[c]
	}
	return fmt.Sprintf("sendcall(%d)", uint8(c))
}

// Flags reports whether the call takes MSG_* flags (write and writev do
// not).
func (c SendCall) Flags() bool { return c != Write && c != Writev }

// Addressed reports whether the call can name its destination (sendto,
// sendmsg, and SendAuto, which turns into sendto), as an unconnected
// datagram socket needs.
func (c SendCall) Addressed() bool { return c == SendTo || c == SendMsg || c == SendAuto }

// ParseSendCall reads "write", "send", "sendto", "sendmsg", "writev" or
// "auto", in any case.
func ParseSendCall(s string) (SendCall, error) {
	for i, n := range sendNames {
		if strings.EqualFold(s, n) {
			return SendCall(i), nil
		}
	}
	return 0, fmt.Errorf("unknown send call %q (want %s)", s, strings.Join(sendNames[1:], ", "))
}

// RecvCall names the system call that receives: read(2), recv(2),
// recvfrom(2), recvmsg(2) or readv(2). The zero value, RecvAuto, is the
// usual one: read, recv when there are flags, recvfrom on an unconnected
// datagram socket (to learn the sender).
type RecvCall uint8

// The receive calls.
const (
	RecvAuto RecvCall = iota
	Read
	Recv
	RecvFrom
	RecvMsg
	Readv
)

var recvNames = []string{RecvAuto: "auto", Read: "read", Recv: "recv", RecvFrom: "recvfrom", RecvMsg: "recvmsg", Readv: "readv"}

func (c RecvCall) String() string {
	if int(c) < len(recvNames) {
		return recvNames[c]
	}
	return fmt.Sprintf("recvcall(%d)", uint8(c))
}

// Flags reports whether the call takes MSG_* flags (read and readv do
// not).
func (c RecvCall) Flags() bool { return c != Read && c != Readv }

// Addressed reports whether the call tells the sender's address
// (recvfrom, recvmsg).
func (c RecvCall) Addressed() bool { return c == RecvFrom || c == RecvMsg }

// ParseRecvCall reads "read", "recv", "recvfrom", "recvmsg", "readv" or
// "auto", in any case.
func ParseRecvCall(s string) (RecvCall, error) {
	for i, n := range recvNames {
		if strings.EqualFold(s, n) {
			return RecvCall(i), nil
		}
	}
	return 0, fmt.Errorf("unknown receive call %q (want %s)", s, strings.Join(recvNames[1:], ", "))
}

// How is shutdown(2)'s second argument, or no shutdown at all. The zero
// value is ShutWR, the half-close.
type How uint8

// The ways to shut a socket down.
const (
	ShutWR   How = iota // SHUT_WR: send FIN; the peer reads EOF, this side can still read
	ShutRD              // SHUT_RD: reads return 0 (end of file) once the queue is empty; nothing is sent
	ShutRDWR            // SHUT_RDWR: both
	ShutNone            // no shutdown: the connection stays fully open
)

var howNames = []string{ShutWR: "SHUT_WR", ShutRD: "SHUT_RD", ShutRDWR: "SHUT_RDWR", ShutNone: "none"}

func (h How) String() string {
	if int(h) < len(howNames) {
		return howNames[h]
	}
	return fmt.Sprintf("how(%d)", uint8(h))
}

// Reads reports whether h ends this side's reading; Writes whether it
// ends its writing (sends FIN on TCP).
func (h How) Reads() bool  { return h == ShutRD || h == ShutRDWR }
func (h How) Writes() bool { return h == ShutWR || h == ShutRDWR }

// ParseHow reads "wr", "rd", "rdwr" or "none", with or without SHUT_,
// in any case.
func ParseHow(s string) (How, error) {
	name := strings.ToUpper(s)
	if name != "NONE" && !strings.HasPrefix(name, "SHUT_") {
		name = "SHUT_" + name
	}
	for i, n := range howNames {
		if strings.EqualFold(name, n) {
			return How(i), nil
		}
	}
	return 0, fmt.Errorf("unknown shutdown %q (want wr, rd, rdwr or none)", s)
}

// Names are what the Parse functions accept, for a shell's completion or
// a usage line: the calls that send and receive, the flags a caller may
// pass (lower case, without MSG_), and the shutdown modes.
func Names() (send, recv, flags, how []string) {
	send = append(send, sendNames[1:]...)
	recv = append(recv, recvNames[1:]...)
	for _, n := range flagNames {
		if n.f&callerFlags != 0 {
			flags = append(flags, strings.ToLower(strings.TrimPrefix(n.name, "MSG_")))
		}
	}
	return send, recv, flags, []string{"wr", "rd", "rdwr", "none"}
}
