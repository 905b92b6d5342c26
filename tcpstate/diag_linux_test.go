package tcpstate_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// Each test holds a connection in one state on purpose, on 127.0.0.1 and
// ::1, and checks that sock_diag (and TCP_INFO, for our own socket) shows
// it. The trace tests see the same states go by as they happen.

func TestListenAndEstablished(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		ln := listen(t, host, nil)
		port := portOf(ln.Addr())
		c, s := connect(t, ln)
		cl, cr := ends(c)
		waitState(t, cl, cr, tcpstate.Established)
		sl, sr := ends(s)
		waitState(t, sl, sr, tcpstate.Established)
		if st := stateOf(t, c); st != tcpstate.Established {
			t.Errorf("StateOf(client) = %v, want ESTABLISHED", st)
		}
		socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: port})
		if err != nil {
			t.Fatal(err)
		}
		// Only this test's sockets: a TIME_WAIT left by another test may
		// share the port number.
		mine := map[[2]string]bool{{cl.String(), cr.String()}: true, {sl.String(), sr.String()}: true}
		got := map[tcpstate.State]int{}
		for _, s := range socks {
			switch {
			case s.State == tcpstate.Listen && s.Local.String() == ln.Addr().String():
				got[s.State]++
			case mine[[2]string{s.Local.String(), s.Remote.String()}]:
				got[s.State]++
			}
		}
		if len(got) != 2 || got[tcpstate.Listen] != 1 || got[tcpstate.Established] != 2 {
			t.Errorf("%s port %d: Snapshot = %+v, want 1 LISTEN and 2 ESTABLISHED", host, port, socks)
		}
	}
}

// A listener whose accept queue is full drops SYNs (tcp_conn_request), so
// a second client stays in SYN_SENT, retransmitting.
func TestSynSent(t *testing.T) {
	t.Parallel()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil { // room for one connection
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	first, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitQueued(t, addr, 1)

	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cfd)
	if err := unix.Connect(cfd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}); err != unix.EINPROGRESS {
		t.Fatalf("connect = %v, want EINPROGRESS", err)
	}
	st, err := tcpstate.StateOf(cfd)
	if err != nil || st != tcpstate.SynSent {
		t.Fatalf("StateOf(second client) = %v, %v; want SYN_SENT", st, err)
	}
	csa, _ := unix.Getsockname(cfd)
	local := netip.AddrPortFrom(addr.Addr(), uint16(csa.(*unix.SockaddrInet4).Port))
	waitState(t, local, addr, tcpstate.SynSent)
}

// waitQueued waits until the listener at addr has n connections waiting
// for accept (its Recv-Q).
func waitQueued(t *testing.T, addr netip.AddrPort, n uint32) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for backoff := 100 * time.Microsecond; ; backoff = min(2*backoff, 20*time.Millisecond) {
		s, found, err := tcpstate.Lookup(addr, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
		if err != nil {
			t.Fatal(err)
		}
		if found && s.RecvQ == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener %v: %+v, want %d queued", addr, s, n)
		}
		time.Sleep(backoff) // polling the accept queue with a deadline
	}
}

// With TCP_DEFER_ACCEPT the server ignores the bare final ACK and keeps the
// connection as a request socket in SYN_RECV until data arrives.
func TestSynRecv(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		ln := listen(t, host, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30)
		})
		c, err := net.DialTimeout("tcp", ln.Addr().String(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cl, cr := ends(c)
		waitState(t, cl, cr, tcpstate.Established)
		waitState(t, cr, cl, tcpstate.SynRecv)
	}
}

// The side that sends FIN first goes FIN_WAIT_1 → FIN_WAIT_2 when it is
// acknowledged; the other side is in CLOSE_WAIT until it closes.
func TestFinWait2AndCloseWait(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		c, s := connect(t, listen(t, host, nil))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		cl, cr := ends(c)
		waitState(t, cl, cr, tcpstate.FinWait2)
		waitState(t, cr, cl, tcpstate.CloseWait)
		if st := stateOf(t, s); st != tcpstate.CloseWait {
			t.Errorf("StateOf(server) = %v, want CLOSE_WAIT", st)
		}
	}
}

// A FIN queued behind data the peer's full window will not take keeps the
// sender in FIN_WAIT_1.
func TestFinWait1(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		ln := listen(t, host, setBuf(unix.SO_RCVBUF))
		c, _ := connect(t, ln)
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) { setBuf(unix.SO_SNDBUF)(int(fd)) })
		fillUntilBlocked(t, c)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if st := stateOf(t, c); st != tcpstate.FinWait1 {
			t.Errorf("StateOf(client) = %v, want FIN_WAIT_1", st)
		}
		cl, cr := ends(c)
		waitState(t, cl, cr, tcpstate.FinWait1)
		waitState(t, cr, cl, tcpstate.Established) // its FIN has not arrived
	}
}

