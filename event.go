package sockit

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Step names one socket operation or connection milestone, in the words of
// the socket API.
type Step uint8

// The steps an Observer sees. Socket through Unlink are system calls (or the
// result of one); Open and Closed bracket a connection's life in a server.
const (
	StepSocket     Step = iota + 1 // socket(2) returned FD; Detail is "AF_INET, SOCK_STREAM"
	StepSetsockopt                 // setsockopt(2); Detail is "SO_REUSEPORT=1"
	StepBind                       // bind(2) to Local
	StepListen                     // listen(2) with backlog N
	StepAccept                     // accept(2) returned FD for Peer
	StepConnect                    // connect(2) to Peer started
	StepConnected                  // the connection is established (three-way handshake done for TCP)
	StepRead                       // read(2) of N bytes; N == 0 means the peer sent FIN
	StepWrite                      // write(2) of N bytes
	StepRecvFrom                   // recvfrom(2) of N bytes from Peer
	StepSendTo                     // sendto(2) of N bytes to Peer
	StepShutdown                   // shutdown(2); Detail is "SHUT_WR"
	StepClose                      // close(2) of FD
	StepUnlink                     // unlink(2) of a Unix socket path (Detail)
	StepOpen                       // a server connection began (after accept)
	StepClosed                     // a server connection ended; In, Out and Dur are its totals
	StepProxy                      // a PROXY protocol header: Peer is the real client, Local its destination, Detail the version
	StepHandshake                  // a protocol's handshake over the socket finished (TLS, WebSocket upgrade); Detail says what was agreed
	StepHTTP                       // a step of an HTTP message on a connection from Peer: its request line, a field, its body, the response; Detail says which
	StepUrgent                     // urgent (out-of-band) TCP data arrived: N bytes in Data, taken as Call says; Detail says how it was found
	StepAncillary                  // ancillary data came with a message (recvmsg): Detail says what, e.g. "SCM_RIGHTS fd 9 (regular file, 42 bytes)"
	StepPoll                       // an event loop's epoll_wait(2) returned N ready descriptors: Detail lists them, "fd 7 EPOLLIN, fd 9 EPOLLIN|EPOLLRDHUP" (engine.Config.ObserveWaits)
)

var stepNames = [...]string{
	StepSocket: "socket", StepSetsockopt: "setsockopt", StepBind: "bind", StepListen: "listen",
	StepAccept: "accept", StepConnect: "connect", StepConnected: "connected", StepRead: "read",
	StepWrite: "write", StepRecvFrom: "recvfrom", StepSendTo: "sendto", StepShutdown: "shutdown",
	StepClose: "close", StepUnlink: "unlink", StepOpen: "open", StepClosed: "closed", StepProxy: "proxy", StepHandshake: "handshake", StepHTTP: "http",
	StepUrgent: "urgent", StepAncillary: "ancillary", StepPoll: "poll",
}

func (s Step) String() string {
	if int(s) < len(stepNames) && stepNames[s] != "" {
		return stepNames[s]
	}
	return "step(" + strconv.Itoa(int(s)) + ")"
}

// Event is one step on one socket. Fields that do not apply to a step are
// zero; FD is -1 when the descriptor is not known (e.g. on Windows).
type Event struct {
	Step   Step
	FD     int
	Net    string        // "tcp", "udp6", "unix", ...
	Local  net.Addr      // our address, when known
	Peer   net.Addr      // the other side, when known
	N      int           // bytes read or written; the backlog for StepListen
	In     int64         // StepClosed: bytes received over the connection's life
	Out    int64         // StepClosed: bytes sent over the connection's life
	Dur    time.Duration // StepClosed: how long the connection lived
	Detail string        // step-specific words, see the Step constants
	Err    error         // the step failed with this error, or nil
	// Call is the system call as it was made, with its flags, where it is
	// not the step's own word: "recv(MSG_PEEK)", "recvmmsg", "writev".
	// "" means the step names the call (read, write, recvfrom, sendto).
	Call string
	// Data is what a read, write, recvfrom, sendto or urgent step moved
	// (up to N bytes), for a preview; nil when not known. It is valid only
	// during Observe: an observer that keeps any of it copies it.
	Data []byte
}

// String narrates the event the way a socket tutorial would write it, e.g.
// "socket(AF_INET, SOCK_STREAM) = fd 3", "read 0: peer sent FIN", or for a
// failed transfer "read = -1 ECONNRESET: connection reset by peer".
func (e Event) String() string { return e.Narrate(nil) }

// Printer formats the words of a narration: Translate(format, args...) is
// fmt.Sprintf with
// the English format as the key, so that a message catalog (such as
// golang.org/x/text/message's) can put them in another language. Fixed
// sentences go to Phrase. nil is English.
type Printer interface {
	Translate(format string, a ...any) string
	// Phrase is a fixed sentence, one without verbs, in the Printer's
	// words.
	Phrase(s string) string
}

// english is the nil Printer.
type english struct{}

func (english) Translate(format string, a ...any) string { return fmt.Sprintf(format, a...) }
func (english) Phrase(s string) string                   { return s }

