package testkit

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// ipv6Missing says why IPv6 loopback cannot be used ("" if it can): both
// a TCP listener and a UDP socket must bind [::1].
var ipv6Missing = sync.OnceValue(func() string {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err.Error()
	}
	ln.Close()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return err.Error()
	}
	pc.Close()
	return ""
})

// NeedIPv6 skips the test where IPv6 loopback is not available.
func NeedIPv6(t testing.TB) {
	t.Helper()
	if why := ipv6Missing(); why != "" {
		t.Skipf("no IPv6 loopback ([::1]) here: %s", why)
	}
}

// unixMissing says, per network, why this system lacks that kind of Unix
// socket ("" if it has it): darwin has no unixpacket, windows has only
// unix.
var unixMissing = sync.OnceValue(func() map[string]string {
	why := map[string]string{}
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		for _, n := range []string{"unix", "unixpacket", "unixgram"} {
			why[n] = err.Error()
		}
		return why
	}
	defer os.RemoveAll(dir)
	for _, n := range []string{"unix", "unixpacket"} {
		if ln, err := net.Listen(n, filepath.Join(dir, n)); err != nil {
			why[n] = err.Error()
		} else {
			ln.Close()
		}
	}
	if pc, err := net.ListenPacket("unixgram", filepath.Join(dir, "g")); err != nil {
		why["unixgram"] = err.Error()
	} else {
		pc.Close()
	}
	return why
})

// HasUnix reports whether this system has Unix sockets of network (unix,
// unixpacket or unixgram).
func HasUnix(network string) bool { return unixMissing()[network] == "" }

// NeedUnix skips the test where this system lacks Unix sockets of network
// (unix, unixpacket or unixgram).
func NeedUnix(t testing.TB, network string) {
	t.Helper()
	if why := unixMissing()[network]; why != "" {
		t.Skipf("no %s sockets on %s: %s", network, runtime.GOOS, why)
	}
}

// NeedRoot skips the test unless it runs as root; why says what needs it.
// CI runs as root, so these tests run there.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root for %s; CI runs as root", why)
	}
}

// SockPath returns a fresh path for a Unix socket file named name, in a
// directory removed when the test ends. It stays well inside the 104 to
// 108 bytes a sockaddr_un holds (unix(7)), even where t.TempDir is long.
func SockPath(t testing.TB, name string) string {
	t.Helper()
	if p := filepath.Join(t.TempDir(), name); len(p) <= 100 {
		return p
	}
	dir, err := os.MkdirTemp("", "sk")
	if err == nil && len(filepath.Join(dir, name)) > 100 && runtime.GOOS != "windows" {
		os.Remove(dir)
		dir, err = os.MkdirTemp("/tmp", "sk")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// StaleSocket leaves a Unix socket file that no one listens on, as a
// crashed server does, at a fresh path named name, and returns the path.
// Connecting to it is refused.
func StaleSocket(t testing.TB, name string) string {
	t.Helper()
	path := SockPath(t, name)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return path
}

// Loopback returns the address to listen on for a fresh endpoint of
// network: port 0 on 127.0.0.1 or [::1], or a fresh Unix socket path. It
// skips the test where the machine lacks what network needs.
func Loopback(t testing.TB, network string) string {
	t.Helper()
	switch network {
	case "tcp6", "udp6":
		NeedIPv6(t)
		return "[::1]:0"
	case "unix", "unixpacket", "unixgram":
		NeedUnix(t, network)
		return SockPath(t, network+".sock")
	}
	return "127.0.0.1:0"
}

// Tcpdump returns the path of tcpdump, or skips the test, which reads a
// pcap file with it; .ci/run installs it.
func Tcpdump(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump to read the pcap file back (apt-get install tcpdump); .ci/run installs it")
	}
	return p
}
