package client_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/leaktest"
	"github.com/sockit/sockit/service"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging the binary.
const testTimeout = 10 * time.Second

// testContext is the test's context, cancelled after testTimeout.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// sockPath returns a fresh path for a Unix socket file, short enough for
// sun_path (108 bytes, per unix(7)).
func sockPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if len(p) < 100 {
		return p
	}
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// network is one kind of endpoint the tests run against.
type network struct {
	scheme string
	addr   func(t *testing.T) string // the address to listen on
}

var (
	tcp4       = network{scheme: "tcp4", addr: func(*testing.T) string { return "127.0.0.1:0" }}
	tcp6       = network{scheme: "tcp6", addr: func(t *testing.T) string { needIPv6(t); return "[::1]:0" }}
	unixStream = network{scheme: "unix", addr: func(t *testing.T) string { return sockPath(t, "s.sock") }}
	unixPacket = network{scheme: "unixpacket", addr: func(t *testing.T) string { return sockPath(t, "p.sock") }}
	udp4       = network{scheme: "udp", addr: func(*testing.T) string { return "127.0.0.1:0" }}
	unixgram   = network{scheme: "unixgram", addr: func(t *testing.T) string { return sockPath(t, "g.sock") }}
)

func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback (::1) on this machine: %v", err)
	}
	ln.Close()
}

// serve starts an engine server running h on a fresh address of nw and
// returns the server and the endpoint it listens on. The server is closed
// when the test ends.
func serve(t *testing.T, nw network, h any) (*engine.Server, endpoint.Endpoint) {
	t.Helper()
	ep := endpoint.Endpoint{Scheme: nw.scheme, Addr: nw.addr(t)}
	srv, err := engine.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	var addr net.Addr
	if ep.IsPacket() {
		addr, err = srv.ListenPacket(ep, h.(engine.PacketHandler))
	} else {
		addr, err = srv.Listen(ep, h.(engine.Handler))
	}
	if err != nil {
		t.Fatalf("listen %s: %v", ep, err)
	}
	return srv, ep.WithAddr(addr)
}

// serveEcho is serve with service.Echo.
func serveEcho(t *testing.T, nw network) (*engine.Server, endpoint.Endpoint) {
	t.Helper()
	return serve(t, nw, service.Echo{})
}

// dial connects to ep and closes the connection when the test ends.
func dial(t *testing.T, ep endpoint.Endpoint, o client.Options) *client.Conn {
	t.Helper()
	c, err := client.Dial(testContext(t), ep, o)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", ep, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder is an Observer that keeps every event. It is safe for the
// concurrent calls Pipe makes.
type recorder struct {
	mu  sync.Mutex
	evs []sockit.Event
}

func (r *recorder) Observe(e sockit.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) events() []sockit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sockit.Event(nil), r.evs...)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tcpHolder is a raw TCP server that accepts connections and holds them
// open without ever writing. Each accepted connection is handed to onAccept
// (if set) on the accept goroutine; the holder closes them at cleanup.
func tcpHolder(t *testing.T, onAccept func(net.Conn)) endpoint.Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if onAccept != nil {
				onAccept(c)
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return endpoint.Endpoint{Scheme: "tcp4", Addr: ln.Addr().String()}
}

// udpHolder is a raw UDP socket that never answers.
func udpHolder(t *testing.T) endpoint.Endpoint {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return endpoint.Endpoint{Scheme: "udp", Addr: pc.LocalAddr().String()}
}

// result waits for the error a goroutine reports on ch, failing the test
// after testTimeout.
func result(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("%s did not return within %v", what, testTimeout)
		return nil
	}
}