// The second side to close is in LAST_ACK until its FIN is acknowledged;
// held here by a client that does not read. Once acknowledged it is CLOSED:
// the kernel forgets it.
func TestLastAckThenClosed(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		ln := listen(t, host, nil)
		// A small receive buffer from the start (a window the client never
		// has to shrink) fills at once.
		d := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { setBuf(unix.SO_RCVBUF)(int(fd)) })
		}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := c.(*net.TCPConn)
		ln.SetDeadline(time.Now().Add(waitLimit))
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		tc.CloseWrite()
		cl, cr := ends(c)
		waitState(t, cr, cl, tcpstate.CloseWait)
		fillUntilBlocked(t, s)
		s.CloseWrite()
		waitState(t, cr, cl, tcpstate.LastAck)
		waitState(t, cl, cr, tcpstate.FinWait2)

		// Reading everything lets the server's FIN through: LAST_ACK ends.
		tc.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := readAll(tc); err != nil {
			t.Fatal(err)
		}
		waitState(t, cr, cl, tcpstate.Closed)
		waitState(t, cl, cr, tcpstate.TimeWait)
	}
}

func readAll(c net.Conn) (int, error) {
	buf := make([]byte, 64<<10)
	total := 0
	for range 1 << 20 { // bounded: far more reads than the data needs
		n, err := c.Read(buf)
		total += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
	}
	return total, nil
}

// TIME_WAIT is held by the side that closed first, whichever it is.
func TestTimeWaitOnSideThatClosedFirst(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		for _, clientFirst := range []bool{true, false} {
			c, s := connect(t, listen(t, host, nil))
			first, second := net.Conn(c), net.Conn(s)
			if !clientFirst {
				first, second = s, c
			}
			first.Close()
			fl, fr := ends(first)
			waitState(t, fr, fl, tcpstate.CloseWait)
			second.Close()
			tw := waitState(t, fl, fr, tcpstate.TimeWait)
			waitState(t, fr, fl, tcpstate.Closed)
			if tw.Expires <= 0 || tw.Expires > tcpstate.TimeWaitLen {
				t.Errorf("TIME_WAIT timer %v, want in (0, 60s]", tw.Expires)
			}
		}
	}
}

func TestStateOfNewSocketIsClosed(t *testing.T) {
	t.Parallel()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if st, err := tcpstate.StateOf(fd); err != nil || st != tcpstate.Closed {
		t.Fatalf("StateOf(new socket) = %v, %v; want CLOSED", st, err)
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	s := tcpstate.Socket{Local: netip.MustParseAddrPort("127.0.0.1:7007"), Remote: netip.MustParseAddrPort("127.0.0.2:40000")}
	for _, tc := range []struct {
		f    tcpstate.Filter
		want bool
	}{
		{f: tcpstate.Filter{}, want: true},
		{f: tcpstate.Filter{Port: 7007}, want: true},
		{f: tcpstate.Filter{Port: 40000}, want: true},
		{f: tcpstate.Filter{Port: 7008}, want: false},
		{f: tcpstate.Filter{Port: 7007, Addr: netip.MustParseAddr("127.0.0.1")}, want: true},
		{f: tcpstate.Filter{Port: 7007, Addr: netip.MustParseAddr("127.0.0.2")}, want: false},
		{f: tcpstate.Filter{Port: 7007, Addr: netip.MustParseAddr("::ffff:127.0.0.1")}, want: true},
	} {
		if got := tc.f.Match(s); got != tc.want {
			t.Errorf("%+v.Match = %v, want %v", tc.f, got, tc.want)
		}
	}
	// A listener on the wildcard address accepts the connections to any
	// address: an address filter keeps it. A connection is not a listener.
	f := tcpstate.Filter{Port: 7007, Addr: netip.MustParseAddr("127.0.0.1")}
	for _, tc := range []struct {
		s    tcpstate.Socket
		want bool
	}{
		{s: tcpstate.Socket{State: tcpstate.Listen, Local: netip.MustParseAddrPort("[::]:7007")}, want: true},
		{s: tcpstate.Socket{State: tcpstate.Listen, Local: netip.MustParseAddrPort("0.0.0.0:7007")}, want: true},
		{s: tcpstate.Socket{State: tcpstate.Listen, Local: netip.MustParseAddrPort("0.0.0.0:7008")}, want: false},
		{s: tcpstate.Socket{State: tcpstate.Listen, Local: netip.MustParseAddrPort("127.0.0.2:7007")}, want: false},
		{s: tcpstate.Socket{State: tcpstate.Established, Local: netip.MustParseAddrPort("0.0.0.0:7007")}, want: false},
	} {
		if got := f.Match(tc.s); got != tc.want {
			t.Errorf("%+v.Match(%v %v) = %v, want %v", f, tc.s.State, tc.s.Local, got, tc.want)
		}
	}
}

// A socket that is bound but neither listens nor connects is not listed:
// ss -tan does not show it either (Linux 6.6 can, on request).
func TestSnapshotLeavesOutBoundSockets(t *testing.T) {
	t.Parallel()
	bound := netip.MustParseAddrPort(testkit.Refused6(t)) // bound, never listening
	// On ::1 only: a TIME_WAIT of another test on 127.0.0.1 may share the
	// port number.
	socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: bound.Port(), Addr: netip.IPv6Loopback()})
	if err != nil || len(socks) != 0 {
		t.Errorf("Snapshot of a bound port = %+v, %v; want nothing", socks, err)
	}
}
