//go:build unix

// The errno checks here (errors.Is(err, syscall.ECONNREFUSED), ...) hold on
// Unix only: Windows reports WSAE* numbers instead.

package sockit_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// Compile-time check that *sockit.Error is a net.Error.
var _ net.Error = (*sockit.Error)(nil)

// wantError is what a test expects of an error that went through sockit.Wrap.
type wantError struct {
	kind    sockit.Kind
	syscall string
	errno   syscall.Errno // 0: no errno expected
	is      error         // a sentinel errors.Is must find, or nil
	msg     string        // the whole Error() text
	hint    string
	timeout bool
}

// checkError checks err against want. raw is the error before Wrap; the
// wrapped error must unwrap to it.
func checkError(t *testing.T, raw, err error, want wantError) {
	t.Helper()
	var se *sockit.Error
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v (%T), *sockit.Error) = false, want true", err, err)
	}
	if got := se.Unwrap(); got != raw {
		t.Errorf("Unwrap() mismatch (-want +got):\n-%v\n+%v", raw, got)
	}
	if got := sockit.KindOf(err); got != want.kind {
		t.Errorf("KindOf(%v) mismatch (-want +got):\n-%v\n+%v", err, want.kind, got)
	}
	if got := sockit.KindOf(raw); got != want.kind {
		t.Errorf("KindOf(unwrapped %v) mismatch (-want +got):\n-%v\n+%v", raw, want.kind, got)
	}
	if got := se.Kind(); got != want.kind {
		t.Errorf("Kind() mismatch (-want +got):\n-%v\n+%v", want.kind, got)
	}
	if se.Syscall != want.syscall {
		t.Errorf("Syscall mismatch (-want +got):\n-%q\n+%q", want.syscall, se.Syscall)
	}
	if want.errno != 0 && !errors.Is(err, want.errno) {
		t.Errorf("errors.Is(%v, %v) = false, want true", err, want.errno)
	}
	if want.is != nil && !errors.Is(err, want.is) {
		t.Errorf("errors.Is(%v, %v) = false, want true", err, want.is)
	}
	if got := err.Error(); got != want.msg {
		t.Errorf("Error() mismatch (-want +got):\n-%s\n+%s", want.msg, got)
	}
	if got := se.Hint(); got != want.hint {
		t.Errorf("Hint() mismatch (-want +got):\n-%q\n+%q", want.hint, got)
	}
	if want.hint != "" && !strings.Contains(err.Error(), "("+want.hint+")") {
		t.Errorf("Error() = %q, want it to carry the hint %q", err.Error(), want.hint)
	}
	if got := se.Timeout(); got != want.timeout {
		t.Errorf("Timeout() mismatch (-want +got):\n-%v\n+%v", want.timeout, got)
	}
	var ne net.Error
	if !errors.As(err, &ne) || ne.Timeout() != want.timeout {
		t.Errorf("errors.As(err, net.Error) with Timeout() == %v: failed for %v", want.timeout, err)
	}
	if se.Temporary() {
		t.Errorf("Temporary() = true, want false")
	}
}

// listenTCP listens on a free loopback port and closes the listener when the
// test ends.
func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestWrapAddrInUse(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	addr := ln.Addr().String()
	ln2, raw := net.Listen("tcp", addr)
	if raw == nil {
		ln2.Close()
		t.Fatalf("second net.Listen(%q) succeeded, want address in use", addr)
	}
	err := sockit.Wrap("listen", "tcp", addr, raw)
	hint := "another process is listening there; see it with: ss -ltnp, or pick another port"
	checkError(t, raw, err, wantError{
		kind:    sockit.KindAddrInUse,
		syscall: "bind",
		errno:   syscall.EADDRINUSE,
		msg:     "listen tcp " + addr + ": address already in use (" + hint + ") [EADDRINUSE]",
		hint:    hint,
	})
}

