package sock

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The one table of what an errno means to a loop.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		c    call
		e    unix.Errno
		want outcome
	}{
		{callIO, unix.EINTR, outAgain},
		{callIO, unix.EAGAIN, outWait},
		{callIO, unix.ECONNRESET, outFail},
		{callIO, unix.EPIPE, outFail},
		{callAccept, unix.ECONNABORTED, outSkip},
		{callAccept, unix.EPROTO, outSkip},
		{callAccept, unix.EMFILE, outFail},
		{callAccept, unix.EAGAIN, outWait},
		{callRecvmmsg, unix.ECONNREFUSED, outSkip},
		{callIO, unix.ECONNREFUSED, outFail},
		{callConnect, unix.EINPROGRESS, outBegun},
		{callConnect, unix.EINTR, outBegun},
		{callConnect, unix.ECONNREFUSED, outFail},
		{callShutdown, unix.ENOTCONN, outDone},
		{callIO, unix.ENOTCONN, outFail},
	} {
		if got := decide(tc.c, tc.e); got != tc.want {
			t.Errorf("decide(%d, %v) = %d, want %d", tc.c, tc.e, got, tc.want)
		}
	}
	err, retry := result(callIO, "read", unix.ECONNRESET)
	var se *os.SyscallError
	if retry || !errors.As(err, &se) || se.Syscall != "read" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("result of ECONNRESET = %v (retry %v): want read: connection reset", err, retry)
	}
}

