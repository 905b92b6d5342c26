//go:build !linux

package testkit

import (
	"runtime"
	"testing"
)

// FullBacklog needs Linux's handling of a full accept queue (SYNs
// dropped); elsewhere it skips the test.
func FullBacklog(t testing.TB) string {
	t.Helper()
	t.Skipf("needs Linux, not %s: a full accept queue that drops SYNs", runtime.GOOS)
	return ""
}
