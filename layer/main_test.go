package layer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/leaktest"
	"github.com/sockit/sockit/layer"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// testTimeout bounds every wait of these tests.
const testTimeout = 20 * time.Second

// testCert is the servers' certificate.
var testCert = sync.OnceValue(func() tls.Certificate {
	c, err := certs.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	return c
})

func serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert()}}
}

// clientTLS trusts testCert.
func clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(testCert().Leaf)
	return &tls.Config{RootCAs: pool}
}

// schemes are the endpoints' kinds the tests run over: one without layers
// and each layered one.
var schemes = []string{"tcp", "tls", "ws", "wss"}

// endpointFor is a loopback endpoint of scheme on port 0.
func endpointFor(scheme string) endpoint.Endpoint {
	ep := endpoint.Endpoint{Scheme: scheme, Addr: "127.0.0.1:0"}
	if ep.IsWebSocket() {
		ep.Path = "/stream"
	}
	return ep
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newEngine(t *testing.T, b engine.Backend) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Backend: b, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// blockingServer accepts on a loopback TCP port and runs serve, with the
// Server's Upgrade done, on each connection; it stops when the test ends.
func blockingServer(t *testing.T, ls *layer.Server, ep endpoint.Endpoint, serve func(c net.Conn)) endpoint.Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", ep.Transport().Addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				c, err := ls.Upgrade(context.Background(), nc, ep)
				if err != nil {
					return
				}
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ep.WithAddr(ln.Addr())
}

// echo copies c back to itself and half-closes at its end of data.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(interface{ CloseWrite() error }).CloseWrite()
	io.Copy(io.Discard, c) // until the peer closes too
}

// rawPair returns both ends of a fresh loopback TCP connection.
func rawPair() (client, server net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.DialTimeout("tcp", ln.Addr().String(), testTimeout)
	server = <-accepted
	if err != nil || server == nil {
		if client != nil {
			client.Close()
		}
		if server != nil {
			server.Close()
		}
		return nil, nil, errors.Join(err, errors.New("no connection accepted"))
	}
	return client, server, nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
