package sockapi

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// wrap makes a Conn on s with a recorder, failing the test on error.
func wrap(t *testing.T, s Socket, network string) (*Conn, *testkit.Recorder) {
	t.Helper()
	rec := new(testkit.Recorder)
	c, err := New(s, network, rec)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// readN reads exactly n bytes from c with Read.
func readN(t *testing.T, c *Conn, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(got) < n {
		k, err := c.Read(buf[:n-len(got)])
		if err != nil || k == 0 {
			t.Fatalf("read after %q: %d, %v", got, k, err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

// unixPair returns both ends of a fresh Unix stream connection.
func unixPair(t *testing.T) (dialed, accepted *net.UnixConn) {
	t.Helper()
	ln, err := net.Listen("unix", testkit.SockPath(t, "p.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, a := testkit.Connect(t, ln)
	a.SetDeadline(time.Now().Add(testkit.Timeout))
	return d.(*net.UnixConn), a.(*net.UnixConn)
}

// MSG_PEEK leaves the bytes in the queue: the next read takes them again.
func TestPeekLeavesTheBytes(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, rec := wrap(t, b, "tcp")
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	var n int
	for n < 5 { // until all five have arrived
		k, err := c.Recv(buf, Peek)
		if err != nil {
			t.Fatal(err)
		}
		n = k
	}
	if got := readN(t, c, 5); string(got) != "hello" {
		t.Errorf("read after recv(MSG_PEEK) = %q, want the same %q", got, "hello")
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "recv(MSG_PEEK) 5 bytes", "read 5 bytes")
}

// MSG_WAITALL waits until the whole buffer is filled, where a plain recv
// returns what has arrived.
func TestWaitAllWaitsForTheWholeBuffer(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, rec := wrap(t, b, "tcp")
	if err := c.SetReadDeadline(time.Now().Add(testkit.Timeout)); err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("abc"))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	buf := make([]byte, 6)
	go func() {
		n, err := c.Recv(buf, WaitAll)
		done <- result{n, err}
	}()
	testkit.Eventually(t, "the MSG_WAITALL recv to block", c.blocking.Load)
	select {
	case r := <-done:
		t.Fatalf("recv(MSG_WAITALL) returned %d, %v with half the buffer", r.n, r.err)
	default:
	}
	a.Write([]byte("def"))
	r := testkit.Receive(t, done, "recv(MSG_WAITALL) result")
	if r.err != nil || string(buf[:r.n]) != "abcdef" {
		t.Errorf("recv(MSG_WAITALL) = %q, %v; want abcdef", buf[:r.n], r.err)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "recv(MSG_WAITALL) 6 bytes")
	// The socket is non-blocking again, for package net.
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := b.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a read after: %v, want the deadline (the socket must be non-blocking again)", err)
	}
}

// A MSG_WAITALL recv ends at the read deadline with what it has.
func TestWaitAllEndsAtTheDeadline(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, _ := wrap(t, b, "tcp")
	a.Write([]byte("ab"))
	buf := make([]byte, 2)
	for n := 0; n < 2; { // until both have arrived
		n, _ = c.Recv(buf, Peek)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf = make([]byte, 10)
	n, err := c.Recv(buf, WaitAll)
	if err != nil || string(buf[:n]) != "ab" {
		t.Errorf("recv(MSG_WAITALL) at the deadline = %q, %v; want the 2 bytes there", buf[:n], err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, err = c.Recv(buf, WaitAll)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("recv(MSG_WAITALL) with nothing coming = %d, %v; want EAGAIN (SO_RCVTIMEO) and a timeout", n, err)
	}
	n, err = c.Recv(buf, WaitAll)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("recv(MSG_WAITALL) after the deadline = %d, %v; want a timeout", n, err)
	}
}

// MSG_DONTWAIT fails with EAGAIN at once where a recv would wait.
func TestDontWaitFailsWithEAGAIN(t *testing.T) {
	t.Parallel()
	_, b := testkit.TCPPair(t)
	c, rec := wrap(t, b, "tcp")
	n, err := c.Recv(make([]byte, 8), DontWait)
	if n != 0 || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("recv(MSG_DONTWAIT) on an empty socket = %d, %v; want EAGAIN", n, err)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "recv(MSG_DONTWAIT) = -1 EAGAIN: resource temporarily unavailable")
}

// Urgent data: a read stops before the urgent mark, SIOCATMARK says
// where it is, recv(MSG_OOB) takes the urgent byte, and the stream goes
// on without it; with SO_OOBINLINE it stays in the stream.
func TestOOBIsUrgent(t *testing.T) {
	t.Parallel()
	for _, inline := range []bool{false, true} {
		name := "apart"
		if inline {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := testkit.TCPPair(t)
			client, crec := wrap(t, a, "tcp")
			server, _ := wrap(t, b, "tcp")
			if inline {
				if err := server.SetOOBInline(true); err != nil {
					t.Fatal(err)
				}
			}
			client.Write([]byte("abc"))
			if _, err := client.Send([]byte("!"), OOB); err != nil {
				t.Fatal(err)
			}
			client.Write([]byte("def"))
			testkit.MustContain(t, "client narration", strings.Join(crec.Texts(), "\n"), "send(MSG_OOB) 1 byte")

			if got := readN(t, server, 3); string(got) != "abc" {
				t.Fatalf("first bytes %q, want abc", got)
			}
			testkit.Eventually(t, "the urgent byte to arrive (SIOCATMARK)", func() bool {
				at, err := server.AtMark()
				return err == nil && at
			})
			rest := "def"
			if inline {
				rest = "!def"
				if _, err := server.Recv(make([]byte, 1), OOB); !errors.Is(err, syscall.EINVAL) {
					t.Errorf("recv(MSG_OOB) with SO_OOBINLINE: %v, want EINVAL (the byte is in the stream)", err)
				}
			} else {
				buf := make([]byte, 1)
				n, err := server.Recv(buf, OOB)
				if err != nil || string(buf[:n]) != "!" {
					t.Fatalf("recv(MSG_OOB) = %q, %v; want !", buf[:n], err)
				}
			}
			if got := readN(t, server, len(rest)); string(got) != rest {
				t.Errorf("after the mark: %q, want %q", got, rest)
			}
		})
	}
}

// SHUT_RD makes reads return 0 (end of file) with nothing sent; on a
// Unix stream socket, the peer's writes then fail with EPIPE.
func TestShutRDMakesReadsReturnZero(t *testing.T) {
	t.Parallel()
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		a, b := testkit.TCPPair(t)
		c, rec := wrap(t, b, "tcp")
		if err := c.Shutdown(ShutRD); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(make([]byte, 8))
		if n != 0 || err != nil {
			t.Errorf("read after SHUT_RD = %d, %v; want 0 (end of file)", n, err)
		}
		testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"),
			"shutdown(SHUT_RD)", "read 0: end of file: reading was shut down here (SHUT_RD)")
		// The peer saw nothing: it can still write, and hears no FIN.
		if _, err := a.Write([]byte("x")); err != nil {
			t.Errorf("peer write after our SHUT_RD: %v", err)
		}
	})
	t.Run("unix", func(t *testing.T) {
		t.Parallel()
		a, b := unixPair(t)
		c, _ := wrap(t, b, "unix")
		if err := c.Shutdown(ShutRD); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("peer write after SHUT_RD on a Unix socket: %v, want EPIPE", err)
		}
	})
}

