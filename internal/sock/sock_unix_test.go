//go:build unix

package sock_test

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/internal/testkit"
)

// getsockopt reads an int option of c's socket.
func getsockopt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt: %v", gerr)
	}
	return v
}

func TestBuffersApplied(t *testing.T) {
	t.Parallel()
	const rcv, snd = 48 << 10, 80 << 10
	o := sock.Options{RecvBuf: rcv, SendBuf: snd}
	check := func(t *testing.T, what string, c syscall.Conn) {
		t.Helper()
		for _, b := range []struct {
			name     string
			opt, set int
			max      string
		}{
			{name: "SO_RCVBUF", opt: unix.SO_RCVBUF, set: rcv, max: "/proc/sys/net/core/rmem_max"},
			{name: "SO_SNDBUF", opt: unix.SO_SNDBUF, set: snd, max: "/proc/sys/net/core/wmem_max"},
		} {
			got := getsockopt(t, c, unix.SOL_SOCKET, b.opt)
			if runtime.GOOS != "linux" {
				if got < b.set {
					t.Errorf("%s %s = %d, want at least %d", what, b.name, got, b.set)
				}
				continue
			}
			// Linux caps the value at the sysctl maximum and doubles it
			// for its bookkeeping (socket(7)).
			if want := 2 * min(b.set, readInt(t, b.max)); got != want {
				t.Errorf("%s %s = %d, want %d", what, b.name, got, want)
			}
		}
	}

	ln, err := o.Listen(testkit.Context(t), "tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	check(t, "listener", ln.(*net.TCPListener))

	c, err := o.Dialer(nil, nil, 0).DialContext(testkit.Context(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check(t, "dialed conn", c.(*net.TCPConn))

	pc, err := o.ListenPacket(testkit.Context(t), "udp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	check(t, "datagram socket", pc.(*net.UDPConn))
}

// readInt reads a number from a file such as a sysctl under /proc.
func readInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

func TestTuneConn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          sock.Options
		wantNoDelay   bool
		wantKeepAlive bool
	}{
		{name: "defaults", opts: sock.Options{}, wantNoDelay: true, wantKeepAlive: true},
		{name: "Nagle", opts: sock.Options{Nagle: true}, wantNoDelay: false, wantKeepAlive: true},
		{name: "keepalive off", opts: sock.Options{KeepAlive: -1}, wantNoDelay: true, wantKeepAlive: false},
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.opts.Dialer(nil, nil, 0).DialContext(testkit.Context(t), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if a, err := ln.Accept(); err == nil {
				a.Close()
			}
			if err := tt.opts.TuneConn(c); err != nil {
				t.Fatalf("TuneConn = %v", err)
			}
			tc := c.(*net.TCPConn)
			if got := getsockopt(t, tc, unix.IPPROTO_TCP, unix.TCP_NODELAY) != 0; got != tt.wantNoDelay {
				t.Errorf("TCP_NODELAY = %v, want %v", got, tt.wantNoDelay)
			}
			if got := getsockopt(t, tc, unix.SOL_SOCKET, unix.SO_KEEPALIVE) != 0; got != tt.wantKeepAlive {
				t.Errorf("SO_KEEPALIVE = %v, want %v", got, tt.wantKeepAlive)
			}
		})
	}
	// Other kinds of connection are left alone.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := (&sock.Options{Nagle: true, KeepAlive: -1}).TuneConn(a); err != nil {
		t.Errorf("TuneConn(net.Pipe) = %v, want nil", err)
	}
}

func TestIsSocketFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sockFile := testkit.SockPath(t, "s.sock")
	ln, err := net.Listen("unix", sockFile)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(sockFile, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		want    bool
		wantErr bool
	}{
		{name: "socket file", path: sockFile, want: true},
		{name: "regular file", path: regular, want: false},
		{name: "directory", path: dir, want: false},
		{name: "missing", path: filepath.Join(dir, "missing"), want: false},
		// Lstat: the link itself is not a socket, and it is never followed.
		{name: "symlink to a socket", path: link, want: false},
		{name: "below a regular file", path: filepath.Join(regular, "x"), want: false, wantErr: true},
	}
	for _, tt := range tests {
		got, err := sock.IsSocketFile(tt.path)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: IsSocketFile(%q) = %v, %v; want %v, error %v", tt.name, tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}
