package tcpstate_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// waitLimit bounds every wait for something loopback does at once; it is
// generous because -race and parallel tests slow things down.
const waitLimit = 10 * time.Second

// loopbacks are the addresses every socket test runs on.
var loopbacks = []string{"127.0.0.1", "::1"}

func listen(t *testing.T, host string, control func(fd int) error) *net.TCPListener {
	t.Helper()
	lc := net.ListenConfig{}
	if control != nil {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var cerr error
			err := c.Control(func(fd uintptr) { cerr = control(int(fd)) })
			return errors.Join(err, cerr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// connect returns both ends of a new connection to ln.
func connect(t *testing.T, ln *net.TCPListener) (client, server *net.TCPConn) {
	t.Helper()
	c, s := testkit.Connect(t, ln)
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func ends(c net.Conn) (local, remote netip.AddrPort) {
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

func portOf(a net.Addr) uint16 { return uint16(a.(*net.TCPAddr).Port) }

// waitState polls sock_diag until the socket local→remote is in want, and
// fails the test after waitLimit.
func waitState(t *testing.T, local, remote netip.AddrPort, want tcpstate.State) tcpstate.Socket {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last string
	for backoff := 100 * time.Microsecond; ; backoff = min(2*backoff, 20*time.Millisecond) {
		s, found, err := tcpstate.Lookup(local, remote)
		switch {
		case err != nil:
			t.Fatalf("Lookup(%v, %v): %v", local, remote, err)
		case want == tcpstate.Closed && !found:
			return tcpstate.Socket{State: tcpstate.Closed}
		case found && s.State == want:
			return s
		case found:
			last = s.State.String()
		default:
			last = "no socket"
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v → %v: %s after %s, want %v", local, remote, last, waitLimit, want)
		}
		time.Sleep(backoff) // polling the kernel's state with a deadline
	}
}

// fillUntilBlocked writes to c until its send buffer is full and the write
// would block: the peer is not reading, so the data stays queued.
func fillUntilBlocked(t *testing.T, c *net.TCPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var werr error
	full := false
	for i := 0; i < 10000 && !full && werr == nil; i++ {
		err = rc.Write(func(fd uintptr) bool {
			_, e := unix.Write(int(fd), buf)
			switch {
			case errors.Is(e, unix.EAGAIN):
				full = true
			case e != nil:
				werr = e
			}
			return true // never wait: EAGAIN is what we are after
		})
	}
	if err != nil || werr != nil || !full {
		t.Fatalf("filling the send buffer: %v, %v, full=%v", err, werr, full)
	}
}

func setBuf(opt int) func(int) error {
	return func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 4096) }
}

func stateOf(t *testing.T, c *net.TCPConn) tcpstate.State {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st tcpstate.State
	var serr error
	rc.Control(func(fd uintptr) { st, serr = tcpstate.StateOf(int(fd)) })
	if serr != nil {
		t.Fatal(serr)
	}
	return st
}
