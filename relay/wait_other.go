//go:build !unix

package relay

import "syscall"

// waitReadable does not wait where there is no non-blocking peek: the
// session's Read then waits, holding the buffer it borrowed.
func waitReadable(syscall.Conn) error { return nil }