func TestWrapAddrInUseUnix(t *testing.T) {
	t.Parallel()
	path := testkit.SockPath(t, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln2, raw := net.Listen("unix", path)
	if raw == nil {
		ln2.Close()
		t.Fatalf("second net.Listen(unix, %q) succeeded, want address in use", path)
	}
	err = sockit.Wrap("listen", "unix", path, raw)
	hint := "a socket file is already there"
	checkError(t, raw, err, wantError{
		kind:    sockit.KindAddrInUse,
		syscall: "bind",
		errno:   syscall.EADDRINUSE,
		msg:     "listen unix " + path + ": address already in use (" + hint + ") [EADDRINUSE]",
		hint:    hint,
	})
}

// A connect that nothing answers: a TCP port held by a socket that never
// listens, and a Unix socket file nobody listens on.
func TestWrapRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		network string
		addr    func(t *testing.T) string
	}{
		{network: "tcp", addr: func(t *testing.T) string { return testkit.Refused(t) }},
		{network: "unix", addr: func(t *testing.T) string { return testkit.StaleSocket(t, "s.sock") }},
	} {
		t.Run(tc.network, func(t *testing.T) {
			t.Parallel()
			addr := tc.addr(t)
			c, raw := net.DialTimeout(tc.network, addr, 10*time.Second)
			if raw == nil {
				c.Close()
				t.Fatalf("dial %s %s succeeded, want connection refused", tc.network, addr)
			}
			err := sockit.Wrap("connect", tc.network, addr, raw)
			checkError(t, raw, err, wantError{
				kind:    sockit.KindRefused,
				syscall: "connect",
				errno:   syscall.ECONNREFUSED,
				msg:     "connect " + tc.network + " " + addr + ": connection refused (nothing listens there) [ECONNREFUSED]",
				hint:    "nothing listens there",
			})
		})
	}
}

func TestWrapTimeout(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server never writes, so the read can only end by its deadline.
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, raw := c.Read(make([]byte, 1))
	if raw == nil {
		t.Fatalf("Read = %d, nil; want a deadline error", n)
	}
	addr := c.LocalAddr().String()
	err = sockit.Wrap("read", "tcp", addr, raw)
	checkError(t, raw, err, wantError{
		kind:    sockit.KindTimeout,
		is:      os.ErrDeadlineExceeded,
		msg:     "read tcp " + addr + ": timed out",
		timeout: true,
	})
}

func TestWrapReset(t *testing.T) {
	t.Parallel()
	// The handshake is done by the kernel, so Accept returns at once.
	c, s := testkit.Connect(t, listenTCP(t))
	// SO_LINGER with a zero timeout makes close(2) send RST instead of FIN, per tcp(7).
	if err := s.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The deadline only bounds the test; the RST ends the read first.
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, raw := c.Read(make([]byte, 1))
	if raw == nil {
		t.Fatalf("Read = %d, nil; want connection reset", n)
	}
	addr := c.RemoteAddr().String()
	err := sockit.Wrap("read", "tcp", addr, raw)
	checkError(t, raw, err, wantError{
		kind:    sockit.KindReset,
		syscall: "read",
		errno:   syscall.ECONNRESET,
		msg:     "read tcp " + addr + ": connection reset by peer (the peer reset the connection) [ECONNRESET]",
		hint:    "the peer reset the connection",
	})
}

func TestWrapAddrNotAvail(t *testing.T) {
	t.Parallel()
	// 192.0.2.1 is TEST-NET-1 (RFC 5737), on no machine's interfaces.
	addr := "192.0.2.1:0"
	ln, raw := net.Listen("tcp", addr)
	if raw == nil {
		ln.Close()
		t.Skipf("listen %s succeeded: this machine has 192.0.2.1 configured", addr)
	}
	err := sockit.Wrap("listen", "tcp", addr, raw)
	checkError(t, raw, err, wantError{
		kind:    sockit.KindAddrNotAvail,
		syscall: "bind",
		errno:   syscall.EADDRNOTAVAIL,
		msg:     "listen tcp " + addr + ": cannot assign requested address (that address is not on this machine) [EADDRNOTAVAIL]",
		hint:    "that address is not on this machine",
	})
}

func TestWrapClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c, raw := ln.Accept()
	if raw == nil {
		c.Close()
		t.Fatal("Accept on a closed listener succeeded")
	}
	err = sockit.Wrap("accept", "tcp", addr, raw)
	checkError(t, raw, err, wantError{
		kind: sockit.KindClosed,
		is:   net.ErrClosed,
		msg:  "accept tcp " + addr + ": use of closed connection",
	})
}

func TestWrapNotSocket(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// getsockopt(2) on a regular file fails with ENOTSOCK.
	ln, raw := net.FileListener(f)
	if raw == nil {
		ln.Close()
		t.Fatalf("net.FileListener(%s) succeeded on a regular file", f.Name())
	}
	err = sockit.Wrap("listen", "unix", f.Name(), raw)
	checkError(t, raw, err, wantError{
		kind:    sockit.KindNotSocket,
		syscall: "getsockopt",
		errno:   syscall.ENOTSOCK,
		msg:     "listen unix " + f.Name() + ": socket operation on non-socket (refusing to delete a file that is not a socket) [ENOTSOCK]",
		hint:    "refusing to delete a file that is not a socket",
	})
}

