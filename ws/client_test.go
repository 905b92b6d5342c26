package ws_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// sender is a client MessageHandler: it sends msgs on open, collects the
// echoes, and closes with CloseNormal once all have come back.
type sender struct {
	msgs   [][]byte
	mu     sync.Mutex
	got    [][]byte
	opened chan struct{}
	closes chan closeEvent
}

func newSender(msgs ...[]byte) *sender {
	return &sender{msgs: msgs, opened: make(chan struct{}, 1), closes: make(chan closeEvent, 1)}
}

func (s *sender) OnOpen(c *ws.Conn) {
	s.opened <- struct{}{}
	for i, m := range s.msgs {
		op := ws.OpText
		if i%2 == 1 {
			op = ws.OpBinary
		}
		if err := c.WriteMessage(op, m); err != nil {
			c.Close(ws.CloseInternalError, err.Error())
		}
	}
	if len(s.msgs) == 0 {
		c.Close(ws.CloseNormal, "nothing to say")
	}
}

func (s *sender) OnMessage(c *ws.Conn, _ ws.Opcode, data []byte) {
	s.mu.Lock()
	s.got = append(s.got, bytes.Clone(data))
	done := len(s.got) == len(s.msgs)
	s.mu.Unlock()
	if done {
		c.Close(ws.CloseNormal, "done")
	}
}

func (s *sender) OnClose(_ *ws.Conn, code ws.CloseCode, reason string, err error) {
	s.closes <- closeEvent{code, reason, err}
}

func (s *sender) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// The engine-side client, dialed by engine.Server.Dial, talks to the
// server through a whole session: handshake, messages of every size,
// closing handshake.
func TestEngineClient(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{Path: "/echo", Subprotocols: []string{"echo.v1"}})
		msgs := [][]byte{[]byte("one"), testkit.Pattern(1000, 1), []byte("three ✓"), testkit.Pattern(200<<10, 2), nil, {}}
		s := newSender(msgs...)
		cl := ws.NewClient(s, ws.ClientOptions{Path: "/echo", Subprotocols: []string{"x", "echo.v1"}})
		srv := newEngine(t, b)
		if err := srv.Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, cl, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatalf("Dial: %v", err)
		}
		ev := testkit.Receive(t, s.closes, "the client's OnClose")
		if ev.code != ws.CloseNormal || ev.err != nil {
			t.Errorf("OnClose(%v, %q, %v), want (1000, nil)", ev.code, ev.reason, ev.err)
		}
		got := s.received()
		if len(got) != len(msgs) {
			t.Fatalf("%d echoes, want %d", len(got), len(msgs))
		}
		for i := range msgs {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Errorf("echo %d: %d bytes, want %d", i, len(got[i]), len(msgs[i]))
			}
		}
		cst, sst := cl.Stats(), wsrv.Stats()
		if cst.Upgrades != 1 || cst.MessagesOut != uint64(len(msgs)) || cst.MessagesIn != uint64(len(msgs)) || cst.Closes != 1 {
			t.Errorf("client Stats = %+v", cst)
		}
		if sst.Upgrades != 1 || sst.MessagesIn != uint64(len(msgs)) || sst.Closes != 1 {
			t.Errorf("server Stats = %+v", sst)
		}
	})
}

// Many engine-side clients at once, on one engine, each with its session.
func TestEngineClientMany(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		srv := newEngine(t, b)
		const n = 50
		var senders []*sender
		for i := range n {
			s := newSender([]byte(fmt.Sprint("client ", i)), testkit.Pattern(i*100, uint64(i)))
			senders = append(senders, s)
			if err := srv.Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, ws.NewClient(s, ws.ClientOptions{}), engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatalf("Dial: %v", err)
			}
		}
		for i, s := range senders {
			if ev := testkit.Receive(t, s.closes, "OnClose"); ev.code != ws.CloseNormal || ev.err != nil || len(s.received()) != 2 {
				t.Errorf("client %d: OnClose(%v, %v) after %d echoes", i, ev.code, ev.err, len(s.received()))
			}
		}
	})
}

