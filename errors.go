package sockit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// Kind sorts failures into the classes a person acts on differently.
// Exit codes and hints are decided from it, never from error text.
type Kind uint8

// The kinds of failure. KindOther covers everything not named.
const (
	KindOther        Kind = iota
	KindBadEndpoint       // the endpoint text could not be parsed
	KindAddrInUse         // bind: address already in use
	KindPermission        // bind below 1024 without privilege, or a file permission
	KindRefused           // connect: nothing listens there
	KindUnreachable       // no route to the host or network
	KindTimeout           // a deadline or timeout expired
	KindReset             // the peer reset the connection (RST) or the pipe broke
	KindAddrNotAvail      // the local address is not on this machine
	KindNotSocket         // a path exists but is not a socket
	KindClosed            // use of a closed connection or server
	KindNotFound          // a path does not exist: no socket file, no directory
	KindUnknownHost       // a host name could not be resolved
	KindTooManyFiles      // the process or system is out of file descriptors (EMFILE, ENFILE)
	KindBadOption         // a field of an options struct has a value the library cannot use
)

var kindNames = [...]string{
	KindOther:        "other",
	KindBadEndpoint:  "bad endpoint",
	KindAddrInUse:    "address in use",
	KindPermission:   "permission denied",
	KindRefused:      "connection refused",
	KindUnreachable:  "unreachable",
	KindTimeout:      "timeout",
	KindReset:        "connection reset",
	KindAddrNotAvail: "address not available",
	KindNotSocket:    "not a socket",
	KindClosed:       "closed",
	KindNotFound:     "not found",
	KindUnknownHost:  "unknown host",
	KindTooManyFiles: "too many open files",
	KindBadOption:    "bad option",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is the one structured error of sockit. It says which operation failed
// (Op, e.g. "listen", "connect", "read"), on which network and address, which
// system call returned the error and the error itself (usually a
// syscall.Errno), so that errors.Is(err, syscall.ECONNREFUSED) and
// errors.Is(err, os.ErrDeadlineExceeded) work through it.
type Error struct {
	Op      string // operation in the words of the socket API: "listen", "connect", "accept", "read", "write"
	Net     string // network: "tcp", "udp6", "unix", ...
	Addr    string // the address the operation was about, may be empty
	Syscall string // the system call that failed, e.g. "bind", when known
	Err     error  // the underlying error; never nil
	// Advice is what the caller can do about it, in its own terms (a
	// command line names its flags), or "". The library never sets it;
	// Error prints it after the hint.
	Advice string
}

func (e *Error) Error() string {
	s := e.Op
	if e.Net != "" {
		s += " " + e.Net
	}
	if e.Addr != "" {
		s += " " + e.Addr
	}
	msg := e.reason()
	var notes []string
	for _, n := range []string{e.Hint(), e.Advice} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	if name := ErrnoName(e.Err); name != "" {
		msg += " [" + name + "]"
	}
	return s + ": " + msg
}

// ErrnoName is the C name of the errno inside err ("ECONNRESET",
// "EPIPE"), as errno(3) and the man pages of the system calls spell it,
// or "" when err holds none.
func ErrnoName(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) || errno == 0 {
		return ""
	}
	return errnoName(errno)
}

// reason is the underlying error's text without the repeated "op net addr:"
// prefixes that net.OpError and os.SyscallError add.
func (e *Error) reason() string { return reasonOf(e.Err) }

