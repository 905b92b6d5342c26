package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// blockingPair upgrades a fresh TCP connection with Dial on one end and
// Accept on the other.
func blockingPair(t *testing.T, copts ws.ClientOptions, sopts ws.ServerOptions) (client, server *ws.BlockingConn) {
	t.Helper()
	nc, ns := testkit.TCPPair(t)
	client, server, err := upgradePair(nc, ns, copts, sopts)
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// upgradePair runs Dial on nc and Accept on ns at once.
func upgradePair(nc, ns net.Conn, copts ws.ClientOptions, sopts ws.ServerOptions) (client, server *ws.BlockingConn, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	var serr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		server, serr = ws.Accept(ctx, ns, sopts)
	}()
	client, err = ws.Dial(ctx, nc, "/ws?room=1", copts)
	wg.Wait()
	if err = errors.Join(err, serr); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// The blocking server side: the handshake's choices, and messages both
// ways.
func TestAccept(t *testing.T) {
	t.Parallel()
	var st ws.Counters
	client, server := blockingPair(t, ws.ClientOptions{Subprotocols: []string{"x", "chat"}},
		ws.ServerOptions{Path: "/ws", Subprotocols: []string{"chat"}, Counters: &st})
	if client.Subprotocol() != "chat" || server.Subprotocol() != "chat" {
		t.Errorf("subprotocols %q and %q, want chat on both sides", client.Subprotocol(), server.Subprotocol())
	}
	if r := server.Request(); r == nil || r.Path != "/ws" || r.RawQuery != "room=1" || r.RemoteAddr == nil {
		t.Errorf("server Request() = %+v, want /ws?room=1 with the client's address", r)
	}
	if client.Request() != nil {
		t.Errorf("client Request() = %+v, want nil", client.Request())
	}
	for i, m := range [][]byte{[]byte("hello"), testkit.Pattern(100<<10, 3), nil} {
		if err := client.WriteMessage(ws.OpBinary, m); err != nil {
			t.Fatal(err)
		}
		op, got, err := server.ReadMessage()
		if err != nil || op != ws.OpBinary || !bytes.Equal(got, m) {
			t.Fatalf("message %d: server read %v, %d bytes, %v", i, op, len(got), err)
		}
		if err := server.WriteMessage(ws.OpText, []byte("back")); err != nil {
			t.Fatal(err)
		}
		if op, got, err := client.ReadMessage(); err != nil || op != ws.OpText || string(got) != "back" {
			t.Fatalf("message %d: client read %v, %q, %v", i, op, got, err)
		}
	}
	// The client closes; the server's ReadMessage answers, and the client's
	// Close waits for the server to close TCP first.
	done := make(chan error, 1)
	go func() { done <- client.Close(ws.CloseNormal, "bye") }()
	_, _, err := server.ReadMessage()
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseNormal || ce.Reason != "bye" {
		t.Fatalf("server read %v, want the client's close frame", err)
	}
	if err := server.Close(ws.CloseNormal, ""); err != nil {
		t.Errorf("server Close = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("client Close = %v", err)
	}
	if s := st.Stats(); s.Upgrades != 1 || s.MessagesIn != 3 || s.MessagesOut != 3 || s.Closes != 1 {
		t.Errorf("server counters %+v, want 1 upgrade, 3 messages each way, 1 close", s)
	}
}

// Accept refuses what NewServer refuses, answers a plain GET with the
// page of ServerOptions.HTTP, and gives up when its context ends.
func TestAcceptRefuses(t *testing.T) {
	t.Parallel()
	opts := ws.ServerOptions{Path: "/ws", HTTP: func(r *ws.Request) (int, string, []byte) {
		if r.Path == "/" {
			return 200, "text/plain", []byte("a page")
		}
		return 0, "", nil
	}}
	accept := func(t *testing.T, ctx context.Context, request string) (string, error) {
		nc, ns := testkit.TCPPair(t)
		if request != "" {
			io.WriteString(nc, request)
		}
		_, err := ws.Accept(ctx, ns, opts)
		ns.Close()
		answer, _ := io.ReadAll(nc)
		return string(answer), err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()

	answer, err := accept(t, ctx, upgradeRequest("/nope"))
	var herr *ws.HandshakeError
	if !errors.As(err, &herr) || herr.Status != 404 || !strings.HasPrefix(answer, "HTTP/1.1 404 ") {
		t.Errorf("upgrade on another path: %v, answered %.30q; want a 404", err, answer)
	}
	answer, err = accept(t, ctx, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !errors.Is(err, ws.ErrPlainHTTP) || !strings.HasPrefix(answer, "HTTP/1.1 200 ") || !strings.HasSuffix(answer, "a page") {
		t.Errorf("plain GET: %v, answered %q; want ErrPlainHTTP and the page", err, answer)
	}
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if _, err := accept(t, short, "GET /ws HTTP/1.1\r\n"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("half a request, then silence: %v, want context.DeadlineExceeded", err)
	}
}

// Accept keeps frames that came with the request.
func TestAcceptPipelined(t *testing.T) {
	t.Parallel()
	nc, ns := testkit.TCPPair(t)
	io.WriteString(nc, upgradeRequest("/")+string(frame(fin|opText, true, []byte("early"))))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	server, err := ws.Accept(ctx, ns, ws.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if op, got, err := server.ReadMessage(); err != nil || op != ws.OpText || string(got) != "early" {
		t.Errorf("ReadMessage = %v, %q, %v; want the frame sent with the request", op, got, err)
	}
}

// A ping is answered while the blocking server reads.
func TestBlockingPong(t *testing.T) {
	t.Parallel()
	nc, ns := testkit.TCPPair(t)
	rc := &rawClient{t: t, c: nc}
	io.WriteString(nc, upgradeRequest("/"))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	server, err := ws.Accept(ctx, ns, ws.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.br = bufio.NewReader(nc)
	if resp, err := http.ReadResponse(rc.br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("the upgrade's answer: %v, %v; want 101", resp, err)
	}
	go server.ReadMessage() // answers the ping; ends when the test closes the conns
	rc.send(fin|opPing, []byte("are you there"))
	rc.expect(fin|opPong, []byte("are you there"))
}

// The blocking client: handshake, messages, ping, and a clean close.
func TestDial(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		rec := newRecorder()
		rec.onMessage = func(c *ws.Conn, op ws.Opcode, data []byte) {
			if string(data) == "close me" {
				c.Close(4000, "as you wish")
				return
			}
			c.WriteMessage(op, data)
		}
		_, addr := serve(t, b, rec, ws.ServerOptions{Path: "/ws", Subprotocols: []string{"chat"}})
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()

		t.Run("echo", func(t *testing.T) {
			nc := dialTCP(t, addr)
			c, err := ws.Dial(ctx, nc, "ws://"+addr+"/ws?x=1", ws.ClientOptions{Subprotocols: []string{"chat"}})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if c.Subprotocol() != "chat" {
				t.Errorf("Subprotocol %q, want chat", c.Subprotocol())
			}
			if sc := testkit.Receive(t, rec.opens, "OnOpen"); sc.Path() != "/ws" || sc.Request().RawQuery != "x=1" || sc.Subprotocol() != "chat" {
				t.Errorf("server side: Path %q, query %q, subprotocol %q", sc.Path(), sc.Request().RawQuery, sc.Subprotocol())
			}
			if err := c.WriteMessage(ws.OpPing, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			for i, m := range [][]byte{[]byte("hello"), testkit.Pattern(100<<10, 7), nil} {
				op := ws.OpText
				if i == 1 {
					op = ws.OpBinary
				}
				if err := c.WriteMessage(op, m); err != nil {
					t.Fatalf("WriteMessage: %v", err)
				}
				gotOp, got, err := c.ReadMessage() // the pong is skipped
				if err != nil || gotOp != op || !bytes.Equal(got, m) {
					t.Fatalf("ReadMessage: %v, %d bytes, %v; want %v, %d bytes", gotOp, len(got), err, op, len(m))
				}
			}
			if err := c.Close(ws.CloseNormal, "bye"); err != nil {
				t.Errorf("Close: %v", err)
			}
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != ws.CloseNormal || ev.reason != "bye" || ev.err != nil {
				t.Errorf("server OnClose(%v, %q, %v), want (1000, bye, nil)", ev.code, ev.reason, ev.err)
			}
		})
		t.Run("server-closes", func(t *testing.T) {
			c, err := ws.Dial(ctx, dialTCP(t, addr), "/ws", ws.ClientOptions{})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			testkit.Receive(t, rec.opens, "OnOpen")
			c.WriteMessage(ws.OpText, []byte("close me"))
			_, _, err = c.ReadMessage()
			var ce *ws.CloseError
			if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "as you wish" {
				t.Fatalf("ReadMessage: %v, want a *CloseError 4000", err)
			}
			if err := c.WriteMessage(ws.OpText, []byte("late")); !errors.Is(err, ws.ErrCloseSent) {
				t.Errorf("WriteMessage after the close: %v, want ErrCloseSent", err)
			}
			if err := c.Close(ws.CloseNormal, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != 4000 || ev.err != nil {
				t.Errorf("server OnClose(%v, %v), want (4000, nil)", ev.code, ev.err)
			}
		})
		t.Run("not-found", func(t *testing.T) {
			_, err := ws.Dial(ctx, dialTCP(t, addr), "127.0.0.1/nope", ws.ClientOptions{})
			var herr *ws.HandshakeError
			if !errors.As(err, &herr) || herr.Status != 404 {
				t.Errorf("Dial to a wrong path: %v, want a *HandshakeError with 404", err)
			}
		})
		t.Run("context-ends", func(t *testing.T) {
			silent := testkit.Serve(t, testkit.Hold) // accepts, never answers
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := ws.Dial(ctx, dialTCP(t, silent.String()), "/", ws.ClientOptions{})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial with a context that ends: %v, want context.DeadlineExceeded", err)
			}
		})
	})
}
