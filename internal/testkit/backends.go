package testkit

import (
	"testing"

	"github.com/sockit/sockit/engine"
)

// Backends lists the engine backends tests run against: every one the
// platform has (engine.Backends). A new backend must pass every suite
// unchanged.
func Backends() []engine.Backend { return engine.Backends() }

// ForBackends runs f as a parallel subtest per backend, named after it; t
// runs in parallel too.
func ForBackends(t *testing.T, f func(t *testing.T, b engine.Backend)) {
	t.Parallel()
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}
