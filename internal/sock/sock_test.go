package sock_test

import (
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// checkFDs fails unless every event names fd, which must be a descriptor
// where the platform has them.
func checkFDs(t *testing.T, evs []sockit.Event, fd int) {
	t.Helper()
	if runtime.GOOS != "windows" && fd < 0 {
		t.Errorf("FD = %d, want a descriptor", fd)
	}
	for _, e := range evs {
		if e.FD != fd {
			t.Errorf("event %q has fd %d, want %d", e, e.FD, fd)
		}
		if e.Err != nil {
			t.Errorf("event %q has error %v", e, e.Err)
		}
	}
}

func TestFamilyType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network, address string
		want             string
	}{
		{network: "tcp", address: "127.0.0.1:80", want: "AF_INET, SOCK_STREAM"},
		{network: "tcp", address: "[::1]:80", want: "AF_INET6, SOCK_STREAM"},
		{network: "tcp", address: "[fe80::1%lo]:80", want: "AF_INET6, SOCK_STREAM"},
		{network: "tcp", address: ":80", want: "AF_INET, SOCK_STREAM"},
		{network: "tcp", address: "localhost:80", want: "AF_INET, SOCK_STREAM"},
		{network: "tcp4", address: "0.0.0.0:0", want: "AF_INET, SOCK_STREAM"},
		{network: "tcp6", address: "[::]:0", want: "AF_INET6, SOCK_STREAM"},
		{network: "tcp6", address: "", want: "AF_INET6, SOCK_STREAM"},
		{network: "udp", address: "127.0.0.1:53", want: "AF_INET, SOCK_DGRAM"},
		{network: "udp", address: "[::1]:53", want: "AF_INET6, SOCK_DGRAM"},
		{network: "udp4", address: "127.0.0.1:53", want: "AF_INET, SOCK_DGRAM"},
		{network: "udp6", address: "[::1]:53", want: "AF_INET6, SOCK_DGRAM"},
		{network: "unix", address: "/tmp/s.sock", want: "AF_UNIX, SOCK_STREAM"},
		{network: "unix", address: "@abstract", want: "AF_UNIX, SOCK_STREAM"},
		{network: "unixgram", address: "/tmp/g.sock", want: "AF_UNIX, SOCK_DGRAM"},
		{network: "unixpacket", address: "/tmp/p.sock", want: "AF_UNIX, SOCK_SEQPACKET"},
	}
	for _, tt := range tests {
		if got := sock.FamilyType(tt.network, tt.address); got != tt.want {
			t.Errorf("FamilyType(%q, %q) = %q, want %q", tt.network, tt.address, got, tt.want)
		}
	}
}

func TestListenNarration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		network    string
		address    func(t *testing.T) string
		opts       sock.Options
		wantSocket string
		wantOpts   []string // setsockopt details, in order, between socket and bind
	}{
		{
			name: "tcp backlog 17", network: "tcp", address: func(*testing.T) string { return "127.0.0.1:0" },
			opts: sock.Options{Backlog: 17}, wantSocket: "AF_INET, SOCK_STREAM",
		},
		{
			name: "tcp with options", network: "tcp4", address: func(*testing.T) string { return "127.0.0.1:0" },
			opts:       sock.Options{Backlog: 5, ReusePort: true, RecvBuf: 64 << 10, SendBuf: 96 << 10},
			wantSocket: "AF_INET, SOCK_STREAM",
			wantOpts:   []string{"SO_REUSEPORT=1", "SO_RCVBUF=65536", "SO_SNDBUF=98304"},
		},
		{
			// SO_REUSEPORT does not apply to Unix sockets and is skipped.
			name: "unix", network: "unix", address: func(t *testing.T) string { return testkit.SockPath(t, "l.sock") },
			opts: sock.Options{Backlog: 3, ReusePort: true}, wantSocket: "AF_UNIX, SOCK_STREAM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" && (tt.opts.ReusePort && tt.network != "unix") {
				t.Skip("SO_REUSEPORT does not exist on windows")
			}
			rec := &testkit.Recorder{}
			ln, err := tt.opts.Listen(testkit.Context(t), tt.network, tt.address(t), rec)
			if err != nil {
				t.Fatalf("Listen = %v", err)
			}
			defer ln.Close()

			wantOpts := tt.wantOpts
			if runtime.GOOS == "linux" {
				// Package net sets SO_REUSEADDR on every stream listener
				// before Control runs; on Linux the narration asks the
				// kernel and says so.
				wantOpts = append([]string{"SO_REUSEADDR=1, by package net"}, wantOpts...)
			}
			want := []sockit.Step{sockit.StepSocket}
			for range wantOpts {
				want = append(want, sockit.StepSetsockopt)
			}
			want = append(want, sockit.StepBind, sockit.StepListen)
			if got := rec.Steps(); !slices.Equal(got, want) {
				t.Fatalf("steps = %v, want %v", got, want)
			}
			evs := rec.Events()
			checkFDs(t, evs, sock.FD(ln))
			if evs[0].Detail != tt.wantSocket {
				t.Errorf("socket detail = %q, want %q", evs[0].Detail, tt.wantSocket)
			}
			for i, d := range wantOpts {
				if got := evs[1+i].Detail; got != d {
					t.Errorf("setsockopt %d detail = %q, want %q", i, got, d)
				}
			}
			bind, listen := evs[len(evs)-2], evs[len(evs)-1]
			if bind.Local == nil || bind.Local.String() != ln.Addr().String() {
				t.Errorf("bind address = %v, want %v", bind.Local, ln.Addr())
			}
			if listen.N != tt.opts.Backlog {
				t.Errorf("listen backlog = %d, want %d", listen.N, tt.opts.Backlog)
			}
		})
	}
}

