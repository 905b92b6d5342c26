package engine

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
)

// This file holds what the engine offers for the lessons of the socket
// API rather than for serving: urgent data, descriptors passed over Unix
// sockets, and a listener that accepts slowly. Each is off unless
// Config asks, and costs nothing per message when off.

// UrgentMode says what becomes of TCP urgent data (per tcp(7): one byte,
// sent with send(MSG_OOB), marked by the urgent pointer).
type UrgentMode string

const (
	// UrgentDefault (the zero value) leaves urgent data to the kernel:
	// with SO_OOBINLINE off, the byte is kept out of the stream for a
	// recv(MSG_OOB) nobody makes, and is lost without a word.
	UrgentDefault UrgentMode = ""
	// UrgentReceive watches each connection for urgent data (EPOLLPRI)
	// and takes the byte with recv(MSG_OOB) as it comes: an observer is
	// told (StepUrgent), a handler that is an UrgentHandler gets it, and
	// the stream goes on without it. epoll backend only.
	UrgentReceive UrgentMode = "receive"
	// UrgentInline sets SO_OOBINLINE on each connection: the urgent byte
	// stays in the stream, in order, and a read stops just before it;
	// an observer is told which read stopped at the mark (SIOCATMARK).
	UrgentInline UrgentMode = "inline"
)

// UrgentHandler is implemented by handlers that want urgent data
// (Config.Urgent UrgentReceive). OnUrgent runs on the connection's loop
// like its other callbacks.
type UrgentHandler interface {
	OnUrgent(c Conn, b byte)
}

// RightsHandler is implemented by handlers that want descriptors passed
// over Unix sockets (Config.Rights). OnRights is called after the OnData
// of the read they came with (or alone, when the read had no data for
// the handler), with the descriptors open; they are closed when it
// returns: dup one to keep it. It must not block: read a passed file
// only if it is a regular file.
type RightsHandler interface {
	OnRights(c Conn, fds []int)
}

// LabSupport says which of the lab's Config fields a backend honours on
// this platform. It is the one place that knows: Server refuses a Config
// that asks for more (an *sockit.OptionError naming the field), and a
// CLI can pick its defaults from it.
type LabSupport struct {
	UrgentReceive bool // Urgent: UrgentReceive (the backend watches for EPOLLPRI)
	UrgentInline  bool // Urgent: UrgentInline (SO_OOBINLINE and SIOCATMARK)
	Rights        bool // Rights (recvmsg and SCM_RIGHTS)
	AcceptDelay   bool // AcceptDelay
	Waits         bool // ObserveWaits
}

// LabSupportOf is what backend b ("" = DefaultBackend) honours here.
func LabSupportOf(b Backend) LabSupport {
	if b == "" {
		b = DefaultBackend
	}
	unixLike := runtime.GOOS != "windows"
	switch b {
	case BackendEpoll:
		return LabSupport{UrgentReceive: true, UrgentInline: true, Rights: true, AcceptDelay: true, Waits: true}
	case BackendStd:
		return LabSupport{UrgentInline: unixLike, Rights: unixLike, AcceptDelay: true}
	case BackendUring:
		// Inline urgent data is a socket option and an ordinary receive;
		// urgent reads, passed descriptors and a delayed accept would need
		// requests of their own (recv MSG_OOB on a POLLPRI poll, recvmsg
		// with control data, an accept started by a timer).
		return LabSupport{UrgentInline: true}
	}
	return LabSupport{}
}

// checkLab refuses a Config the platform or backend cannot honour.
func (c *Config) checkLab() error {
	bad := func(field, reason string) error { return sockit.BadOption("engine.Config", field, reason) }
	can := LabSupportOf(c.Backend)
	on := fmt.Sprintf("on the %s backend here (%s)", c.Backend, runtime.GOOS)
	switch c.Urgent {
	case UrgentDefault:
	case UrgentReceive:
		if !can.UrgentReceive {
			reason := fmt.Sprintf("%q is not supported %s: it needs the epoll backend, which watches for urgent data (EPOLLPRI)", UrgentReceive, on)
			if can.UrgentInline {
				reason += fmt.Sprintf("; this one can keep it in the stream, %q", UrgentInline)
			}
			return bad("Urgent", reason)
		}
	case UrgentInline:
		if !can.UrgentInline {
			return bad("Urgent", fmt.Sprintf("%q is not supported %s", UrgentInline, on))
		}
	default:
		return bad("Urgent", fmt.Sprintf("%q is not %s or %s", c.Urgent, UrgentReceive, UrgentInline))
	}
	if c.Rights && !can.Rights {
		return bad("Rights", "descriptor passing (SCM_RIGHTS) is not supported "+on)
	}
	if c.AcceptDelay < 0 {
		return bad("AcceptDelay", "must not be negative")
	}
	if c.AcceptDelay > 0 && !can.AcceptDelay {
		return bad("AcceptDelay", "is not supported "+on)
	}
	if c.ObserveWaits && !can.Waits {
		return bad("ObserveWaits", "is not supported "+on+": it needs the epoll backend")
	}
	return nil
}

// setInline sets SO_OOBINLINE on a new connection's descriptor for
// UrgentInline.
func setInline(fd int, network string) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	return sock.SetOOBInline(fd, true)
}

// markDetail is what a read on an SO_OOBINLINE connection is told with
// when it stopped at the urgent mark, or "".
func markDetail(fd int) string {
	if at, err := sock.AtMark(fd); err == nil && at {
		return "stopped at the urgent mark: the next byte is urgent data (SIOCATMARK; SO_OOBINLINE)"
	}
	return ""
}

// urgentDetail describes an urgent byte for narration.
func urgentDetail(b byte) string {
	return fmt.Sprintf("%q, out of the stream (EPOLLPRI)", rune(b))
}

// peerDetail is the accept narration's note on a Unix peer: its process
// (SO_PEERCRED), or "".
func peerDetail(fd int, network string) string {
	if !strings.HasPrefix(network, "unix") {
		return ""
	}
	pid, uid, gid, err := sock.PeerCred(fd)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("peer pid %d uid %d gid %d, SO_PEERCRED", pid, uid, gid)
}

// rightsDetail narrates passed descriptors.
func rightsDetail(fds []int) string {
	parts := make([]string, len(fds))
	for i, fd := range fds {
		parts[i] = fmt.Sprintf("SCM_RIGHTS fd %d (%s)", fd, sock.DescribeFD(fd))
	}
	return strings.Join(parts, "; ")
}