func TestWrapPermissionLowPort(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: binding port 80 is allowed, so there is no EACCES to see")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if start, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && start <= 80 {
			t.Skipf("net.ipv4.ip_unprivileged_port_start is %d: port 80 needs no privilege here", start)
		}
	}
	addr := "127.0.0.1:80"
	ln, raw := net.Listen("tcp", addr)
	if raw == nil {
		ln.Close()
		t.Skipf("listen %s succeeded: this process has CAP_NET_BIND_SERVICE", addr)
	}
	if errors.Is(raw, syscall.EADDRINUSE) {
		t.Skipf("listen %s: %v (cannot tell whether privilege would be refused)", addr, raw)
	}
	err := sockit.Wrap("listen", "tcp", addr, raw)
	hint := "ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port ≥ 1024"
	checkError(t, raw, err, wantError{
		kind:    sockit.KindPermission,
		syscall: "bind",
		errno:   syscall.EACCES,
		is:      os.ErrPermission,
		msg:     "listen tcp " + addr + ": permission denied (" + hint + ") [EACCES]",
		hint:    hint,
	})
}

func TestWrapNil(t *testing.T) {
	t.Parallel()
	if err := sockit.Wrap("listen", "tcp", "127.0.0.1:1", nil); err != nil {
		t.Errorf("Wrap(nil) mismatch (-want +got):\n-<nil>\n+%v", err)
	}
}

