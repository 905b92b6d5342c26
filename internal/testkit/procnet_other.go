//go:build !linux

package testkit

import "testing"

// ListenAddr returns the address a process we started listens on with
// TCP; it reads /proc, so elsewhere it skips the test.
func ListenAddr(t testing.TB, pid int) string {
	t.Helper()
	t.Skip("finding a process's listening port reads /proc: Linux only")
	return ""
}
