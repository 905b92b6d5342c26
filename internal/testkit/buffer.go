package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that one goroutine may write (a server's
// output, a process's stdout) while others read it or wait for text to
// appear in it. The zero value is ready to use.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at the next write; nil if nobody waits
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return n, err
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len returns how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// WaitFor waits until the text contains want and returns the text. It
// fails the test if that does not happen within Timeout.
func (b *Buffer) WaitFor(t testing.TB, want string) string {
	t.Helper()
	s, ok := b.WaitUntil(t, want, nil)
	if !ok {
		t.Fatalf("no %q in:\n%s", want, s)
	}
	return s
}

// WaitUntil waits until the text contains want, or stop is closed (a
// writer that ended), and returns the text and whether it contains want.
// It fails the test if neither happens within Timeout.
func (b *Buffer) WaitUntil(t testing.TB, want string, stop <-chan struct{}) (string, bool) {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for range 100000 { // one turn per write
		b.mu.Lock()
		s := b.buf.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		if strings.Contains(s, want) {
			return s, true
		}
		select {
		case <-ch:
		case <-stop:
			s := b.String()
			return s, strings.Contains(s, want)
		case <-timer.C:
			t.Fatalf("after %s, no %q in:\n%s", Timeout, want, s)
		}
	}
	t.Fatalf("no %q after 100000 writes", want)
	return "", false
}