// fakeServer accepts one connection, answers its upgrade with accept
// (computed from the key if ""), then writes extra and reports what the
// client sent next.
func fakeServer(t *testing.T, accept string, extra []byte) (addr string, rest <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan []byte, 1)
	go func() {
		defer close(out)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if accept == "" {
			sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			accept = base64.StdEncoding.EncodeToString(sum[:])
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept)
		c.Write(extra)
		var got bytes.Buffer
		got.ReadFrom(br)
		out <- got.Bytes()
	}()
	return ln.Addr().String(), out
}

// unmaskClose decodes a masked close frame from a client.
func unmaskClose(t *testing.T, p []byte) ws.CloseCode {
	t.Helper()
	if len(p) < 8 || p[0] != fin|opClose || p[1]&0x80 == 0 {
		t.Fatalf("client sent % x, want a masked close frame", p[:min(len(p), 16)])
	}
	key := p[2:6]
	return ws.CloseCode(uint16(p[6]^key[0])<<8 | uint16(p[7]^key[1]))
}

// The client fails a connection whose server masks its frames (1002), and
// refuses a handshake with a wrong accept key, without OnOpen.
func TestEngineClientRejects(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		t.Run("masked-server-frame", func(t *testing.T) {
			addr, rest := fakeServer(t, "", frame(fin|opText, true, []byte("masked")))
			s := newSender([]byte("x"))
			cl := ws.NewClient(s, ws.ClientOptions{})
			if err := newEngine(t, b).Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, cl, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatal(err)
			}
			ev := testkit.Receive(t, s.closes, "OnClose")
			var perr *ws.ProtocolError
			if ev.code != ws.CloseProtocolError || !errors.As(ev.err, &perr) {
				t.Errorf("OnClose(%v, %v), want (1002, a *ProtocolError)", ev.code, ev.err)
			}
			sent := testkit.Receive(t, rest, "the fake server's report")
			// The client's message frame (2 header bytes, a 4-byte mask
			// key, "x"), then its close frame. (Searching for the close
			// frame's first byte would find it in a random mask key.)
			if len(sent) < 7 || sent[0] != fin|opText || unmaskClose(t, sent[7:]) != ws.CloseProtocolError {
				t.Errorf("client sent % x, want a close frame with 1002 after its message", sent)
			}
			if n := cl.Stats().ProtocolErrors[ws.CloseProtocolError]; n != 1 {
				t.Errorf("Stats.ProtocolErrors[1002] = %d, want 1", n)
			}
		})
		t.Run("bad-accept", func(t *testing.T) {
			addr, _ := fakeServer(t, "bm90IHRoZSByaWdodCBrZXk=", nil)
			s := newSender()
			cl := ws.NewClient(s, ws.ClientOptions{})
			if err := newEngine(t, b).Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, cl, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatal(err)
			}
			ev := testkit.Receive(t, s.closes, "OnClose")
			var herr *ws.HandshakeError
			if ev.code != ws.CloseAbnormal || !errors.As(ev.err, &herr) {
				t.Errorf("OnClose(%v, %v), want (1006, a *HandshakeError)", ev.code, ev.err)
			}
			select {
			case <-s.opened:
				t.Error("OnOpen after a bad handshake")
			default:
			}
			if st := cl.Stats(); st.Rejected != 1 || st.Upgrades != 0 {
				t.Errorf("Stats rejected/upgrades = %d/%d, want 1/0", st.Rejected, st.Upgrades)
			}
		})
		t.Run("refused", func(t *testing.T) {
			addr := testkit.Refused(t)
			s := newSender()
			if err := newEngine(t, b).Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, ws.NewClient(s, ws.ClientOptions{}), engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
				t.Fatal(err)
			}
			if ev := testkit.Receive(t, s.closes, "OnClose"); ev.code != ws.CloseAbnormal || sockit.KindOf(ev.err) != sockit.KindRefused {
				t.Errorf("OnClose(%v, %v), want (1006, a refused connect)", ev.code, ev.err)
			}
		})
	})
}