// SHUT_WR sends FIN: the peer reads EOF and can still answer.
func TestShutWRHalfCloses(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, _ := wrap(t, a, "tcp")
	if err := c.Shutdown(ShutWR); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(b); err != nil || len(got) != 0 {
		t.Errorf("peer read %q, %v; want EOF", got, err)
	}
	b.Write([]byte("late"))
	if got := readN(t, c, 4); string(got) != "late" {
		t.Errorf("after SHUT_WR read %q, want late", got)
	}
}

// A reset is narrated as the call returned it: -1 and ECONNRESET.
func TestReadResetNamesTheErrno(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, rec := wrap(t, a, "tcp")
	b.SetLinger(0)
	b.Close()
	buf := make([]byte, 8)
	var err error
	for i := 0; i < 2 && err == nil; i++ { // the FIN of a reset socket reads as 0 on some kernels first
		_, err = c.Read(buf)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer's RST: %v, want ECONNRESET", err)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "read = -1 ECONNRESET: connection reset by peer")
}

// readv scatters into its vectors in order; writev gathers.
func TestReadvWritev(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	w, wrec := wrap(t, a, "tcp")
	r, _ := wrap(t, b, "tcp")
	if n, err := w.Writev([][]byte{[]byte("hel"), []byte("lo!")}); n != 6 || err != nil {
		t.Fatalf("writev = %d, %v", n, err)
	}
	testkit.MustContain(t, "narration", strings.Join(wrec.Texts(), "\n"), "writev(2 vectors: 3+3 bytes) 6 bytes")
	x, y := make([]byte, 2), make([]byte, 4)
	got := 0
	for got < 6 {
		n, err := r.Readv([][]byte{x[min(got, 2):], y[max(got-2, 0):]})
		if err != nil || n == 0 {
			t.Fatalf("readv: %d, %v", n, err)
		}
		got += n
	}
	if string(x) != "he" || string(y) != "llo!" {
		t.Errorf("readv filled %q and %q, want he and llo!", x, y)
	}
}

// sendto and recvfrom on unconnected UDP sockets name the other side;
// MSG_DONTROUTE to a directly connected (loopback) address arrives.
func TestSendToRecvFrom(t *testing.T) {
	t.Parallel()
	p1, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	s, srec := wrap(t, p1, "udp")
	r, rrec := wrap(t, p2, "udp")
	r.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, err := s.SendTo([]byte("ping"), DontRoute, p2.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := r.RecvFrom(buf, 0)
	if err != nil || string(buf[:n]) != "ping" || from.String() != p1.LocalAddr().String() {
		t.Fatalf("recvfrom = %q from %v, %v; want ping from %v", buf[:n], from, err, p1.LocalAddr())
	}
	testkit.MustContain(t, "sender", strings.Join(srec.Texts(), "\n"), "sendto(MSG_DONTROUTE) 4 bytes to "+p2.LocalAddr().String())
	testkit.MustContain(t, "receiver", strings.Join(rrec.Texts(), "\n"), "recvfrom 4 bytes from "+p1.LocalAddr().String())
}

// IP_RECVERR: an unconnected UDP socket hears of the ICMP port
// unreachable its datagram caused, and the error queue says who sent it.
func TestQueuedErrorNamesTheICMPMessage(t *testing.T) {
	t.Parallel()
	closed, _ := net.ResolveUDPAddr("udp", testkit.RefusedUDP(t))
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, _ := wrap(t, pc, "udp")
	if err := c.SetRecvErr(true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTo([]byte("x"), 0, closed); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, _, err := c.RecvFrom(make([]byte, 8), 0); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recvfrom after a datagram to a closed port: %v, want ECONNREFUSED", err)
	}
	q, err := c.QueuedError()
	if err != nil || q == nil {
		t.Fatalf("QueuedError() = %v, %v", q, err)
	}
	want := "port unreachable from 127.0.0.1 about a datagram to " + closed.String()
	if !q.ICMP || q.Errno != syscall.ECONNREFUSED || q.Error() != want {
		t.Errorf("queued error %q (ICMP %v, errno %v), want %q", q.Error(), q.ICMP, q.Errno, want)
	}
	if q, err := c.QueuedError(); q != nil || err != nil {
		t.Errorf("a second QueuedError() = %v, %v; want an empty queue", q, err)
	}
}

// SCM_RIGHTS: a descriptor passed over a Unix socket arrives open and
// usable in the receiver, as a new number.
func TestPassedDescriptorIsUsable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(path, []byte("first line\nsecond\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := unixPair(t)
	s, srec := wrap(t, a, "unix")
	r, rrec := wrap(t, b, "unix")
	if _, err := s.SendMsg([]byte("hi"), Ancillary{Rights: []int{int(f.Fd())}}, 0, nil); err != nil {
		t.Fatal(err)
	}
	m, err := r.RecvMsg(make([]byte, 16), 0)
	if err != nil || m.N != 2 || len(m.Rights) != 1 {
		t.Fatalf("recvmsg = %+v, %v; want 2 bytes and one descriptor", m, err)
	}
	fd := m.Rights[0]
	g := os.NewFile(uintptr(fd), "passed")
	defer g.Close()
	line, err := io.ReadAll(io.LimitReader(g, 10))
	if err != nil || string(line) != "first line" {
		t.Errorf("reading the passed descriptor: %q, %v", line, err)
	}
	testkit.MustContain(t, "sender", strings.Join(srec.Texts(), "\n"), "sendmsg 2 bytes (SCM_RIGHTS fd ")
	testkit.MustContain(t, "receiver", strings.Join(rrec.Texts(), "\n"), "recvmsg 2 bytes", "ancillary data: SCM_RIGHTS fd ", "(regular file, 18 bytes)")
}

// More descriptors than MaxRights: the message says MSG_CTRUNC, the
// receiver gets MaxRights of them, and the kernel closes the rest (the
// leak check of TestMain would see any left open).
func TestPassedDescriptorsBeyondTheBuffer(t *testing.T) {
	t.Parallel()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds := make([]int, MaxRights+4)
	for i := range fds {
		fds[i] = int(f.Fd())
	}
	a, b := unixPair(t)
	s, _ := wrap(t, a, "unix")
	r, _ := wrap(t, b, "unix")
	if _, err := s.SendMsg([]byte("x"), Ancillary{Rights: fds}, 0, nil); err != nil {
		t.Fatal(err)
	}
	m, err := r.RecvMsg(make([]byte, 4), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range m.Rights {
		syscall.Close(fd)
	}
	if m.Flags&CTrunc == 0 || len(m.Rights) > MaxRights {
		t.Errorf("recvmsg of %d descriptors: %d received, flags %v; want at most %d and MSG_CTRUNC", len(fds), len(m.Rights), m.Flags, MaxRights)
	}
}

// SO_PEERCRED names the process at the other end; SCM_CREDENTIALS, with
// SO_PASSCRED, carries the sender's with each message.
func TestCredentials(t *testing.T) {
	t.Parallel()
	a, b := unixPair(t)
	s, _ := wrap(t, a, "unix")
	r, rrec := wrap(t, b, "unix")
	want := Cred{PID: int32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if got, err := r.PeerCred(); err != nil || got != want {
		t.Errorf("PeerCred() = %v, %v; want %v", got, err, want)
	}
	if err := r.SetPassCred(true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendMsg([]byte("c"), Ancillary{Cred: &want}, 0, nil); err != nil {
		t.Fatal(err)
	}
	m, err := r.RecvMsg(make([]byte, 4), 0)
	if err != nil || m.Cred == nil || *m.Cred != want {
		t.Fatalf("recvmsg with SO_PASSCRED = %+v, %v; want credentials %v", m, err, want)
	}
	testkit.MustContain(t, "narration", strings.Join(rrec.Texts(), "\n"), "ancillary data: SCM_CREDENTIALS "+want.String())
}

// RecvWith and SendWith dispatch to the call named, with its flags.
func TestCallsByName(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	s, srec := wrap(t, a, "tcp")
	r, rrec := wrap(t, b, "tcp")
	calls := []struct {
		send SendCall
		recv RecvCall
	}{{Write, Read}, {Send, Recv}, {SendTo, RecvFrom}, {SendMsg, RecvMsg}, {Writev, Readv}, {SendAuto, RecvAuto}}
	for _, c := range calls {
		msg := []byte(c.send.String())
		if _, err := s.SendWith(c.send, msg, 0, nil); err != nil {
			t.Fatalf("%v: %v", c.send, err)
		}
		got := make([]byte, 0, len(msg))
		for len(got) < len(msg) {
			buf := make([]byte, len(msg)-len(got))
			n, _, err := r.RecvWith(c.recv, buf, 0)
			if err != nil || n == 0 {
				t.Fatalf("%v: %d, %v", c.recv, n, err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("%v then %v: %q, want %q", c.send, c.recv, got, msg)
		}
	}
	testkit.MustContain(t, "sender", strings.Join(srec.Texts(), "\n"), "write 5 bytes", "send 4 bytes", "sendto 6 bytes", "sendmsg 7 bytes", "writev(2 vectors", "write 4 bytes")
	testkit.MustContain(t, "receiver", strings.Join(rrec.Texts(), "\n"), "read 5 bytes", "recv 4 bytes", "recvfrom 6 bytes", "recvmsg 7 bytes", "readv(2 vectors", "read 4 bytes")
}

// Data that comes after SHUT_RDWR (FIN sent, reading shut) makes Linux
// reset the connection; the read that meets the reset says why.
func TestDataAfterShutRDWRResets(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	c, rec := wrap(t, b, "tcp")
	if err := c.Shutdown(ShutRDWR); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "our FIN at the peer", func() bool {
		a.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := a.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	})
	if _, err := a.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	buf := make([]byte, 8)
	var err error
	testkit.Eventually(t, "the reset", func() bool { // reads return 0 until it is in
		var n int
		n, err = c.Read(buf)
		return n != 0 || err != nil
	})
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after SHUT_RDWR and late data: %v, want ECONNRESET", err)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"),
		"read = -1 ECONNRESET: connection reset by peer (data came after our shutdown(SHUT_RD), and the kernel answered it with RST)")
}
