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

	"golang.org/x/net/nettest"

	"github.com/sockit/sockit"
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
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

// The stream view, either side: messages in order, a message longer than
// the buffer over several Reads, the close frame as a half-close.
func TestStreamHalfClose(t *testing.T) {
	t.Parallel()
	client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
	cs, ss := ws.NewStream(client, ws.StreamOptions{}), ws.NewStream(server, ws.StreamOptions{})
	for _, m := range []string{"one ", "", "two ", "three"} {
		if n, err := cs.Write([]byte(m)); n != len(m) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", m, n, err)
		}
	}
	if err := cs.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := cs.CloseWrite(); err != nil {
		t.Errorf("a second CloseWrite = %v, want nil", err)
	}
	var got []byte
	buf := make([]byte, 3)
	for {
		n, err := ss.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server Read: %v", err)
		}
		if n > 3 {
			t.Fatalf("Read returned %d bytes into 3", n)
		}
	}
	if string(got) != "one two three" {
		t.Errorf("server read %q", got)
	}
	// The peer has closed its side; this side still writes.
	if _, err := ss.Write([]byte("the answer")); err != nil {
		t.Fatalf("Write after the peer's close frame = %v", err)
	}
	if err := ss.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(cs)
	if err != nil || string(all) != "the answer" {
		t.Errorf("client read %q, %v; want the answer, then EOF", all, err)
	}
	if _, err := cs.Write([]byte("late")); !errors.Is(err, ws.ErrCloseSent) {
		t.Errorf("Write after CloseWrite = %v, want ErrCloseSent", err)
	}
	done := make(chan error, 1)
	go func() { done <- cs.Close() }()
	if err := ss.Close(); err != nil {
		t.Errorf("server Close = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("client Close = %v", err)
	}
	var se *sockit.Error
	if _, err := cs.Read(buf); !errors.As(err, &se) || se.Op != "read" || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want a *sockit.Error for a closed conn", err)
	}
}

// Read's end of data: io.EOF for a normal close, an error holding the
// close code for any other.
func TestStreamCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   ws.CloseCode
		reason string
		eof    bool
	}{
		{name: "normal", code: ws.CloseNormal, eof: true},
		{name: "going away", code: ws.CloseGoingAway, reason: "bye", eof: true},
		{name: "no status", code: 0, eof: true},
		{name: "internal error", code: ws.CloseInternalError, reason: "the target is unreachable"},
		{name: "application", code: 4000, reason: "as you wish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
			cs := ws.NewStream(client, ws.StreamOptions{})
			if err := server.CloseWrite(tt.code, tt.reason); err != nil {
				t.Fatal(err)
			}
			_, err := cs.Read(make([]byte, 10))
			if tt.eof {
				if err != io.EOF {
					t.Errorf("Read after close %v = %v, want io.EOF", tt.code, err)
				}
				return
			}
			var ce *ws.CloseError
			var se *sockit.Error
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Reason != tt.reason || !errors.As(err, &se) || se.Op != "read" {
				t.Errorf("Read after close %v = %v, want a *sockit.Error holding the code and reason", tt.code, err)
			}
		})
	}
}

// The opcode policy: binary always, or text for valid UTF-8.
func TestStreamOpcodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts ws.StreamOptions
		want [2]ws.Opcode // for "héllo" and for \xff
	}{
		{opts: ws.StreamOptions{}, want: [2]ws.Opcode{ws.OpBinary, ws.OpBinary}},
		{opts: ws.StreamOptions{TextIfUTF8: true}, want: [2]ws.Opcode{ws.OpText, ws.OpBinary}},
	} {
		client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
		cs := ws.NewStream(client, tt.opts)
		for i, m := range []string{"héllo", "\xff"} {
			cs.Write([]byte(m))
			if op, got, err := server.ReadMessage(); err != nil || op != tt.want[i] || string(got) != m {
				t.Errorf("TextIfUTF8 %v, write %q: the peer read %v %q, %v; want %v", tt.opts.TextIfUTF8, m, op, got, err, tt.want[i])
			}
		}
	}
}

// Stream passes nettest's conformance suite over TCP, with either side as
// the conn under test.
func TestStreamConn(t *testing.T) {
	t.Parallel()
	opts := ws.ClientOptions{CloseTimeout: time.Second}
	sopts := ws.ServerOptions{CloseTimeout: time.Second}
	for _, clientFirst := range []bool{true, false} {
		name := "client"
		if !clientFirst {
			name = "server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				nc, ns, err := testkit.Pipe("tcp4")
				if err != nil {
					return nil, nil, nil, err
				}
				client, server, err := upgradePair(nc, ns, opts, sopts)
				if err != nil {
					nc.Close()
					ns.Close()
					return nil, nil, nil, err
				}
				c1, c2 = ws.NewStream(client, ws.StreamOptions{}), ws.NewStream(server, ws.StreamOptions{})
				if !clientFirst {
					c1, c2 = c2, c1
				}
				return c1, c2, func() { testkit.CloseBoth(c1, c2) }, nil
			})
		})
	}
}
