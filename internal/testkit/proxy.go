package testkit

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// SOCKS5Proxy starts microsocks, a SOCKS5 server from Debian's packages,
// on 127.0.0.1 and a port of its choosing, requiring user and pass if
// user is not "", and returns its address; it is killed when the test
// ends. It skips the test where microsocks is not installed (.ci/run
// installs it) or where its port cannot be found (not Linux).
func SOCKS5Proxy(t testing.TB, user, pass string) string {
	t.Helper()
	path, err := exec.LookPath("microsocks")
	if err != nil {
		t.Skip("microsocks is not installed (Debian package microsocks; .ci/run installs it)")
	}
	args := []string{"-i", "127.0.0.1", "-p", "0"}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	p := Start(t, exec.Command(path, args...))
	return ListenAddr(t, p.Cmd.Process.Pid)
}

// LighttpdProxy starts lighttpd, a web server from Debian's packages, as
// an HTTP CONNECT proxy whose tunnels all lead to target (its mod_proxy
// tunnels a CONNECT to its configured backend, whatever the request
// names), and returns its address; it is killed when the test ends.
// lighttpd reads port 0 as its default, 80, so the test binds
// 127.0.0.1:0 and hands it the listening socket, as systemd's socket activation does
// (LISTEN_FDS, LISTEN_PID). Like microsocks it ends both directions at the
// first FIN it sees, and its 200 carries "Connection: close". It skips the
// test where lighttpd is not installed (.ci/run installs it), and on
// Windows.
func LighttpdProxy(t testing.TB, target string) string {
	t.Helper()
	path, err := exec.LookPath("lighttpd")
	if err != nil {
		t.Skip("lighttpd is not installed (Debian package lighttpd; .ci/run installs it)")
	}
	if runtime.GOOS == "windows" {
		t.Skip("socket activation hands a descriptor to a Unix process")
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File() // a duplicate: the socket listens on in it
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	addr := ln.Addr().(*net.TCPAddr)
	dir := t.TempDir()
	// server.bind and server.port name the socket handed over, so that
	// lighttpd takes it instead of binding one.
	conf := fmt.Sprintf(`server.modules = ("mod_proxy")
server.document-root = %q
server.systemd-socket-activation = "enable"
server.bind = "127.0.0.1"
server.port = %d
proxy.server = ("" => (("host" => %q, "port" => %s)))
proxy.header = ("connect" => "enable")
`, dir, addr.Port, host, port)
	confPath := filepath.Join(dir, "lighttpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// LISTEN_PID must be lighttpd's own: the shell's, which exec keeps.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -D -f "$1"`, path, confPath)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f} // descriptor 3, as LISTEN_FDS counts from there
	Start(t, cmd)
	return addr.String()
}

// HTTPProxy runs an HTTP CONNECT proxy on 127.0.0.1:0 until the test
// ends, requiring Basic credentials user and pass if user is not "", and
// returns its address. It is net/http's server with a handler that
// hijacks CONNECT requests: 407 without the credentials, 502 when the
// target cannot be reached, 200 and then the bytes both ways.
func HTTPProxy(t testing.TB, user, pass string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn // hijacked and target connections, closed when the test ends
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodConnect:
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		case user != "" && r.Header.Get("Proxy-Authorization") != want:
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		target, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			target.Close()
			return
		}
		mu.Lock()
		open = append(open, c, target)
		mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		wg.Add(1)
		go func() {
			defer wg.Done()
			splice(c, rw.Reader, target)
		}()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		for _, c := range open { // hijacked: ours to close, which ends splice
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// splice copies both ways between a client (with what its reader holds)
// and a target, passing each end of data on as a half-close, and closes
// both when both directions are done.
func splice(c net.Conn, br *bufio.Reader, target net.Conn) {
	defer c.Close()
	defer target.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(target, br)
		target.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, target)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
	<-done
}
