package layer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// sendEcho dials ep with layer.Dial, sends msg, half-closes and returns
// what comes back until the server's end of data.
func sendEcho(t *testing.T, ep endpoint.Endpoint, cfg layer.ClientConfig, msg []byte) []byte {
	t.Helper()
	c, err := layer.Dial(testkit.Context(t), ep, cfg, client.Options{ConnectTimeout: testkit.Timeout})
	if err != nil {
		t.Fatalf("Dial(%s) = %v", ep, err)
	}
	defer c.Close()
	if c.Endpoint() != ep {
		t.Errorf("Endpoint() = %v, want %v", c.Endpoint(), ep)
	}
	var out bytes.Buffer
	if err := client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil {
		t.Fatalf("Send over %s = %v", ep, err)
	}
	return out.Bytes()
}

// Every scheme, served on the engine and dialed with the blocking client:
// a stream handler (service.Echo) over each, and WebSocket's whole
// messages (ws.Echo) instead.
func TestEngineServe(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		for _, messages := range []ws.MessageHandler{nil, ws.Echo{}} {
			srv := newEngine(t, b)
			ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), Messages: messages})
			for _, scheme := range schemes {
				ep := endpointFor(scheme)
				addr, err := ls.Listen(srv, ep, service.Echo{})
				if err != nil {
					t.Fatalf("Listen(%s) = %v", ep, err)
				}
				msg := testkit.Pattern(200<<10, 1)
				if got := sendEcho(t, ep.WithAddr(addr), layer.ClientConfig{TLS: testkit.ClientTLS()}, msg); !bytes.Equal(got, msg) {
					t.Errorf("%s (messages %T): %d bytes back, want the %d sent", scheme, messages, len(got), len(msg))
				}
			}
			st := ls.Stats()
			if st.TLS.Handshakes != 2 || st.TLS.Failed != 0 || st.WebSocket.Upgrades != 2 || st.WebSocket.MessagesIn != 2 {
				t.Errorf("Stats = %+v, want 2 TLS handshakes and 2 upgrades with a message each", st)
			}
		}
	})
}

// Every scheme dialed on the engine, against a blocking server that
// upgrades each socket it accepts.
func TestEngineDial(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newEngine(t, b)
		ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
		for _, scheme := range schemes {
			ep := blockingServer(t, ls, endpointFor(scheme), testkit.Echo)
			sc := testkit.NewSender(testkit.Pattern(100<<10, 1))
			cfg := layer.ClientConfig{TLS: testkit.ClientTLS()}
			if err := cfg.Dial(srv, ep, sc, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatalf("Dial(%s) = %v", ep, err)
			}
			if err := testkit.Receive(t, sc.Done(), scheme+" OnClose"); err != nil {
				t.Errorf("%s: OnClose(%v), want a clean close", scheme, err)
			}
			if got := sc.Reply(); !bytes.Equal(got, sc.Msg) {
				t.Errorf("%s: %d bytes back, want the %d sent", scheme, len(got), len(sc.Msg))
			}
		}
	})
}

// Every scheme between the blocking client and a blocking server: the
// half-close of each stack carries the answer back.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
	for _, scheme := range schemes {
		ep := blockingServer(t, ls, endpointFor(scheme), testkit.Echo)
		msg := testkit.Pattern(300<<10, 1)
		if got := sendEcho(t, ep, layer.ClientConfig{TLS: testkit.ClientTLS()}, msg); !bytes.Equal(got, msg) {
			t.Errorf("%s: %d bytes back, want the %d sent", scheme, len(got), len(msg))
		}
	}
	if st := ls.Stats(); st.TLS.Handshakes != 2 || st.WebSocket.Upgrades != 2 {
		t.Errorf("Stats = %+v, want 2 TLS handshakes and 2 upgrades", st)
	}
}