func reasonOf(err error) string {
	switch x := err.(type) {
	case *Error:
		return x.reason()
	case *net.OpError:
		if x.Err != nil {
			return reasonOf(x.Err)
		}
	case *os.SyscallError:
		return reasonOf(x.Err)
	case syscall.Errno:
		return x.Error()
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.Is(err, net.ErrClosed):
		return "use of closed connection"
	}
	var inner *Error
	if errors.As(err, &inner) {
		return inner.reason()
	}
	return err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the error is a timeout, as net.Error does.
func (e *Error) Timeout() bool { return e.Kind() == KindTimeout }

// Temporary exists so that *Error satisfies net.Error.
//
// Deprecated: as in package net, temporary errors are not well defined.
func (e *Error) Temporary() bool { return false }

// Kind classifies the error.
func (e *Error) Kind() Kind { return KindOf(e.Err) }

// Hint is a short piece of advice for a person, or "".
func (e *Error) Hint() string {
	switch e.Kind() {
	case KindAddrInUse:
		switch {
		case errors.Is(e.Err, ErrLiveSocket):
			return "not replacing it; stop that server, or pick another path"
		case isUnix(e.Net):
			return "a socket file is already there"
		case strings.HasPrefix(e.Net, "udp"):
			return "another process has that port; see it with: ss -lunp, or pick another port"
		}
		return "another process is listening there; see it with: ss -ltnp, or pick another port"
	case KindPermission:
		switch {
		case e.Op == "listen" && isLowPort(e.Addr):
			return "ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port ≥ 1024"
		case e.Op == "connect" && isUnix(e.Net):
			return "connecting needs write permission on the socket file; see its owner and mode with: ls -l"
		}
		return "permission denied by the system"
	case KindRefused:
		if strings.HasPrefix(e.Net, "udp") {
			// Per udp(7) a datagram socket hears of a refusal only from
			// an ICMP message about a datagram it sent earlier.
			return "an ICMP port unreachable came back: nothing listens on that UDP port; see it with: sockit icmp"
		}
		return "nothing listens there"
	case KindUnreachable:
		return "no route to that address"
	case KindAddrNotAvail:
		return "that address is not on this machine"
	case KindReset:
		return "the peer reset the connection"
	case KindTimeout:
		return ""
	case KindNotSocket:
		if e.Op == "connect" {
			return "is that the server's socket path?"
		}
		return "refusing to delete a file that is not a socket"
	case KindNotFound:
		if e.Op == "connect" {
			return "no socket file there; is the server running?"
		}
		return "the directory does not exist"
	case KindUnknownHost:
		return "the host name could not be resolved"
	case KindTooManyFiles:
		return "out of file descriptors; raise the limit (ulimit -n) or use fewer connections"
	}
	return ""
}

func isUnix(network string) bool {
	return network == "unix" || network == "unixgram" || network == "unixpacket"
}

func isLowPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil {
		return false
	}
	return n > 0 && n < 1024
}

// ErrNotSocket is returned when a Unix socket path exists but is a regular
// file, a directory or anything else that is not a socket.
var ErrNotSocket = errors.New("path exists and is not a socket")

// ErrLiveSocket is returned, with syscall.EADDRINUSE, when a Unix socket
// file that was to be replaced as stale has a server answering on it: a
// live server's file is never removed.
var ErrLiveSocket = errors.New("a live server answers on this socket file")

// ErrBadEndpoint is wrapped by every endpoint parse error.
var ErrBadEndpoint = errors.New("bad endpoint")

// ErrBadOption is wrapped by every *OptionError.
var ErrBadOption = errors.New("bad option")

// OptionError says which field of an options struct (engine.Config,
// bench.Options, …) has a value the library cannot use. It names fields,
// never a command line's flags: a CLI maps Owner and Fields to its flags
// in one place.
type OptionError struct {
	Owner  string   // the struct, as "package.Type": "bench.Options"
	Fields []string // the field, or the fields that disagree together
	Reason string   // what is wrong, a phrase that follows the field names: "must be 1 … 1024"
	Err    error    // an underlying error, or nil
}

// BadOption returns an *OptionError for one field of owner.
func BadOption(owner, field, reason string) *OptionError {
	return &OptionError{Owner: owner, Fields: []string{field}, Reason: reason}
}

func (e *OptionError) Error() string {
	return e.Owner + "." + strings.Join(e.Fields, " and "+e.Owner+".") + " " + e.Reason
}

// Is makes errors.Is(err, ErrBadOption) true; Unwrap reaches Err.
func (e *OptionError) Is(target error) bool { return target == ErrBadOption }
func (e *OptionError) Unwrap() error        { return e.Err }

// KindOf classifies any error, looking through wrappers.
func KindOf(err error) Kind {
	switch {
	case err == nil:
		return KindOther
	case errors.Is(err, ErrBadEndpoint):
		return KindBadEndpoint
	case errors.Is(err, ErrBadOption):
		return KindBadOption
	case errors.Is(err, ErrNotSocket):
		return KindNotSocket
	case errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, net.ErrClosed):
		return KindClosed
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if k := errnoKind(errno); k != KindOther {
			return k
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout {
			return KindTimeout
		}
		return KindUnknownHost
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	if errors.Is(err, os.ErrNotExist) {
		return KindNotFound
	}
	if errors.Is(err, os.ErrPermission) {
		return KindPermission
	}
	return KindOther
}

// Wrap turns err into an *Error for op on network and addr. It takes the
// syscall name out of an *os.SyscallError inside err. A nil err stays nil,
// and an err that is an *Error is returned unchanged.
func Wrap(op, network, addr string, err error) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*Error); ok {
		return se
	}
	e := &Error{Op: op, Net: network, Addr: addr, Err: err}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		e.Syscall = sys.Syscall
	}
	return e
}
