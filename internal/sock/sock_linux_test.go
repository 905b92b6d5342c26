package sock_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/internal/testkit"
)

// maxBacklog is the accept queue length the kernel keeps for a listening
// TCP socket: for listeners TCP_INFO's tcpi_sacked holds sk_max_ack_backlog
// (see tcp_get_info in net/ipv4/tcp.c), the number ss -lt shows as Send-Q.
func maxBacklog(t *testing.T, ln net.Listener) int {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("getsockopt TCP_INFO: %v", ierr)
	}
	if info.State != 10 { // TCP_LISTEN in include/net/tcp_states.h
		t.Fatalf("socket state %d, want TCP_LISTEN (10)", info.State)
	}
	return int(info.Sacked)
}

func TestListenBacklogInKernel(t *testing.T) {
	t.Parallel()
	somaxconn := readInt(t, "/proc/sys/net/core/somaxconn")
	tests := []struct {
		name        string
		backlog     int
		wantEvent   int // the backlog the listen step reports
		wantInQueue int // the accept queue length the kernel keeps
	}{
		{name: "17", backlog: 17, wantEvent: 17, wantInQueue: 17},
		{name: "1", backlog: 1, wantEvent: 1, wantInQueue: 1},
		// Zero is the system maximum, as package net passes it.
		{name: "default", backlog: 0, wantEvent: somaxconn, wantInQueue: min(somaxconn, 1<<16-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.backlog > somaxconn {
				t.Skipf("somaxconn %d caps backlog %d", somaxconn, tt.backlog)
			}
			rec := &testkit.Recorder{}
			o := sock.Options{Backlog: tt.backlog}
			ln, err := o.Listen(testkit.Context(t), "tcp", "127.0.0.1:0", rec)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			evs := rec.Events()
			if last := evs[len(evs)-1]; last.Step != sockit.StepListen || last.N != tt.wantEvent {
				t.Errorf("last event = %v with N %d, want listen with backlog %d", last.Step, last.N, tt.wantEvent)
			}
			if got := maxBacklog(t, ln); got != tt.wantInQueue {
				t.Errorf("kernel accept queue length = %d, want %d", got, tt.wantInQueue)
			}
		})
	}
}

// TestSocketDetailMatchesKernel compares the family and type the socket
// step names with what the kernel says about the descriptor (SO_DOMAIN,
// SO_TYPE), including package net's choice of family for "tcp" with no
// host, which is a dual-stack AF_INET6 socket where IPv6 exists.
func TestSocketDetailMatchesKernel(t *testing.T) {
	t.Parallel()
	families := map[int]string{unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6", unix.AF_UNIX: "AF_UNIX"}
	types := map[int]string{unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_SEQPACKET: "SOCK_SEQPACKET"}
	tests := []struct {
		name    string
		network string
		address func(t *testing.T) string
	}{
		{name: "tcp ipv4", network: "tcp", address: func(*testing.T) string { return "127.0.0.1:0" }},
		{name: "tcp any", network: "tcp", address: func(*testing.T) string { return ":0" }},
		{name: "tcp6", network: "tcp6", address: func(*testing.T) string { return "[::1]:0" }},
		{name: "udp ipv4", network: "udp", address: func(*testing.T) string { return "127.0.0.1:0" }},
		{name: "udp any", network: "udp", address: func(*testing.T) string { return ":0" }},
		{name: "unix", network: "unix", address: func(t *testing.T) string { return testkit.SockPath(t, "k.sock") }},
		{name: "unixpacket", network: "unixpacket", address: func(t *testing.T) string { return testkit.SockPath(t, "k.sock") }},
		{name: "unixgram", network: "unixgram", address: func(t *testing.T) string { return testkit.SockPath(t, "k.sock") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := tt.address(t)
			rec := &testkit.Recorder{}
			var o sock.Options
			var c syscall.Conn
			switch tt.network {
			case "udp", "unixgram":
				pc, err := o.ListenPacket(testkit.Context(t), tt.network, addr, rec)
				if err != nil {
					t.Skipf("cannot listen on %s %s here: %v", tt.network, addr, err)
				}
				defer pc.Close()
				c = pc.(syscall.Conn)
			default:
				ln, err := o.Listen(testkit.Context(t), tt.network, addr, rec)
				if err != nil {
					t.Skipf("cannot listen on %s %s here: %v", tt.network, addr, err)
				}
				defer ln.Close()
				c = ln.(syscall.Conn)
			}
			want := families[getsockopt(t, c, unix.SOL_SOCKET, unix.SO_DOMAIN)] + ", " + types[getsockopt(t, c, unix.SOL_SOCKET, unix.SO_TYPE)]
			if got := rec.Events()[0].Detail; got != want {
				t.Errorf("socket step says %q, the kernel says %q", got, want)
			}
		})
	}
}

func TestReusePort(t *testing.T) {
	t.Parallel()
	reuse := sock.Options{ReusePort: true}
	a, err := reuse.Listen(testkit.Context(t), "tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := a.Addr().String()
	if got := getsockopt(t, a.(*net.TCPListener), unix.SOL_SOCKET, unix.SO_REUSEPORT); got != 1 {
		t.Errorf("SO_REUSEPORT = %d, want 1", got)
	}

	// Without the option on both sockets the kernel refuses the port.
	var plain sock.Options
	if ln, err := plain.Listen(testkit.Context(t), "tcp", addr, nil); err == nil {
		ln.Close()
		t.Fatalf("a listener without SO_REUSEPORT shares %s", addr)
	} else if k := sockit.KindOf(err); k != sockit.KindAddrInUse {
		t.Errorf("Listen without SO_REUSEPORT = %v (kind %v), want %v", err, k, sockit.KindAddrInUse)
	}

	b, err := reuse.Listen(testkit.Context(t), "tcp", addr, nil)
	if err != nil {
		t.Fatalf("a second listener with SO_REUSEPORT on %s: %v", addr, err)
	}
	defer b.Close()
	// With the first one closed, the second alone takes the port's
	// connections: it really listens there.
	a.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	s, err := b.Accept()
	if err != nil {
		t.Fatalf("second listener Accept: %v", err)
	}
	s.Close()
}
