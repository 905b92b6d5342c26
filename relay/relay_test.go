package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/proxy"
	"github.com/sockit/sockit/relay"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// Streams between any two kinds: 4 MiB each way, intact, with the
// client's half-close carried through to the server and back.
func TestRelayStreams(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"tcp", "unix"}, {"unix", "tcp"}, {"tcp", "tcp6"}, {"unixpacket", "unixpacket"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			t.Parallel()
			to := target(t, pair[1], service.Echo{})
			r, from := start(t, pair[0], to, relay.Options{})
			msg := testkit.Pattern(4<<20, 1)
			if pair[0] == "unixpacket" {
				msg = testkit.Pattern(60000, 1) // one message
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
	t.Parallel()
	to := target(t, "unixpacket", service.Echo{})
	_, from := start(t, "unixpacket", to, relay.Options{})
	c, err := net.Dial("unixpacket", from.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
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

// A reset from the server reaches the client as a reset, not as a clean
// end of data.
func TestRelayPassesResets(t *testing.T) {
	t.Parallel()
	to := target(t, "tcp", testkit.Resetter{})
	_, from := start(t, "tcp", to, relay.Options{})
	c, err := net.Dial("tcp", from.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	c.Write([]byte("x"))
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v, want connection reset", err)
	}
}

// Nothing at the target: the client's connection is reset at once, and
// the failure is counted and reported.
func TestRelayTargetRefused(t *testing.T) {
	t.Parallel()
	dead := endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)}
	reports := make(chan relay.Report, 1)
	r, from := start(t, "tcp", dead, relay.Options{OnConn: func(rep relay.Report) { reports <- rep }})
	c, err := net.Dial("tcp", from.Addr)
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
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
	case <-time.After(testkit.Timeout):
		t.Fatal("no report")
	}
	if st := r.Stats(); st.Failed != 1 {
		t.Errorf("failed %d, want 1", st.Failed)
	}
}

// Datagrams: each client gets the answers to its own datagrams.
func TestRelayDatagrams(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"udp", "udp"}, {"udp", "unixgram"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			t.Parallel()
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
						c.SetReadDeadline(time.Now().Add(testkit.Timeout))
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
	t.Parallel()
	_, err := relay.Listen(context.Background(), relay.Options{
		From: endpoint.MustParse("tcp://127.0.0.1:0"), To: endpoint.Endpoint{Scheme: "udp", Addr: testkit.QuietUDP(t)}})
	if err == nil {
		t.Fatal("tcp → udp accepted")
	}
}

// peerSeen records the client address a handler sees, then echoes.
type peerSeen struct{ peers chan net.Addr }

func (p peerSeen) OnOpen(c engine.Conn) { p.peers <- c.RemoteAddr() }

func (p peerSeen) OnData(c engine.Conn, in []byte) int { c.Write(in); return len(in) }

func (p peerSeen) OnPeerClose(c engine.Conn) { c.CloseWrite() }

func (p peerSeen) OnClose(engine.Conn, error) {}

// With the PROXY protocol, a server behind the relay sees the client's
// own address (here 127.0.0.3), in both versions, and the data after the
// header is the client's.
func TestRelayProxyProtocol(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		peers := make(chan net.Addr, 1)
		var st proxy.Counters
		to := target(t, "tcp", proxy.Accept(peerSeen{peers}, proxy.Options{Counters: &st}))
		_, from := start(t, "tcp", to, relay.Options{ProxyProtocol: v})
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Timeout: testkit.Timeout}
		c, err := d.Dial("tcp", from.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testkit.Timeout))
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
		case <-time.After(testkit.Timeout):
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
	t.Parallel()
	to := target(t, "tcp", service.Echo{})
	o := relay.Options{From: endpoint.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/r"}, To: to}
	wr := serveRelay(t, o)
	nc := testkit.Dial(t, "tcp", wr.Addr().String())
	wc, err := ws.Dial(context.Background(), nc, "/r", ws.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sent []byte
	for i := 0; i < 50; i++ {
		m := testkit.Pattern(1000+i, 1)
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

// A datagram from an unbound Unix datagram socket cannot be answered: it
// is not relayed, the first one is reported, and all are counted.
func TestRelayUnboundSender(t *testing.T) {
	t.Parallel()
	to := target(t, "udp", service.Echo{})
	reports := make(chan relay.Report, 2)
	r, from := start(t, "unixgram", to, relay.Options{OnConn: func(rep relay.Report) { reports <- rep }})
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: from.Addr, Net: "unixgram"}) // no bind: unnamed
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if _, err := c.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
	}
	rep := testkit.Receive(t, reports, "the report")
	if rep.Client != nil || !errors.Is(rep.Err, relay.ErrUnbound) {
		t.Errorf("report %+v, want ErrUnbound without a client", rep)
	}
	testkit.Eventually(t, "3 datagrams counted", func() bool { return r.Stats().Unbound == 3 })
	if st := r.Stats(); st.Conns != 0 || len(reports) != 0 {
		t.Errorf("stats %+v, %d more reports; want no session and one report", st, len(reports))
	}
}
