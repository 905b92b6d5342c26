package cli

import (
	"context"
	"errors"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/tour"
)

// Exit codes, decided here and nowhere else.
const (
	ExitOK          = 0
	ExitError       = 1   // anything not named below
	ExitUsage       = 2   // bad flags, arguments or endpoint
	ExitConnect     = 3   // refused, unreachable, unknown host, timed out, reset by the peer; no socket file, not a socket or no permission to connect to one
	ExitLocalAddr   = 4   // a local address in use or not available; permission denied, not a socket or no such directory where it binds
	ExitCheck       = 5   // tour: what a lesson observed is not what it teaches
	ExitInterrupted = 130 // interrupted (Ctrl-C); for serve, a second Ctrl-C
)

// usageErr marks a mistake in how sockit was called.
type usageErr struct{ err error }

func (e usageErr) Error() string { return e.err.Error() }
func (e usageErr) Unwrap() error { return e.err }

// errInterrupted is returned when a second signal cut a shutdown short.
var errInterrupted = errors.New("interrupted")

// ExitCode maps an error from a verb to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue usageErr
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, new(*client.ProxyError)):
		return ExitConnect // the proxy could not connect us, or would not
	case errors.As(err, new(*tour.CheckError)):
		return ExitCheck
	}
	kind := sockit.KindOf(err)
	switch kind {
	case sockit.KindBadEndpoint, sockit.KindBadOption:
		return ExitUsage
	case sockit.KindRefused, sockit.KindUnreachable, sockit.KindTimeout, sockit.KindReset, sockit.KindUnknownHost:
		return ExitConnect
	case sockit.KindNotFound, sockit.KindPermission, sockit.KindNotSocket:
		var se *sockit.Error
		switch {
		case errors.As(err, &se) && se.Op == "connect":
			return ExitConnect // the server's socket file: missing, not a socket, or not ours to write to
		case se == nil && kind == sockit.KindNotFound:
			return ExitError // a file that is no address: a failed /proc read
		}
		return ExitLocalAddr // where we bind
	case sockit.KindAddrInUse, sockit.KindAddrNotAvail:
		return ExitLocalAddr
	}
	return ExitError
}
