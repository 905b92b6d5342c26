package sock_test

import (
	"bytes"
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/sock"
)

// newRing makes a ring on this goroutine's thread, which it keeps for the
// test (the ring is single-issuer), or skips where io_uring is missing.
func newRing(t *testing.T, entries uint32) *sock.Ring {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := sock.NewRing(entries)
	if errors.Is(err, sock.ErrNoUring) {
		t.Skipf("io_uring cannot be used here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// reap submits what is queued and collects at least n completions,
// waiting at most a second for them.
func reap(t *testing.T, r *sock.Ring, n int) []sock.CQE {
	t.Helper()
	var got []sock.CQE
	deadline := time.Now().Add(time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		if err := r.Enter(true, 50*time.Millisecond, false); err != nil {
			t.Fatal(err)
		}
		for {
			c, ok := r.Next()
			if !ok {
				break
			}
			got = append(got, c)
		}
		r.Seen()
	}
	if len(got) < n {
		t.Fatalf("%d completions, want %d: %+v", len(got), n, got)
	}
	return got
}

func socketPair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fds
}

// A multishot receive fills provided buffers one after another and stays
// armed; recycled buffers are taken again; the peer's EOF ends it.
func TestRingMultishotReceive(t *testing.T) {
	r := newRing(t, 16)
	bufs, err := r.NewBufRing(0, 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Close(); bufs.Free() }() // the buffers outlive the ring
	fds := socketPair(t)
	defer unix.Close(fds[1])
	defer unix.Close(fds[0])

	const recv = 7
	r.RecvMultishot(fds[0], bufs.Group(), 1<<20, recv)
	if err := r.Enter(false, 0, false); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789"), 4) // 40 bytes: 16 + 16 + 8
	var got []byte
	for round := 0; round < 3; round++ { // 12 buffers' worth through 4 buffers
		if _, err := unix.Write(fds[1], want); err != nil {
			t.Fatal(err)
		}
		before := len(got)
		for len(got)-before < len(want) {
			for _, c := range reap(t, r, 1) { // one per buffer filled
				if c.UserData != recv || c.Res <= 0 || !c.More() {
					t.Fatalf("completion %+v: want bytes on %d, still armed", c, recv)
				}
				bid, ok := c.Buffer()
				if !ok {
					t.Fatalf("completion %+v names no buffer", c)
				}
				got = append(got, bufs.Buf(bid, int(c.Res))...)
				bufs.Recycle(bid)
			}
			bufs.Publish()
			if err := r.Enter(false, 0, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(got, bytes.Repeat(want, 3)) {
		t.Fatalf("received %q", got)
	}
	unix.Shutdown(fds[1], unix.SHUT_WR)
	c := reap(t, r, 1)[0]
	if c.Res != 0 || c.More() {
		t.Fatalf("after EOF: %+v, want 0 and the receive ended", c)
	}
}

// Without a buffer to take, the receive ends with ENOBUFS, which
// Completed reports as ErrNoBuffers; a cancelled one reports
// ErrCanceled.
func TestRingReceiveEnds(t *testing.T) {
	r := newRing(t, 16)
	bufs, err := r.NewBufRing(1, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Close(); bufs.Free() }()
	fds := socketPair(t)
	defer unix.Close(fds[1])
	defer unix.Close(fds[0])

	if _, err := unix.Write(fds[1], []byte("twenty bytes, no room")); err != nil {
		t.Fatal(err)
	}
	r.RecvMultishot(fds[0], bufs.Group(), 1<<20, 1)
	cs := reap(t, r, 2)
	if len(cs) != 2 {
		t.Fatalf("completions %+v, want 2", cs)
	}
	if cs[0].Res != 8 || !cs[0].More() {
		t.Fatalf("first completion %+v, want 8 bytes", cs[0])
	}
	if _, err := sock.Completed(sock.CallIO, "recv", cs[1].Res); !errors.Is(err, sock.ErrNoBuffers) || cs[1].More() {
		t.Fatalf("second completion %+v: %v, want ErrNoBuffers and the end", cs[1], err)
	}

	bid, _ := cs[0].Buffer()
	bufs.Recycle(bid)
	bufs.Publish()
	other := socketPair(t)
	defer unix.Close(other[1])
	defer unix.Close(other[0])
	r.RecvMultishot(other[0], bufs.Group(), 1<<20, 2)
	r.Cancel(2, 3)
	var recvRes, cancelRes int32 = 1, 1
	for _, c := range reap(t, r, 2) {
		switch c.UserData {
		case 2:
			recvRes = c.Res
		case 3:
			cancelRes = c.Res
		}
	}
	if _, err := sock.Completed(sock.CallIO, "recv", recvRes); !errors.Is(err, sock.ErrCanceled) {
		t.Fatalf("cancelled receive: %d (%v), want ErrCanceled", recvRes, err)
	}
	if cancelRes != 0 {
		t.Fatalf("cancel: %d, want 0 (one request found)", cancelRes)
	}
}

// Sends, vectored sends, a timeout, the waker and a close through the
// ring.
func TestRingSendTickWakeClose(t *testing.T) {
	r := newRing(t, 16)
	fds := socketPair(t)
	defer unix.Close(fds[1])

	msg := []byte("hello ")
	r.Send(fds[0], msg, 1)
	var v sock.SendVec
	parts := [][]byte{[]byte("vectored "), []byte("world")}
	r.SendVectors(fds[0], &v, parts, 2)
	cs := reap(t, r, 2)
	for _, c := range cs {
		if want := map[uint64]int32{1: 6, 2: 14}[c.UserData]; c.Res != want {
			t.Fatalf("send %+v, want %d bytes", c, want)
		}
	}
	buf := make([]byte, 64)
	n, err := unix.Read(fds[1], buf)
	if err != nil || string(buf[:n]) != "hello vectored world" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	start := time.Now()
	r.Tick(5*time.Millisecond, 3)
	if c := reap(t, r, 1)[0]; c.UserData != 3 || c.Err() != unix.ETIME {
		t.Fatalf("tick %+v, want ETIME", c)
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Fatalf("tick after %v, before its 5ms", d)
	}

	w, err := sock.NewWaker()
	if err != nil {
		t.Fatal(err)
	}
	w.Arm(r, 4)
	if err := r.Enter(false, 0, false); err != nil {
		t.Fatal(err)
	}
	go w.Wake()
	if c := reap(t, r, 1)[0]; c.UserData != 4 || c.Res != 8 {
		t.Fatalf("wake-up %+v, want the eventfd's 8 bytes", c)
	}

	r.CloseFD(fds[0], 5)
	if c := reap(t, r, 1)[0]; c.UserData != 5 || c.Res != 0 {
		t.Fatalf("close %+v", c)
	}
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != syscall.EBADF {
		t.Fatalf("fd %d after the ring closed it: %v, want EBADF", fds[0], err)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A buffer recycled in the middle of a batch of completions is the
// kernel's again before the next receive is submitted, also when that
// submission happens because the queue filled up rather than at the
// loop's own Enter. Before Enter published the rings, a burst of
// connections (19 000 sending at once) could leave every buffer recycled
// but unpublished while the loop, never leaving its batch, armed receive
// after receive into an empty ring: ENOBUFS without end at 100 % CPU.
func TestRingPublishesBeforeSubmitting(t *testing.T) {
	r := newRing(t, 2)
	bufs, err := r.NewBufRing(2, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Close(); bufs.Free() }()
	fds := socketPair(t)
	defer unix.Close(fds[1])
	defer unix.Close(fds[0])

	if _, err := unix.Write(fds[1], []byte("first")); err != nil {
		t.Fatal(err)
	}
	r.Recv(fds[0], bufs.Group(), 1)
	c := reap(t, r, 1)[0]
	bid, ok := c.Buffer()
	if c.Res != 5 || !ok {
		t.Fatalf("first receive: %+v, want 5 bytes in a buffer", c)
	}
	bufs.Recycle(bid) // given back; nothing publishes it explicitly
	if _, err := unix.Write(fds[1], []byte("second")); err != nil {
		t.Fatal(err)
	}
	r.Recv(fds[0], bufs.Group(), 2)
	r.Cancel(99, 3) // the queue (two entries) is full now
	r.Cancel(99, 4) // so this one submits the two before it
	for _, c := range reap(t, r, 3) {
		if c.UserData != 2 {
			continue // the cancellations of nothing
		}
		n, err := sock.Completed(sock.CallIO, "recv", c.Res)
		if err != nil || n != 6 {
			t.Fatalf("second receive: %d bytes, %v; want the 6 bytes in the recycled buffer", n, err)
		}
		return
	}
	t.Fatal("the second receive never completed")
}
