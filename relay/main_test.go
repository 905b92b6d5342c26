package relay_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/relay"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// target runs h on a fresh endpoint of network and returns the endpoint.
func target(t *testing.T, network string, h any) endpoint.Endpoint {
	t.Helper()
	_, ep := testkit.ServeEngine(t, &engine.Config{Loops: 1}, network, h)
	return ep
}

// serveRelay listens with o and serves until the test ends.
func serveRelay(t *testing.T, o relay.Options) *relay.Relay {
	t.Helper()
	r, err := relay.Listen(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, context.Background()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testkit.Timeout):
			t.Error("relay did not stop")
		}
	})
	return r
}

// start runs a relay from a fresh address on network to to.
func start(t *testing.T, network string, to endpoint.Endpoint, o relay.Options) (*relay.Relay, endpoint.Endpoint) {
	t.Helper()
	o.From = endpoint.Endpoint{Scheme: network, Addr: testkit.Loopback(t, network)}
	o.To = to
	r := serveRelay(t, o)
	return r, endpoint.Endpoint{Scheme: network, Addr: r.Addr().String()}
}

// roundTrip sends msg, half-closes, and reads until EOF: the answer can
// only come back if the relay passed the FIN on and kept the other
// direction open.
func roundTrip(t *testing.T, ep endpoint.Endpoint, msg []byte) []byte {
	t.Helper()
	c := testkit.Dial(t, ep.Network(), ep.Addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	// Read with room for a whole message: a seqpacket read drops what
	// does not fit.
	var got []byte
	buf := make([]byte, 128<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	return got
}

// layered is a fresh loopback endpoint of scheme.
func layered(scheme string) endpoint.Endpoint {
	ep := endpoint.Endpoint{Scheme: scheme, Addr: "127.0.0.1:0"}
	if ep.IsWebSocket() {
		ep.Path = "/r"
	}
	return ep
}

// layeredTarget serves h on a fresh endpoint of scheme, with its layers.
func layeredTarget(t *testing.T, scheme string, h engine.Handler) endpoint.Endpoint {
	t.Helper()
	srv := testkit.NewServer(t, &engine.Config{Loops: 1})
	ep := layered(scheme)
	addr, err := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()}).Listen(srv, ep, h)
	if err != nil {
		t.Fatal(err)
	}
	return ep.WithAddr(addr)
}

// startLayered runs a relay from a fresh endpoint of scheme to to, with
// the tests' certificate on both sides.
func startLayered(t *testing.T, scheme string, to endpoint.Endpoint, o relay.Options) endpoint.Endpoint {
	t.Helper()
	o.From, o.To = layered(scheme), to
	o.Listen.TLS = testkit.ServerTLS()
	o.Target.TLS = testkit.ClientTLS()
	return o.From.WithAddr(serveRelay(t, o).Addr())
}

// dialLayered connects to ep through its layers.
func dialLayered(t *testing.T, ep endpoint.Endpoint) *client.Conn {
	t.Helper()
	c, err := layer.Dial(testkit.Context(t), ep, layer.ClientConfig{TLS: testkit.ClientTLS()}, client.Options{ConnectTimeout: testkit.Timeout})
	if err != nil {
		t.Fatalf("Dial(%s) = %v", ep, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
