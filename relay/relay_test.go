package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/leaktest"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/relay"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

const ioLimit = 20 * time.Second

func where(t *testing.T, network string) string {
	switch network {
	case "unix", "unixpacket", "unixgram":
		dir, err := os.MkdirTemp("/tmp", "rl")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return filepath.Join(dir, "s.sock")
	case "tcp6", "udp6":
		return "[::1]:0"
	}
	return "127.0.0.1:0"
}

// target runs h on network and returns its endpoint.
func target(t *testing.T, network string, h any) endpoint.Endpoint {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ep := endpoint.Endpoint{Scheme: network, Addr: where(t, network)}
	var a net.Addr
	if ep.IsPacket() {
		a, err = srv.ListenPacket(ep, h.(engine.PacketHandler))
	} else {
		a, err = srv.Listen(ep, h.(engine.Handler))
	}
	if err != nil {
		t.Fatal(err)
	}
	return endpoint.Endpoint{Scheme: network, Addr: a.String()}
}

// start runs a relay from a fresh address on network to to.
func start(t *testing.T, network string, to endpoint.Endpoint, o relay.Options) (*relay.Relay, endpoint.Endpoint) {
	t.Helper()
	o.From = endpoint.Endpoint{Scheme: network, Addr: where(t, network)}
	o.To = to
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
		case <-time.After(ioLimit):
			t.Error("relay did not stop")
		}
	})
	return r, endpoint.Endpoint{Scheme: network, Addr: r.Addr().String()}
}

// roundTrip sends msg, half-closes, and reads until EOF: the answer can
// only come back if the relay passed the FIN on and kept the other
// direction open.
func roundTrip(t *testing.T, ep endpoint.Endpoint, msg []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout(ep.Network(), ep.Addr, ioLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioLimit))
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

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// Streams between any two kinds: 4 MiB each way, intact, with the
// client's half-close carried through to the server and back.
func TestRelayStreams(t *testing.T) {
	for _, pair := range [][2]string{{"tcp", "unix"}, {"unix", "tcp"}, {"tcp", "tcp6"}, {"unixpacket", "unixpacket"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			to := target(t, pair[1], service.Echo{})
			r, from := start(t, pair[0], to, relay.Options{})
			msg := pattern(4 << 20)
			if pair[0] == "unixpacket" {
				msg = pattern(60000) // one message
			}
			got := roundTrip(t, from, msg)
			if sha256.Sum256(got) != sha256.Sum256(msg) {
				t.Fatalf("echo of %d bytes came back as %d different bytes", len(msg), len(got))
			}
			st := r.Stats()
			if st.Up != uint64(len(msg)) || st.Down != uint64(len(msg)) || st.Conns != 1 {
				t.Errorf("stats %+v, want 1 connection and %d bytes each way", st, len(msg))
			}
		})
	}
}

// unixpacket keeps message boundaries through the relay.
func TestRelayKeepsMessages(t *testing.T) {
	to := target(t, "unixpacket", service.Echo{})
	_, from := start(t, "unixpacket", to, relay.Options{})
	c, err := net.Dial("unixpacket", from.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioLimit))
	for _, m := range []string{"one", "two two", "three three three"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != m {
			t.Fatalf("read %q, %v; want the message %q whole", buf[:n], err, m)
		}
	}
}

// resetter resets each connection at its first byte.
type resetter struct{}

func (resetter) OnOpen(engine.Conn)                  {}
func (resetter) OnData(c engine.Conn, in []byte) int { c.Abort(); return len(in) }
func (resetter) OnPeerClose(c engine.Conn)           { c.Close() }
func (resetter) OnClose(engine.Conn, error)          {}

// A reset from the server reaches the client as a reset, not as a clean
// end of data.
func TestRelayPassesResets(t *testing.T) {
	to := target(t, "tcp", resetter{})
	_, from := start(t, "tcp", to, relay.Options{})
	c, err := net.Dial("tcp", from.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioLimit))
	c.Write([]byte("x"))
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v, want connection reset", err)
	}
}

// Nothing at the target: the client's connection is reset at once, and
// the failure is counted and reported.
func TestRelayTargetRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := endpoint.Endpoint{Scheme: "tcp", Addr: ln.Addr().String()}
	ln.Close()
	reports := make(chan relay.Report, 1)
	r, from := start(t, "tcp", dead, relay.Options{OnConn: func(rep relay.Report) { reports <- rep }})
	c, err := net.Dial("tcp", from.Addr)
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioLimit))
		_, err = io.ReadAll(c)
	}
	// The reset can even beat connect(2)'s return to this goroutine.
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client got %v, want a reset", err)
	}
	select {
	case rep := <-reports:
		if !errors.Is(rep.Err, syscall.ECONNREFUSED) {
			t.Errorf("report error %v, want connection refused", rep.Err)
		}
	case <-time.After(ioLimit):
		t.Fatal("no report")
	}
	if st := r.Stats(); st.Failed != 1 {
		t.Errorf("failed %d, want 1", st.Failed)
	}
}

