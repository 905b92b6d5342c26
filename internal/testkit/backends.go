package testkit

import (
	"sync"
	"testing"

	"github.com/sockit/sockit/engine"
)

// Backends lists the engine backends tests run against: every one the
// platform has (engine.Backends), but uring only where the kernel lets this
// process use io_uring (elsewhere it would be epoll again). A new backend
// must pass every suite unchanged.
func Backends() []engine.Backend {
	var b []engine.Backend
	for _, be := range engine.Backends() {
		if be != engine.BackendUring || UringSkip() == "" {
			b = append(b, be)
		}
	}
	return b
}

var uringOnce struct {
	sync.Once
	why string
}

// UringSkip is why the uring backend cannot run here ("" when it can): a
// test that needs it skips with this reason.
func UringSkip() string {
	uringOnce.Do(func() {
		s, err := engine.NewServer(&engine.Config{Backend: engine.BackendUring, Loops: 1})
		if err != nil {
			uringOnce.why = "uring backend: " + err.Error()
			return
		}
		if err := s.Fallback(); err != nil {
			uringOnce.why = "uring backend: " + err.Error()
		}
		s.Close()
	})
	return uringOnce.why
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
