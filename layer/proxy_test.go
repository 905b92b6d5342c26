package layer_test

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// peerEcho echoes like service.Echo and reports each connection's
// RemoteAddr as its handler sees it.
type peerEcho struct {
	service.Echo
	peers chan net.Addr
}

func (p peerEcho) OnOpen(c engine.Conn) { p.peers <- c.RemoteAddr() }

// With ServerConfig.Proxy, the PROXY header comes first on the socket,
// under TLS and WebSocket, as a load balancer sends it (HAProxy's
// send-proxy): every scheme serves the client the header names.
func TestProxyUnderLayers(t *testing.T) {
	client := netAddr("192.0.2.44:5555")
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, messages := range []ws.MessageHandler{nil, ws.Echo{}} {
			srv := newEngine(t, b)
			ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), Messages: messages, Proxy: &proxy.Options{}})
			h := peerEcho{peers: make(chan net.Addr, len(schemes))}
			preamble := func(_, remote net.Addr) ([]byte, error) { return proxy.Header(2, client, remote) }
			for _, scheme := range schemes {
				ep := endpointFor(scheme)
				addr, err := ls.Listen(srv, ep, h)
				if err != nil {
					t.Fatalf("Listen(%s) = %v", ep, err)
				}
				msg := testkit.Pattern(10<<10, 1)
				got := sendEcho(t, ep.WithAddr(addr), layer.ClientConfig{TLS: testkit.ClientTLS(), Preamble: preamble}, msg)
				if !bytes.Equal(got, msg) {
					t.Errorf("%s (messages %T) behind a PROXY header: %d bytes back, want the %d sent", scheme, messages, len(got), len(msg))
				}
				if messages == nil || !ep.IsWebSocket() {
					if p := <-h.peers; p.String() != client.String() {
						t.Errorf("%s: the handler saw %v, want the header's %v", scheme, p, client)
					}
				}
			}
			if st := ls.Stats(); st.Proxy.Headers != uint64(len(schemes)) || st.Proxy.Rejected != 0 || st.TLS.Handshakes != 2 || st.WebSocket.Upgrades != 2 {
				t.Errorf("Stats = %+v, want %d PROXY headers, 2 TLS handshakes and 2 upgrades", st, len(schemes))
			}
		}
	})
}

// Upgrade, for blocking servers, reads no PROXY header: a Server with one
// refuses to pretend.
func TestProxyNotInUpgrade(t *testing.T) {
	t.Parallel()
	ls := layer.NewServer(layer.ServerConfig{Proxy: &proxy.Options{}})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := ls.Upgrade(testkit.Context(t), b, endpoint.MustParse("tcp://127.0.0.1:1"))
	var oe *sockit.OptionError
	if !errors.As(err, &oe) || oe.Owner != "layer.ServerConfig" || oe.Fields[0] != "Proxy" {
		t.Errorf("Upgrade = %v, want an OptionError for layer.ServerConfig.Proxy", err)
	}
}

func netAddr(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}
