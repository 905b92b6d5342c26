package testkit

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os/exec"
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
