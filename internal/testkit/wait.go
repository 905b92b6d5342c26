package testkit

import (
	"context"
	"testing"
	"time"
)

// Timeout bounds every wait of the helpers here for something that
// happens at once on loopback. It is generous: -race and parallel tests on
// a loaded two-core machine slow everything down, and it is only ever
// reached when a test is about to fail.
const Timeout = 30 * time.Second

// Eventually polls cond, backing off from 1 ms to 50 ms, until it holds,
// and fails the test if it does not within Timeout. It is for state that
// another goroutine or the kernel changes with no event to wait on
// (counters, socket states); where there is an event, wait for it.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for backoff := time.Millisecond; !cond(); backoff = min(2*backoff, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", Timeout, what)
		}
		time.Sleep(backoff) // polling a condition with a deadline, not a fixed wait
	}
}

// Receive returns the next value on ch, failing the test if none comes
// within Timeout. what names the value in the failure.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, Timeout)
		var zero T
		return zero
	}
}

// Context returns the test's context, ended after Timeout too.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}