// The conns Dial and Upgrade hand out pass nettest's conformance suite,
// each side in turn the one under test: TLS and WebSocket over TCP and
// over TLS.
func TestConformance(t *testing.T) {
	t.Parallel()
	// A WebSocket Close waits for the peer's close frame: long enough for
	// nettest's megabyte to drain first under -race, short enough for the
	// Close its CloseTimeout test leaves unanswered.
	short := func(endpoint.Endpoint) ws.ServerOptions { return ws.ServerOptions{CloseTimeout: 5 * time.Second} }
	ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), WebSocket: short})
	cfg := layer.ClientConfig{TLS: testkit.ClientTLS(), WebSocket: ws.ClientOptions{CloseTimeout: 5 * time.Second}}
	for _, scheme := range []string{"tls", "ws", "wss"} {
		for _, dialed := range []bool{true, false} {
			name := scheme + "/dialed"
			if !dialed {
				name = scheme + "/accepted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
					c1, c2, err = upgradedPair(ls, cfg, scheme)
					if err != nil {
						return nil, nil, nil, err
					}
					if !dialed {
						c1, c2 = c2, c1
					}
					return c1, c2, func() { testkit.CloseBoth(c1, c2) }, nil
				})
			})
		}
	}
}

// upgradedPair connects layer.Dial to a socket that Upgrade takes over.
func upgradedPair(ls *layer.Server, cfg layer.ClientConfig, scheme string) (dialed, accepted net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	ep := endpointFor(scheme).WithAddr(ln.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	type result struct {
		c   net.Conn
		raw net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		c, err := ls.Upgrade(ctx, nc, ep)
		done <- result{c: c, raw: nc, err: err}
	}()
	c, err := layer.Dial(ctx, ep, cfg, client.Options{})
	r := <-done
	if err = errors.Join(err, r.err); err != nil {
		if c != nil {
			c.Close()
		}
		if r.raw != nil {
			r.raw.Close()
		}
		return nil, nil, err
	}
	return c, r.c, nil
}

// A server without a certificate refuses tls:// and wss:// with a named
// error, everywhere: never plaintext in their place.
func TestNoCertificate(t *testing.T) {
	t.Parallel()
	srv := newEngine(t, engine.DefaultBackend)
	for _, cfg := range []*tls.Config{nil, {MinVersion: tls.VersionTLS12}} {
		ls := layer.NewServer(layer.ServerConfig{TLS: cfg})
		for _, scheme := range schemes {
			ep := endpointFor(scheme)
			want := ep.IsTLS()
			check := func(what string, err error) {
				t.Helper()
				var se *sockit.Error
				switch {
				case !want && err != nil:
					t.Errorf("%s %s without a certificate = %v, want it served", what, scheme, err)
				case want && (!errors.Is(err, layer.ErrNoCertificate) || !errors.As(err, &se) || se.Net != scheme):
					t.Errorf("%s %s without a certificate = %v, want a *sockit.Error holding ErrNoCertificate", what, scheme, err)
				}
			}
			check("Check", ls.Check(ep))
			_, err := ls.Handler(ep, service.Echo{})
			check("Handler", err)
			addr, err := ls.Listen(srv, ep, service.Echo{})
			check("Listen", err)
			if want && addr != nil {
				t.Errorf("Listen %s without a certificate bound %v", scheme, addr)
			}
			nc, peer, err := testkit.Pipe("tcp")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			c, err := ls.Upgrade(ctx, nc, ep)
			cancel()
			if ep.IsLayered() && !want {
				err = nil // ws: the upgrade request never came; only the refusal matters here
			}
			check("Upgrade", err)
			if c != nil && c != nc {
				c.Close()
			}
			nc.Close()
			peer.Close()
		}
	}
}

// A server that accepts and never answers: the handshakes give up at the
// bound with a timeout error, not a hang; so does Upgrade with a client
// that sends half a handshake.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	silent := testkit.Serve(t, testkit.Hold) // accepts and never answers
	for _, tt := range []struct {
		scheme, op, what string
	}{
		{scheme: "tls", op: "tls", what: "no TLS handshake within 200ms"},
		{scheme: "wss", op: "tls", what: "no TLS handshake within 200ms"},
		{scheme: "ws", op: "websocket", what: "no answer to the WebSocket upgrade request within 200ms"},
	} {
		ep := endpointFor(tt.scheme).WithAddr(silent)
		start := time.Now()
		c, err := layer.Dial(testkit.Context(t), ep, layer.ClientConfig{TLS: testkit.ClientTLS()}, client.Options{ConnectTimeout: 200 * time.Millisecond})
		if c != nil {
			c.Close()
		}
		var se *sockit.Error
		var te *layer.TimeoutError
		if !errors.As(err, &se) || se.Op != tt.op || se.Addr != ep.Addr || !errors.As(err, &te) || sockit.KindOf(err) != sockit.KindTimeout || !strings.HasSuffix(err.Error(), ": "+tt.what) {
			t.Errorf("Dial(%s) a silent server = %v, want a %s timeout %q", ep, err, tt.op, tt.what)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial(%s) took %v to give up", ep, d)
		}
	}

	ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), HandshakeTimeout: 200 * time.Millisecond})
	for _, tt := range []struct {
		scheme, half string
	}{
		{scheme: "tls", half: "\x16\x03\x01\x00\xff"}, // a record header, then nothing
		{scheme: "ws", half: "GET /stream HTTP/1.1\r\nHost: x\r\n"},
	} {
		nc, peer, err := testkit.Pipe("tcp")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(peer, tt.half)
		_, err = ls.Upgrade(testkit.Context(t), nc, endpointFor(tt.scheme))
		var te *layer.TimeoutError
		if !errors.As(err, &te) || sockit.KindOf(err) != sockit.KindTimeout {
			t.Errorf("Upgrade(%s) of half a handshake = %v, want a timeout", tt.scheme, err)
		}
		nc.Close()
		peer.Close()
	}
	if st := ls.Stats(); st.TLS.Timeout != 1 {
		t.Errorf("Stats = %+v, want the TLS handshake counted as timed out", st)
	}
}

