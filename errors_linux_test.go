//go:build linux

package sockit_test

import (
	"context"
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// TestNoRoute gets a real "network is unreachable" from the kernel: in a
// fresh network namespace even the loopback interface is down, so connect(2)
// to 127.0.0.1 has no route. No packet leaves the machine. Needs root
// (CAP_SYS_ADMIN) for unshare(CLONE_NEWNET).
func TestNoRoute(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "unshare(CLONE_NEWNET), a network namespace of its own")
	errc := make(chan error, 1)
	go func() {
		// This thread moves to the new namespace and must never serve
		// another goroutine: it stays locked and exits with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Port 7 is only a name here: in this namespace no packet can
		// reach any port, and none leaves it.
		c, err := client.Dial(ctx, endpoint.MustParse("tcp://127.0.0.1:7"), client.Options{})
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	err := <-errc
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("unshare(CLONE_NEWNET) not permitted here: %v", err)
	}
	if err == nil {
		t.Fatal("connect in an empty network namespace succeeded; want network unreachable")
	}
	var se *sockit.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is not a *sockit.Error", err, err)
	}
	if got, want := sockit.KindOf(err), sockit.KindUnreachable; got != want {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
	}
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("errors.Is(%v, ENETUNREACH) = false", err)
	}
	want := "connect tcp 127.0.0.1:7: network is unreachable (no route to that address) [ENETUNREACH]"
	if err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err.Error(), want)
	}
}