// socketPair is a connected pair of non-blocking stream sockets.
func socketPair(t *testing.T, typ int) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestReadWriteShutdown(t *testing.T) {
	a, b := socketPair(t, unix.SOCK_STREAM)
	buf := make([]byte, 16)
	if _, err := Read(a, buf); err != ErrWouldBlock {
		t.Fatalf("read of an empty socket: %v, want ErrWouldBlock", err)
	}
	if n, err := Write(b, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if n, err := Read(a, buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read = %d %q, %v", n, buf[:n], err)
	}
	if err := ShutdownWrite(b); err != nil {
		t.Fatal(err)
	}
	if n, err := Read(a, buf); n != 0 || err != nil {
		t.Fatalf("read after the peer's shutdown = %d, %v; want 0 (EOF), nil", n, err)
	}
	// Fill a's send buffer: the write that finds it full would block.
	big := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("send buffer never filled")
		}
		if _, err := Write(a, big); err == ErrWouldBlock {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := PendingError(a, "read"); err != nil {
		t.Fatalf("pending error on a healthy socket: %v", err)
	}
	if err := Close(b); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(a, []byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to a closed peer: %v, want EPIPE", err)
	}
}

func TestReadMessageTooLong(t *testing.T) {
	a, b := socketPair(t, unix.SOCK_SEQPACKET)
	if _, err := Write(b, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMessage(a, make([]byte, 4)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("a 10-byte message into 4 bytes: %v, want EMSGSIZE", err)
	}
	Write(b, []byte("fits"))
	buf := make([]byte, 8)
	if n, err := ReadMessage(a, buf); err != nil || string(buf[:n]) != "fits" {
		t.Fatalf("read message = %q, %v", buf[:n], err)
	}
}

func TestAcceptAndConnect(t *testing.T) {
	var o Options
	lfd, laddr, err := o.ListenFD("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(lfd)
	unix.SetNonblock(lfd, true)
	var ab AcceptBuf
	if _, _, _, err := ab.Accept(lfd, "tcp"); err != ErrWouldBlock {
		t.Fatalf("accept on an empty queue: %v, want ErrWouldBlock", err)
	}
	target, err := Resolve("tcp", laddr.String())
	if err != nil {
		t.Fatal(err)
	}
	cfd, err := o.DialFD("tcp", laddr.String(), target, netip.Addr{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(cfd)
	if err := Connect(cfd, target); err != nil && err != ErrInProgress {
		t.Fatalf("connect: %v", err)
	}
	waitFor(t, cfd, Writable)
	if err := ConnectResult(cfd); err != nil {
		t.Fatalf("connect result: %v", err)
	}
	waitFor(t, lfd, Readable)
	fd, ap, other, err := ab.Accept(lfd, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	local := LocalAddr(cfd, "tcp").(*net.TCPAddr)
	if ap != local.AddrPort() || other != nil {
		t.Fatalf("accepted peer %v (other %v), want the client's %v", ap, other, local)
	}

	// A port nothing listens on: a socket bound to it that never listens
	// holds it, so nobody else can take it during the test, and a SYN to
	// it is answered with RST.
	hold, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(hold)
	if err := unix.Bind(hold, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	closed, err := Resolve("tcp", LocalAddr(hold, "tcp").String())
	if err != nil {
		t.Fatal(err)
	}
	rfd, err := o.DialFD("tcp", "", closed, netip.Addr{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(rfd)
	if err := Connect(rfd, closed); err != nil && err != ErrInProgress {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to a port nothing listens on: %v", err)
		}
		return
	}
	waitFor(t, rfd, Writable)
	if err := ConnectResult(rfd); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect result: %v, want ECONNREFUSED", err)
	}
}

// waitFor waits up to 5 s for fd to be ready for r, with a poll of its own.
func waitFor(t *testing.T, fd int, r Readiness) {
	t.Helper()
	p, err := NewEpoll(4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(fd, r); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := p.Wait(time.Until(deadline), false)
		if err == ErrInterrupted {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if got, _ := p.Event(i); got == fd {
				return
			}
		}
	}
	t.Fatalf("fd %d not ready in 5s", fd)
}

func TestEpollWakeAndTick(t *testing.T) {
	p, err := NewEpoll(8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Wake()
	p.Wake() // the second call is absorbed: one wake-up pending
	n, err := p.Wait(time.Second, false)
	if err != nil || n != 1 {
		t.Fatalf("wait after wake: %d events, %v", n, err)
	}
	if fd, _ := p.Event(0); !p.IsWake(fd) {
		t.Fatalf("event on fd %d, want the eventfd", fd)
	}
	p.ConsumeWake()
	if n, err := p.Wait(0, true); n != 0 || err != nil {
		t.Fatalf("after consuming the wake-up: %d events, %v", n, err)
	}
	if err := p.SetTick(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	n, err = p.Wait(time.Second, false)
	if err != nil || n != 1 {
		t.Fatalf("wait for a tick: %d events, %v", n, err)
	}
	if fd, _ := p.Event(0); !p.IsTick(fd) {
		t.Fatalf("event on fd %d, want the timerfd", fd)
	}
	p.ConsumeTick()
	if err := p.SetTick(0); err != nil {
		t.Fatal(err)
	}
}

func TestDatagramBatches(t *testing.T) {
	var o Options
	rfd, raddr, err := o.ListenFD("udp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(rfd)
	sfd, saddr, err := o.ListenFD("udp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(sfd)
	unix.SetNonblock(sfd, true)
	var q SendQueue
	for _, m := range []string{"one", "two", "three"} {
		if err := q.Push([]byte(m), raddr); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Push([]byte("x"), &net.IPAddr{}); err == nil {
		t.Fatal("pushed a datagram to an address with no port")
	}
	sent, err := q.Send(sfd)
	if err != nil || sent != 3 {
		t.Fatalf("send = %d, %v; want 3", sent, err)
	}
	if n, to := q.At(2); n != 5 || to != raddr {
		t.Fatalf("third datagram: %d bytes to %v", n, to)
	}
	q.Drop(sent)
	if q.Len() != 0 {
		t.Fatalf("%d left after dropping all", q.Len())
	}
	waitFor(t, rfd, Readable)
	rb := NewRecvBatch("udp", 8, 64)
	got := 0
	for deadline := time.Now().Add(5 * time.Second); got < 3 && time.Now().Before(deadline); {
		n, err := rb.Recv(rfd)
		if err == ErrWouldBlock {
			waitFor(t, rfd, Readable)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			data, from := rb.Datagram(i)
			want := []string{"one", "two", "three"}[got]
			if string(data) != want || from.String() != saddr.String() {
				t.Fatalf("datagram %d: %q from %v, want %q from %v", got, data, from, want, saddr)
			}
			got++
		}
	}
	if got != 3 {
		t.Fatalf("received %d datagrams, want 3", got)
	}
}

// Drop compacts the arena once the live part has moved past its middle, so
// a queue that never empties stays bounded.
func TestSendQueueCompacts(t *testing.T) {
	var q SendQueue
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for round := 0; round < 100; round++ {
		for i := 0; i < 10; i++ {
			q.Push(make([]byte, 100), to)
		}
		q.Drop(9)
	}
	if q.Len() != 100 {
		t.Fatalf("%d queued, want 100", q.Len())
	}
	if len(q.arena) > 2*100*100+1000 {
		t.Fatalf("arena holds %d bytes for 100 datagrams of 100", len(q.arena))
	}
}