// The narration is of the socket: the bytes it writes are TLS records and
// WebSocket frames, more than the message; the handshakes are told.
func TestNarration(t *testing.T) {
	t.Parallel()
	ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
	msg := []byte("a message of forty bytes, said in clear\n")
	for _, scheme := range []string{"tls", "ws", "wss"} {
		ep := blockingServer(t, ls, endpointFor(scheme), testkit.Echo)
		rec := &testkit.Recorder{}
		c, err := layer.Dial(testkit.Context(t), ep, layer.ClientConfig{TLS: testkit.ClientTLS()}, client.Options{Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Timeout: testkit.Timeout})
		c.Close()
		if err != nil || !bytes.Equal(out.Bytes(), msg) {
			t.Fatalf("%s: Send = %v, %q", scheme, err, out.Bytes())
		}
		var written int
		var told []string
		closes := 0
		for _, e := range rec.Events() {
			switch e.Step {
			case sockit.StepWrite:
				written += e.N
			case sockit.StepHandshake:
				told = append(told, e.Detail)
			case sockit.StepClose:
				closes++
			}
		}
		if written <= len(msg) {
			t.Errorf("%s: %d bytes written narrated, want the socket's, more than the %d of the message", scheme, written, len(msg))
		}
		want := []string{}
		if ep.IsTLS() {
			want = append(want, "TLS handshake done: TLS 1.3")
		}
		if ep.IsWebSocket() {
			want = append(want, "WebSocket upgrade: GET /stream → 101 Switching Protocols")
		}
		if len(told) != len(want) {
			t.Errorf("%s: handshakes told %q, want %q", scheme, told, want)
		} else {
			for i := range want {
				if !strings.HasPrefix(told[i], want[i]) {
					t.Errorf("%s: handshake %d told %q, want %q", scheme, i, told[i], want[i])
				}
			}
		}
		if closes != 1 {
			t.Errorf("%s: %d closes narrated, want 1", scheme, closes)
		}
	}
}

// The preamble goes on the socket before any layer: here a line the
// server reads before its TLS handshake.
func TestPreamble(t *testing.T) {
	t.Parallel()
	ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep := endpointFor("tls").WithAddr(ln.Addr())
	lines := make(chan string, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testkit.Timeout))
		br := bufio.NewReader(nc)
		line, _ := br.ReadString('\n')
		lines <- line
		c, err := ls.Upgrade(context.Background(), testkit.BufferedConn{Conn: nc, R: br}, ep)
		if err == nil {
			testkit.Echo(c)
			c.Close()
		}
	}()
	cfg := layer.ClientConfig{TLS: testkit.ClientTLS(), Preamble: func(local, remote net.Addr) ([]byte, error) {
		return []byte("HELLO " + local.String() + " " + remote.String() + "\n"), nil
	}}
	c, err := layer.Dial(testkit.Context(t), ep, cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = client.Send(testkit.Context(t), c, []byte("after it"), &out, client.SendOptions{Timeout: testkit.Timeout})
	if want := "HELLO " + c.LocalAddr().String() + " " + c.RemoteAddr().String() + "\n"; <-lines != want {
		t.Errorf("the server read a different preamble, want %q", want)
	}
	c.Close()
	if err != nil || out.String() != "after it" {
		t.Errorf("Send after the preamble = %v, %q", err, out.String())
	}
}