func TestListenPacketNarration(t *testing.T) {
	t.Parallel()
	rec := &testkit.Recorder{}
	o := sock.Options{RecvBuf: 32 << 10}
	pc, err := o.ListenPacket(testkit.Context(t), "udp", "127.0.0.1:0", rec)
	if err != nil {
		t.Fatalf("ListenPacket = %v", err)
	}
	defer pc.Close()
	want := []sockit.Step{sockit.StepSocket, sockit.StepSetsockopt, sockit.StepBind}
	if got := rec.Steps(); !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
	evs := rec.Events()
	checkFDs(t, evs, sock.FD(pc))
	if got := evs[0].Detail; got != "AF_INET, SOCK_DGRAM" {
		t.Errorf("socket detail = %q, want AF_INET, SOCK_DGRAM", got)
	}
	if got := evs[2].Local; got == nil || got.String() != pc.LocalAddr().String() {
		t.Errorf("bind address = %v, want %v", got, pc.LocalAddr())
	}
}

func TestListenAddrInUse(t *testing.T) {
	t.Parallel()
	var o sock.Options
	ln, err := o.Listen(testkit.Context(t), "tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	ln2, err := o.Listen(testkit.Context(t), "tcp", addr, nil)
	if err == nil {
		ln2.Close()
		t.Fatalf("a second Listen on %s succeeded", addr)
	}
	var se *sockit.Error
	if !errors.As(err, &se) {
		t.Fatalf("Listen error %T (%v) is not a *sockit.Error", err, err)
	}
	if se.Op != "listen" || se.Net != "tcp" || se.Addr != addr || se.Syscall != "bind" {
		t.Errorf("Listen error = {Op: %q, Net: %q, Addr: %q, Syscall: %q}, want {listen tcp %s bind}", se.Op, se.Net, se.Addr, se.Syscall, addr)
	}
	if k := se.Kind(); k != sockit.KindAddrInUse {
		t.Errorf("Kind() = %v, want %v", k, sockit.KindAddrInUse)
	}
}

func TestDialerNarration(t *testing.T) {
	t.Parallel()
	peer := testkit.Serve(t, testkit.Hold)
	rec := &testkit.Recorder{}
	o := sock.Options{SendBuf: 32 << 10}
	d := o.Dialer(rec, nil, 5*time.Second)
	if d.Timeout != 5*time.Second {
		t.Errorf("Dialer timeout = %v, want 5s", d.Timeout)
	}
	c, err := d.DialContext(testkit.Context(t), "tcp", peer.String())
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer c.Close()
	want := []sockit.Step{sockit.StepSocket, sockit.StepSetsockopt, sockit.StepConnect}
	if got := rec.Steps(); !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
	evs := rec.Events()
	checkFDs(t, evs, sock.FD(c))
	if got := evs[0].Detail; got != "AF_INET, SOCK_STREAM" {
		t.Errorf("socket detail = %q, want AF_INET, SOCK_STREAM", got)
	}
	if got := evs[1].Detail; got != "SO_SNDBUF=32768" {
		t.Errorf("setsockopt detail = %q, want SO_SNDBUF=32768", got)
	}
	if p := evs[2].Peer; p == nil || p.String() != peer.String() {
		t.Errorf("connect peer = %v, want %v", p, peer)
	}
}

func TestDialerUnixgramLocalAddr(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("unixgram sockets do not exist on windows")
	}
	srvPath, cliPath := testkit.SockPath(t, "srv.sock"), testkit.SockPath(t, "cli.sock")
	pc, err := net.ListenPacket("unixgram", srvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rec := &testkit.Recorder{}
	var o sock.Options
	laddr := &net.UnixAddr{Name: cliPath, Net: "unixgram"}
	c, err := o.Dialer(rec, laddr, 0).DialContext(testkit.Context(t), "unixgram", srvPath)
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer c.Close()
	want := []sockit.Step{sockit.StepSocket, sockit.StepConnect}
	if got := rec.Steps(); !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
	evs := rec.Events()
	checkFDs(t, evs, sock.FD(c))
	if got := evs[0].Detail; got != "AF_UNIX, SOCK_DGRAM" {
		t.Errorf("socket detail = %q, want AF_UNIX, SOCK_DGRAM", got)
	}
	if got := c.LocalAddr().String(); got != cliPath {
		t.Errorf("LocalAddr = %q, want %q", got, cliPath)
	}
	// The server can answer the bound client.
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	_, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from == nil || from.String() != cliPath {
		t.Errorf("server saw the datagram from %v, want %s", from, cliPath)
	}
}

func TestFD(t *testing.T) {
	t.Parallel()
	if got := sock.FD("not a conn"); got != -1 {
		t.Errorf("FD(string) = %d, want -1", got)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if fd := sock.FD(ln); runtime.GOOS != "windows" && fd < 0 {
		t.Errorf("FD(listener) = %d, want a descriptor", fd)
	}
	ln.Close()
	if got := sock.FD(ln); got != -1 {
		t.Errorf("FD(closed listener) = %d, want -1", got)
	}
}
