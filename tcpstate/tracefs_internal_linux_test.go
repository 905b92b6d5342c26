package tcpstate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func skipUnlessTracefs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: tracefs instances are for root; CI runs this as root")
	}
	root, err := tracefsRoot()
	if err != nil {
		t.Skipf("no usable tracefs: %v", err)
	}
	return root
}

// Close removes the tracefs instance, also when Run was interrupted by
// its context (what Ctrl-C does to sockit trace), and a Run whose context
// ends returns at once even when no event comes.
func TestStateTracerRemovesItsInstance(t *testing.T) {
	t.Parallel()
	skipUnlessTracefs(t)
	tr, err := newStateTracer(Filter{Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tr.dir); err != nil {
		t.Fatalf("instance after newStateTracer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.run(ctx, func(Transition) {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second): // bounds a hang; run returns within microseconds
		t.Fatal("run still reading 5s after its context ended")
	}
	if err := tr.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tr.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance %s after close: %v, want it gone", tr.dir, err)
	}
}

// An instance left by a sockit that was killed is removed by the next one;
// one of a live process is left alone.
func TestStaleInstancesAreRemoved(t *testing.T) {
	t.Parallel()
	root := skipUnlessTracefs(t)
	// Above pid_max (at most 2^22), so no process has this PID.
	stale := filepath.Join(root, "instances", "sockit-2147483000-0")
	if err := os.Mkdir(stale, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(stale) })
	// PID 1 lives; the sequence number is one our own tracers never reach.
	live := filepath.Join(root, "instances", "sockit-1-999")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeInstance(live); err != nil {
			t.Error(err)
		}
	})
	tr, err := newStateTracer(Filter{Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale instance: %v, want it removed", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live process's instance: %v, want it kept", err)
	}
}

func TestInstancePID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{name: "sockit-123-0", pid: 123, ok: true},
		{name: "sockit-123", ok: false},
		{name: "sockit-x-0", ok: false},
		{name: "other-123-0", ok: false},
		{name: "sockit-0-1", ok: false},
	} {
		pid, ok := instancePID(tc.name)
		if pid != tc.pid && tc.ok || ok != tc.ok {
			t.Errorf("instancePID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}