// Datagrams: each client gets the answers to its own datagrams.
func TestRelayDatagrams(t *testing.T) {
	for _, pair := range [][2]string{{"udp", "udp"}, {"udp", "unixgram"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			to := target(t, pair[1], service.Echo{})
			_, from := start(t, pair[0], to, relay.Options{})
			var wg sync.WaitGroup
			for i := 0; i < 3; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("udp", from.Addr)
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					buf := make([]byte, 2000)
					for k := 0; k < 5; k++ {
						msg := bytes.Repeat([]byte{byte('a' + i)}, 100+k)
						c.Write(msg)
						c.SetReadDeadline(time.Now().Add(ioLimit))
						n, err := c.Read(buf)
						if err != nil || !bytes.Equal(buf[:n], msg) {
							t.Errorf("client %d: got %q, %v", i, buf[:n], err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// A stream cannot be relayed to datagrams.
func TestRelayRefusesStreamToDatagram(t *testing.T) {
	_, err := relay.Listen(context.Background(), relay.Options{
		From: endpoint.MustParse("tcp://127.0.0.1:0"), To: endpoint.MustParse("udp://127.0.0.1:9")})
	if err == nil {
		t.Fatal("tcp → udp accepted")
	}
}

// peerSeen records the client address a handler sees, then echoes.
type peerSeen struct{ peers chan net.Addr }

func (p peerSeen) OnOpen(c engine.Conn)                { p.peers <- c.RemoteAddr() }
func (p peerSeen) OnData(c engine.Conn, in []byte) int { c.Write(in); return len(in) }
func (p peerSeen) OnPeerClose(c engine.Conn)           { c.CloseWrite() }
func (p peerSeen) OnClose(engine.Conn, error)          {}

// With the PROXY protocol, a server behind the relay sees the client's
// own address (here 127.0.0.3), in both versions, and the data after the
// header is the client's.
func TestRelayProxyProtocol(t *testing.T) {
	for _, v := range []int{1, 2} {
		peers := make(chan net.Addr, 1)
		var st proxy.Counters
		to := target(t, "tcp", proxy.Accept(peerSeen{peers}, proxy.Options{Counters: &st}))
		_, from := start(t, "tcp", to, relay.Options{ProxyProtocol: v})
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Timeout: ioLimit}
		c, err := d.Dial("tcp", from.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(ioLimit))
		c.Write([]byte("after the header"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "after the header" {
			t.Errorf("v%d: echo %q, %v", v, got, err)
		}
		select {
		case p := <-peers:
			if p.(*net.TCPAddr).IP.String() != "127.0.0.3" || p.String() != c.LocalAddr().String() {
				t.Errorf("v%d: server saw %v, want the client %v", v, p, c.LocalAddr())
			}
		case <-time.After(ioLimit):
			t.Fatalf("v%d: server never opened the connection", v)
		}
		if got := st.Stats().Headers; got != 1 {
			t.Errorf("v%d: %d headers counted", v, got)
		}
	}
}

// A WebSocket listening side: each message goes to the target as bytes,
// the answer comes back as messages, and the client's close frame works
// as a half-close: the target's answer to everything sent before it still
// arrives, then the relay's close frame (1000).
func TestRelayFromWebSocket(t *testing.T) {
	to := target(t, "tcp", service.Echo{})
	o := relay.Options{From: endpoint.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/r"}, To: to}
	wr, err := relay.Listen(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wr.Serve(ctx, context.Background()) }()
	defer func() {
		cancel()
		<-done
	}()
	nc, err := net.Dial("tcp", wr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(ioLimit))
	wc, err := ws.Dial(context.Background(), nc, "/r", ws.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sent []byte
	for i := 0; i < 50; i++ {
		m := pattern(1000 + i)
		sent = append(sent, m...)
		if err := wc.WriteMessage(ws.OpBinary, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := wc.CloseWrite(ws.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		_, data, err := wc.ReadMessage()
		if err != nil {
			var ce *ws.CloseError
			if !errors.As(err, &ce) || ce.Code != ws.CloseNormal {
				t.Fatalf("read: %v, want the relay's close frame 1000", err)
			}
			break
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, sent) {
		t.Errorf("got %d bytes back, sent %d: the answer after the close frame was lost or changed", len(got), len(sent))
	}
}
