package cli

import (
	"context"
	"errors"

	"github.com/sockit/sockit"
)

// Exit codes, decided here and nowhere else.
const (
	ExitOK          = 0
	ExitError       = 1   // anything not named below
	ExitUsage       = 2   // bad flags, arguments or endpoint
	ExitConnect     = 3   // refused, unreachable, unknown host, no socket file, timed out, reset by the peer
	ExitLocalAddr   = 4   // address in use, permission denied, not a socket, no such directory
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
	}
	switch sockit.KindOf(err) {
	case sockit.KindBadEndpoint, sockit.KindBadOption:
		return ExitUsage
	case sockit.KindRefused, sockit.KindUnreachable, sockit.KindTimeout, sockit.KindReset, sockit.KindUnknownHost:
		return ExitConnect
	case sockit.KindNotFound: // a socket file to connect to, or a directory to bind in
		var se *sockit.Error
		switch {
		case !errors.As(err, &se):
			return ExitError
		case se.Op == "connect":
			return ExitConnect
		}
		return ExitLocalAddr
	case sockit.KindAddrInUse, sockit.KindPermission, sockit.KindNotSocket, sockit.KindAddrNotAvail:
		return ExitLocalAddr
	}
	return ExitError
}