func TestWrapKeepsError(t *testing.T) {
	t.Parallel()
	inner := &sockit.Error{Op: "connect", Net: "tcp", Addr: "127.0.0.1:1", Syscall: "connect", Err: syscall.ECONNREFUSED}
	if got := sockit.Wrap("read", "udp", "10.0.0.1:2", inner); got != error(inner) {
		t.Errorf("Wrap of an *Error mismatch (-want +got):\n-%v\n+%v", inner, got)
	}

	// An *Error deeper inside gets the outer operation on top, and keeps
	// its reason and kind.
	wrapped := fmt.Errorf("dialing: %w", inner)
	got := sockit.Wrap("connect", "tcp", "127.0.0.1:1", wrapped)
	var se *sockit.Error
	if !errors.As(got, &se) || se.Op != "connect" || se.Err != wrapped {
		t.Errorf("Wrap(%v) = %#v, want an outer *Error around it", wrapped, got)
	}
	if want := "connect tcp 127.0.0.1:1: connection refused (nothing listens there) [ECONNREFUSED]"; got.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", got.Error(), want)
	}
	if !errors.Is(got, syscall.ECONNREFUSED) || sockit.KindOf(got) != sockit.KindRefused {
		t.Errorf("Wrap(%v) lost the errno: Is=%v Kind=%v", wrapped, errors.Is(got, syscall.ECONNREFUSED), sockit.KindOf(got))
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	inner := &sockit.Error{Op: "connect", Net: "tcp", Addr: "127.0.0.1:1", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  *sockit.Error
		want string
	}{
		{
			name: "no net, no addr",
			err:  &sockit.Error{Op: "close", Err: errors.New("boom")},
			want: "close: boom",
		},
		{
			name: "net, no addr",
			err:  &sockit.Error{Op: "listen", Net: "udp", Err: errors.New("boom")},
			want: "listen udp: boom",
		},
		{
			name: "net.OpError prefix dropped",
			err: &sockit.Error{Op: "dial", Net: "tcp", Addr: "example.com:80", Err: &net.OpError{
				Op: "dial", Net: "tcp", Err: errors.New("lookup failed"),
			}},
			want: "dial tcp example.com:80: lookup failed",
		},
		{
			name: "inner *Error reason only",
			err:  &sockit.Error{Op: "dial", Net: "tcp", Addr: "127.0.0.1:1", Err: fmt.Errorf("retry: %w", inner)},
			want: "dial tcp 127.0.0.1:1: connection refused (nothing listens there) [ECONNREFUSED]",
		},
		{
			name: "bad endpoint",
			err:  &sockit.Error{Op: "listen", Err: func() error { _, err := endpoint.Parse("tpc://x"); return err }()},
			want: `listen: bad endpoint "tpc://x": unknown scheme "tpc" (want tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket, tls, ws, wss, http, https)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() mismatch (-want +got):\n-%s\n+%s", tt.want, got)
			}
		})
	}
}

// TestKindOf covers the classification of errors no loopback socket can
// produce on demand (an unreachable network, a broken pipe, a file
// permission as root); the real-socket tests above cover the rest.
func TestKindOf(t *testing.T) {
	t.Parallel()
	_, parseErr := endpoint.Parse("tcp://localhost:abc")
	tests := []struct {
		name string
		err  error
		want sockit.Kind
	}{
		{name: "nil", err: nil, want: sockit.KindOther},
		{name: "plain error", err: errors.New("boom"), want: sockit.KindOther},
		{name: "unclassified errno", err: syscall.EINVAL, want: sockit.KindOther},
		{name: "parse error", err: parseErr, want: sockit.KindBadEndpoint},
		{name: "ErrBadEndpoint", err: fmt.Errorf("x: %w", sockit.ErrBadEndpoint), want: sockit.KindBadEndpoint},
		{name: "ErrNotSocket", err: fmt.Errorf("x: %w", sockit.ErrNotSocket), want: sockit.KindNotSocket},
		{name: "ENOTSOCK", err: syscall.ENOTSOCK, want: sockit.KindNotSocket},
		{name: "deadline", err: os.ErrDeadlineExceeded, want: sockit.KindTimeout},
		{name: "ETIMEDOUT", err: os.NewSyscallError("connect", syscall.ETIMEDOUT), want: sockit.KindTimeout},
		{name: "closed", err: net.ErrClosed, want: sockit.KindClosed},
		{name: "EADDRINUSE", err: syscall.EADDRINUSE, want: sockit.KindAddrInUse},
		{name: "EACCES", err: syscall.EACCES, want: sockit.KindPermission},
		{name: "EPERM", err: syscall.EPERM, want: sockit.KindPermission},
		{name: "file permission", err: &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrPermission}, want: sockit.KindPermission},
		{name: "ECONNREFUSED", err: syscall.ECONNREFUSED, want: sockit.KindRefused},
		{name: "ENETUNREACH", err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, want: sockit.KindUnreachable},
		{name: "EHOSTUNREACH", err: syscall.EHOSTUNREACH, want: sockit.KindUnreachable},
		{name: "ENETDOWN", err: syscall.ENETDOWN, want: sockit.KindUnreachable},
		{name: "EHOSTDOWN", err: syscall.EHOSTDOWN, want: sockit.KindUnreachable},
		{name: "ECONNRESET", err: syscall.ECONNRESET, want: sockit.KindReset},
		{name: "EPIPE", err: os.NewSyscallError("write", syscall.EPIPE), want: sockit.KindReset},
		{name: "ECONNABORTED", err: syscall.ECONNABORTED, want: sockit.KindReset},
		{name: "EADDRNOTAVAIL", err: syscall.EADDRNOTAVAIL, want: sockit.KindAddrNotAvail},
		{name: "net.Error timeout", err: &net.DNSError{Err: "i/o timeout", IsTimeout: true}, want: sockit.KindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sockit.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) mismatch (-want +got):\n-%v\n+%v", tt.err, tt.want, got)
			}
		})
	}
}

// TestHintPermission checks the permission hints, which TestWrapPermissionLowPort
// cannot reach when the tests run as root.
func TestHintPermission(t *testing.T) {
	t.Parallel()
	low := "ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port ≥ 1024"
	other := "permission denied by the system"
	tests := []struct {
		name string
		err  *sockit.Error
		want string
	}{
		{name: "listen low port", err: &sockit.Error{Op: "listen", Net: "tcp", Addr: "127.0.0.1:80", Err: syscall.EACCES}, want: low},
		{name: "listen port 1023", err: &sockit.Error{Op: "listen", Net: "udp", Addr: "[::1]:1023", Err: syscall.EACCES}, want: low},
		{name: "listen port 1024", err: &sockit.Error{Op: "listen", Net: "tcp", Addr: "127.0.0.1:1024", Err: syscall.EACCES}, want: other},
		{name: "listen port 0", err: &sockit.Error{Op: "listen", Net: "tcp", Addr: "127.0.0.1:0", Err: syscall.EACCES}, want: other},
		{name: "listen unix path", err: &sockit.Error{Op: "listen", Net: "unix", Addr: "/run/x.sock", Err: syscall.EACCES}, want: other},
		{name: "connect low port", err: &sockit.Error{Op: "connect", Net: "tcp", Addr: "127.0.0.1:80", Err: syscall.EPERM}, want: other},
		{name: "connect unix path", err: &sockit.Error{Op: "connect", Net: "unix", Addr: "/run/x.sock", Err: syscall.EACCES},
			want: "connecting needs write permission on the socket file; see its owner and mode with: ls -l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Hint(); got != tt.want {
				t.Errorf("Hint() mismatch (-want +got):\n-%q\n+%q", tt.want, got)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind sockit.Kind
		want string
	}{
		{kind: sockit.KindOther, want: "other"},
		{kind: sockit.KindBadEndpoint, want: "bad endpoint"},
		{kind: sockit.KindAddrInUse, want: "address in use"},
		{kind: sockit.KindPermission, want: "permission denied"},
		{kind: sockit.KindRefused, want: "connection refused"},
		{kind: sockit.KindUnreachable, want: "unreachable"},
		{kind: sockit.KindTimeout, want: "timeout"},
		{kind: sockit.KindReset, want: "connection reset"},
		{kind: sockit.KindAddrNotAvail, want: "address not available"},
		{kind: sockit.KindNotSocket, want: "not a socket"},
		{kind: sockit.KindClosed, want: "closed"},
		{kind: sockit.Kind(200), want: "kind(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("Kind(%d).String() mismatch (-want +got):\n-%q\n+%q", uint8(tt.kind), tt.want, got)
			}
		})
	}
}

func TestOptionError(t *testing.T) {
	t.Parallel()
	err := error(sockit.BadOption("bench.Options", "Depth", "must be 1 … 1024"))
	if got, want := err.Error(), "bench.Options.Depth must be 1 … 1024"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, sockit.ErrBadOption) || sockit.KindOf(err) != sockit.KindBadOption {
		t.Errorf("%v: Is(ErrBadOption) %v, kind %v; want true, bad option", err, errors.Is(err, sockit.ErrBadOption), sockit.KindOf(err))
	}
	both := &sockit.OptionError{Owner: "bench.Options", Fields: []string{"Warmup", "Duration"}, Reason: "together must be at most 1h", Err: os.ErrInvalid}
	if got, want := both.Error(), "bench.Options.Warmup and bench.Options.Duration together must be at most 1h"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(both, os.ErrInvalid) {
		t.Error("OptionError does not unwrap to its Err")
	}
	wrapped := fmt.Errorf("run: %w", both)
	var oe *sockit.OptionError
	if !errors.As(wrapped, &oe) || sockit.KindOf(wrapped) != sockit.KindBadOption {
		t.Error("a wrapped OptionError is not found")
	}
}

// Advice is the caller's word after the library's hint, in the same
// parentheses.
func TestErrorAdvice(t *testing.T) {
	t.Parallel()
	e := &sockit.Error{Op: "listen", Net: "unix", Addr: "/tmp/x.sock", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	want := "listen unix /tmp/x.sock: address already in use (a socket file is already there) [EADDRINUSE]"
	if got := e.Error(); got != want {
		t.Errorf("without advice: %q, want %q", got, want)
	}
	e.Advice = "pass --unlink"
	if got := e.Error(); got != strings.Replace(want, ")", "; pass --unlink)", 1) {
		t.Errorf("with advice: %q", got)
	}
	e = &sockit.Error{Op: "read", Net: "tcp", Err: errors.New("odd"), Advice: "try again"}
	if got, want := e.Error(), "read tcp: odd (try again)"; got != want {
		t.Errorf("advice without a hint: %q, want %q", got, want)
	}
}

// TestHintAddress checks the hints for an address that cannot be used or
// reached, by network and operation: each names what to look at there.
func TestHintAddress(t *testing.T) {
	t.Parallel()
	inUse := func(network string, err error) *sockit.Error {
		return &sockit.Error{Op: "listen", Net: network, Addr: "x", Err: err}
	}
	tests := []struct {
		name string
		err  *sockit.Error
		want string
	}{
		{name: "tcp in use", err: inUse("tcp", syscall.EADDRINUSE), want: "another process is listening there; see it with: ss -ltnp, or pick another port"},
		{name: "udp in use", err: inUse("udp", syscall.EADDRINUSE), want: "another process has that port; see it with: ss -lunp, or pick another port"},
		{name: "udp6 in use", err: inUse("udp6", syscall.EADDRINUSE), want: "another process has that port; see it with: ss -lunp, or pick another port"},
		{name: "unix file there", err: inUse("unixgram", syscall.EADDRINUSE), want: "a socket file is already there"},
		{name: "unix live server", err: inUse("unix", fmt.Errorf("%w: %w", syscall.EADDRINUSE, sockit.ErrLiveSocket)),
			want: "not replacing it; stop that server, or pick another path"},
		{name: "listen on a regular file", err: inUse("unix", sockit.ErrNotSocket), want: "refusing to delete a file that is not a socket"},
		{name: "connect to a regular file", err: &sockit.Error{Op: "connect", Net: "unix", Addr: "/tmp/f", Err: sockit.ErrNotSocket},
			want: "is that the server's socket path?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Hint(); got != tt.want {
				t.Errorf("Hint() mismatch (-want +got):\n-%q\n+%q", tt.want, got)
			}
		})
	}
}
