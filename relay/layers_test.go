package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/relay"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// Layered sides of every kind, both ways: a MiB each way, intact, with
// the client's end of data carried through to the server and back.
func TestRelayLayers(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"tls", "tcp"}, {"tcp", "ws"}, {"ws", "tcp"}, {"tls", "wss"}, {"wss", "tls"}, {"ws", "ws"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			t.Parallel()
			to := layeredTarget(t, pair[1], service.Echo{})
			reports := make(chan relay.Report, 1)
			from := startLayered(t, pair[0], to, relay.Options{OnConn: func(rep relay.Report) { reports <- rep }})
			c := dialLayered(t, from)
			msg := testkit.Pattern(1<<20, 1)
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			if err := client.Send(ctx, c, msg, &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatalf("Send = %v", err)
			}
			if !bytes.Equal(out.Bytes(), msg) {
				t.Errorf("got %d bytes back, want the %d sent", out.Len(), len(msg))
			}
			c.Close()
			select {
			case rep := <-reports:
				if rep.Err != nil || rep.Up != int64(len(msg)) || rep.Down != int64(len(msg)) {
					t.Errorf("report %+v, want %d bytes each way and no error", rep, len(msg))
				}
			case <-time.After(testkit.Timeout):
				t.Fatal("no report")
			}
		})
	}
}

// Listening on tls:// or wss:// needs a certificate: without one, Listen
// refuses, rather than serve plaintext.
func TestRelayNoCertificate(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"tls", "wss"} {
		r, err := relay.Listen(context.Background(), relay.Options{From: layered(scheme), To: endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)}})
		if !errors.Is(err, layer.ErrNoCertificate) {
			t.Errorf("Listen(%s) without a certificate = %v, want layer.ErrNoCertificate", scheme, err)
		}
		if r != nil {
			r.Close()
		}
	}
}

// readClose reads a WebSocket client until the relay's close frame.
func readClose(t *testing.T, c *ws.BlockingConn) *ws.CloseError {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func dialWS(t *testing.T, ep endpoint.Endpoint) *ws.BlockingConn {
	t.Helper()
	c, err := ws.Dial(testkit.Context(t), testkit.Dial(t, "tcp", ep.Addr), ep.Path, ws.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A WebSocket client learns why its target is gone: 1011 when it cannot
// be reached, 1001 when it fails.
func TestRelayWebSocketTargetErrors(t *testing.T) {
	t.Parallel()
	dead := endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)}
	c := dialWS(t, startLayered(t, "ws", dead, relay.Options{}))
	if ce := readClose(t, c); ce.Code != ws.CloseInternalError || ce.Reason != "the relay's target is unreachable" {
		t.Errorf("target unreachable: close %v %q, want 1011", ce.Code, ce.Reason)
	}
	c.Close(ws.CloseNormal, "")

	c = dialWS(t, startLayered(t, "ws", target(t, "tcp", testkit.Resetter{}), relay.Options{}))
	c.WriteMessage(ws.OpBinary, []byte("x"))
	if ce := readClose(t, c); ce.Code != ws.CloseGoingAway || ce.Reason != "the target failed" {
		t.Errorf("target reset: close %v %q, want 1001", ce.Code, ce.Reason)
	}
	c.Close(ws.CloseNormal, "")
}

// The PROXY protocol header goes on the target's socket before TLS, as a
// TLS server that takes one expects it.
func TestRelayProxyProtocolBeforeTLS(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep := layered("tls").WithAddr(ln.Addr())
	peers := make(chan net.Addr, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testkit.Timeout))
		br := bufio.NewReader(nc)
		h, err := proxyproto.Read(br)
		if err != nil {
			t.Errorf("the target read no PROXY header first: %v", err)
			return
		}
		peers <- h.SourceAddr
		c, err := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()}).Upgrade(context.Background(), testkit.BufferedConn{Conn: nc, R: br}, ep)
		if err != nil {
			t.Errorf("TLS after the header: %v", err)
			return
		}
		io.Copy(c, c)
		c.(interface{ CloseWrite() error }).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
	}()
	from := startLayered(t, "tcp", ep, relay.Options{ProxyProtocol: 2})
	c := dialLayered(t, from)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := client.Send(ctx, c, []byte("through"), &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil || out.String() != "through" {
		t.Errorf("Send = %v, %q", err, out.String())
	}
	select {
	case p := <-peers:
		if p.String() != c.LocalAddr().String() {
			t.Errorf("the target saw %v, want the client %v", p, c.LocalAddr())
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("the target never read the header")
	}
	c.Close()
	<-served
}