// The packages under layer open sockets only: given a layered endpoint,
// they refuse it with endpoint.ErrLayered, never speak plaintext in its
// place.
func TestLowerPackagesRefuse(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newEngine(t, b)
		for _, scheme := range []string{"tls", "ws", "wss", "http", "https"} {
			ep := endpointFor(scheme)
			refused := func(what, op string, err error) {
				t.Helper()
				var se *sockit.Error
				if !errors.Is(err, endpoint.ErrLayered) || !errors.As(err, &se) || se.Op != op || se.Net != scheme || se.Addr != ep.Addr {
					t.Errorf("%s(%s) = %v, want a *sockit.Error {%s %s %s} holding endpoint.ErrLayered", what, ep, err, op, scheme, ep.Addr)
				}
			}
			addr, err := srv.Listen(ep, service.Echo{})
			refused("engine Listen", "listen", err)
			if addr != nil {
				t.Errorf("engine Listen(%s) bound %v", ep, addr)
			}
			_, err = srv.ListenPacket(ep, service.Echo{})
			refused("engine ListenPacket", "listen", err)
			refused("engine Dial", "connect", srv.Dial(ep, service.Echo{}, engine.DialOptions{}))
			c, err := client.Dial(testkit.Context(t), ep, client.Options{})
			refused("client.Dial", "connect", err)
			if c != nil {
				c.Close()
			}
		}
		if st := srv.Stats(); st.Accepted != 0 || st.Active != 0 {
			t.Errorf("engine Stats %+v after refusals, want nothing", st)
		}
	})
}

// A layered endpoint dialed where the server speaks something else: its
// error says what the server sent, on the blocking client and on the
// engine alike, instead of the protocol parser's own words. (ForBackends
// makes it parallel.)
func TestOtherProtocol(t *testing.T) {
	echo := testkit.Serve(t, testkit.Echo)
	banner := testkit.Serve(t, func(c net.Conn) {
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1\r\n")
		io.Copy(io.Discard, c) // until the client gives up: its FIN
		c.Close()
	})
	tests := []struct {
		scheme string
		server net.Addr
		want   string
	}{
		{scheme: "tls", server: echo, want: "the server sent back what we sent, a TLS ClientHello (an echo service?): is it a TLS endpoint?"},
		{scheme: "wss", server: echo, want: "the server sent back what we sent, a TLS ClientHello (an echo service?): is it a TLS endpoint?"},
		{scheme: "ws", server: echo, want: `the server sent back what we sent, an HTTP request ("GET /stream HTTP/1.1") (an echo service?): is it a WebSocket endpoint?`},
		{scheme: "tls", server: banner, want: `the server answered with plain text ("SSH-2.0-OpenSSH_9.2p1"), not TLS: is it a TLS endpoint?`},
		{scheme: "ws", server: banner, want: `the server answered with plain text ("SSH-2.0-OpenSSH_9.2p1"), not an HTTP response: is it a WebSocket endpoint?`},
	}
	cfg := layer.ClientConfig{TLS: testkit.ClientTLS()}
	t.Run("blocking", func(t *testing.T) {
		t.Parallel()
		for _, tt := range tests {
			ep := endpointFor(tt.scheme).WithAddr(tt.server)
			c, err := layer.Dial(testkit.Context(t), ep, cfg, client.Options{ConnectTimeout: testkit.Timeout})
			if err == nil {
				c.Close()
			}
			if err == nil || !strings.HasSuffix(err.Error(), ": "+tt.want) {
				t.Errorf("Dial(%s) = %v, want an error ending %q", ep, err, tt.want)
			}
		}
	})
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newEngine(t, b)
		for _, tt := range tests {
			ep := endpointFor(tt.scheme).WithAddr(tt.server)
			sc := testkit.NewSender([]byte("hello"))
			if err := cfg.Dial(srv, ep, sc, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatalf("Dial(%s) = %v", ep, err)
			}
			err := testkit.Receive(t, sc.Done(), tt.scheme+" OnClose")
			if err == nil || !strings.HasSuffix(err.Error(), ": "+tt.want) || sc.Opened() {
				t.Errorf("engine Dial(%s): OnClose(%v), opened %v; want an error ending %q, never opened", ep, err, sc.Opened(), tt.want)
			}
		}
	})
}
