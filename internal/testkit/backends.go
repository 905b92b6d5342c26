package testkit

import (
	"testing"

	"github.com/sockit/sockit/engine"
)

// Backends lists the engine backends tests run against: the portable one,
// and the platform's own where it has one (epoll on Linux). A new backend
// is added here and must pass every suite unchanged.
func Backends() []engine.Backend {
	b := []engine.Backend{engine.BackendStd}
	if engine.DefaultBackend != engine.BackendStd {
		b = append(b, engine.DefaultBackend)
	}
	return b
}

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
