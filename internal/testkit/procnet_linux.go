package testkit

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ListenAddr returns the address a process we started listens on with
// TCP (its first listening socket), once it listens: how a test learns the
// port 0 gave a program that does not print it. It reads the process's
// descriptors and /proc/net/tcp and tcp6, and fails the test if the
// process does not listen within Timeout.
func ListenAddr(t testing.TB, pid int) string {
	t.Helper()
	var addr string
	Eventually(t, fmt.Sprintf("process %d listening on TCP", pid), func() bool {
		addr = listening(pid)
		return addr != ""
	})
	return addr
}

// listening is the address of pid's first listening TCP socket, or "".
func listening(pid int) string {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st ... uid timeout inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] { // 0A: TCP_LISTEN
				continue
			}
			if a, ok := procAddr(fs[1]); ok {
				f.Close()
				return a.String()
			}
		}
		f.Close()
	}
	return ""
}

// procAddr parses /proc/net/tcp's "0100007F:A5C3": the address in host
// byte order, 32 bits at a time, and the port.
func procAddr(s string) (netip.AddrPort, bool) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if !ok || err != nil || (len(hexIP) != 8 && len(hexIP) != 32) {
		return netip.AddrPort{}, false
	}
	var b []byte
	for i := 0; i < len(hexIP); i += 8 {
		w, err := strconv.ParseUint(hexIP[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24)) // little-endian words, as x86 and arm64 Linux keep them
	}
	ip, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}
