//go:build !linux

package engine_test

import "testing"

// fullBacklog needs Linux's handling of a full accept queue (SYNs dropped).
func fullBacklog(t *testing.T) string {
	t.Skip("needs Linux: a full accept queue that drops SYNs")
	return ""
}
