package testkit

import (
	"strings"
	"testing"
)

// MustContain fails the test unless s contains each of wants; what names
// s in the failure.
func MustContain(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