// Narrate is String in p's words. The names of calls, flags, errnos and
// addresses stay as the socket API spells them, and so do the details
// that name things (an option, a descriptor, a TLS version); those that
// are sentences (why a read returned 0) go through p.
func (e Event) Narrate(p Printer) string {
	if p == nil {
		p = english{}
	}
	if e.Err != nil && e.transfer() {
		if name := ErrnoName(e.Err); name != "" {
			return e.call() + " = -1 " + name + ": " + reasonOf(e.Err) + detail(p, e.Detail)
		}
	}
	s := e.text(p)
	if e.Err != nil {
		s += ": " + e.Err.Error()
		if name := ErrnoName(e.Err); name != "" && !strings.HasSuffix(s, "]") {
			s += " [" + name + "]"
		}
	}
	return s
}

// Words is a fixed sentence in p's words: p.Phrase(s), or s itself when p
// is nil.
func Words(p Printer, s string) string {
	if p == nil || s == "" {
		return s
	}
	return p.Phrase(s)
}

// transfer reports whether the step moves data: a failure of it is told
// as the system call returned it, -1 and the errno.
func (e Event) transfer() bool {
	switch e.Step {
	case StepRead, StepWrite, StepRecvFrom, StepSendTo, StepUrgent:
		return true
	}
	return false
}

// call names the system call of a transfer.
func (e Event) call() string {
	if e.Call != "" {
		return e.Call
	}
	if e.Step == StepUrgent {
		return "recv(MSG_OOB)"
	}
	return e.Step.String()
}

func (e Event) text(p Printer) string {
	switch e.Step {
	case StepSocket:
		return fmt.Sprintf("socket(%s) = fd %d", e.Detail, e.FD)
	case StepSetsockopt:
		return "setsockopt(" + e.Detail + ")"
	case StepBind:
		return "bind " + addrString(e.Local)
	case StepListen:
		return "listen backlog=" + strconv.Itoa(e.N)
	case StepAccept:
		if e.Detail != "" {
			return "accept " + addrString(e.Peer) + " → " + fdString(e.FD) + " (" + e.Detail + ")"
		}
		return "accept " + addrString(e.Peer) + " → " + fdString(e.FD)
	case StepConnect:
		if strings.HasPrefix(e.Net, "udp") || e.Net == "unixgram" {
			// Per udp(7) and unix(7), connect on a datagram socket only
			// records the peer: no packet leaves.
			return "connect " + addrString(e.Peer) + " (" + p.Phrase("a datagram socket's connect sends nothing: it sets the default peer and filters what is received") + ")"
		}
		return "connect " + addrString(e.Peer)
	case StepConnected:
		if e.Local != nil {
			return p.Translate("connected %s → %s", addrString(e.Local), addrString(e.Peer))
		}
		return p.Translate("connected to %s", addrString(e.Peer))
	case StepRead:
		if e.N == 0 && e.Err == nil {
			if e.Detail != "" {
				return e.call() + " 0: " + Words(p, e.Detail)
			}
			return e.call() + " 0: " + p.Phrase("peer sent FIN")
		}
		return e.call() + " " + bytes(p, e.N) + detail(p, e.Detail)
	case StepWrite:
		return e.call() + " " + bytes(p, e.N) + detail(p, e.Detail)
	case StepRecvFrom:
		return e.call() + " " + p.Translate("%s from %s", bytes(p, e.N), addrString(e.Peer)) + detail(p, e.Detail)
	case StepSendTo:
		return e.call() + " " + p.Translate("%s to %s", bytes(p, e.N), addrString(e.Peer)) + detail(p, e.Detail)
	case StepUrgent:
		return p.Translate("urgent data: %s", e.call()+" "+bytes(p, e.N)) + detail(p, e.Detail)
	case StepAncillary:
		return p.Translate("ancillary data: %s", e.Detail)
	case StepShutdown:
		return "shutdown(" + e.Detail + ")"
	case StepClose:
		if e.Detail != "" {
			return "close (" + e.Detail + ")"
		}
		return "close"
	case StepUnlink:
		return "unlink " + e.Detail
	case StepOpen:
		return p.Translate("new conn %s", addrString(e.Peer))
	case StepHandshake:
		return e.Detail
	case StepHTTP:
		return "http " + addrString(e.Peer) + ": " + e.Detail
	case StepProxy:
		if e.Detail != "" && e.Peer == nil {
			return "PROXY header: " + e.Detail
		}
		return "PROXY " + e.Detail + " header: real client " + addrString(e.Peer) + " → " + addrString(e.Local)
	case StepClosed:
		return p.Translate("closed conn %s: in %s, out %s, after %s",
			addrString(e.Peer), bytes(p, e.In), bytes(p, e.Out), e.Dur.Round(time.Microsecond))
	case StepPoll:
		return p.Translate("epoll_wait = %d ready: %s", e.N, e.Detail)
	}
	return e.Step.String()
}

// detail is a step's extra words in parentheses, or "".
func detail(p Printer, d string) string {
	if d == "" {
		return ""
	}
	return " (" + Words(p, d) + ")"
}

func bytes[N int | int64](p Printer, n N) string {
	if n == 1 {
		return p.Phrase("1 byte")
	}
	return p.Translate("%d bytes", n)
}

func fdString(fd int) string {
	if fd < 0 {
		return "fd ?"
	}
	return "fd " + strconv.Itoa(fd)
}

func addrString(a net.Addr) string {
	if a == nil {
		return "(unnamed)"
	}
	s := a.String()
	if s == "" || s == "@" {
		return "(unnamed)"
	}
	return s
}

// Observer receives socket steps as they happen. Observe is called on the
// goroutine doing the step (for the engine, the connection's loop), so it
// must be quick and must not call back into the connection. A nil Observer
// costs one comparison per step.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
