package ws_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// serveStream listens with NewStreamServer for h and returns the address.
func serveStream(t *testing.T, b engine.Backend, h engine.Handler, sopts ws.StreamOptions) string {
	t.Helper()
	srv := newEngine(t, b)
	addr, err := srv.Listen(endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:0"}, ws.NewStreamServer(h, ws.ServerOptions{}, sopts))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return addr.String()
}

// dialBlocking upgrades a fresh connection to addr.
func dialBlocking(t *testing.T, addr string) *ws.BlockingConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	c, err := ws.Dial(ctx, dialTCP(t, addr), "/", ws.ClientOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// service.Echo, written for TCP, over WebSocket: each message comes back
// as one message with its opcode, and the client's close frame is its
// half-close: it answers everything before it, then sends its own.
func TestStreamServerEcho(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := serveStream(t, b, service.Echo{}, ws.StreamOptions{})
		c := dialBlocking(t, addr)
		msgs := []struct {
			op   ws.Opcode
			data []byte
		}{{ws.OpText, []byte("héllo")}, {ws.OpBinary, testkit.Pattern(200<<10, 1)}, {ws.OpBinary, []byte{0xff}}, {ws.OpText, []byte("last")}}
		for _, m := range msgs {
			if err := c.WriteMessage(m.op, m.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.CloseWrite(ws.CloseNormal, ""); err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			op, got, err := c.ReadMessage()
			if err != nil || op != m.op || !bytes.Equal(got, m.data) {
				t.Fatalf("echo %d: %v, %d bytes, %v; want %v, %d bytes", i, op, len(got), err, m.op, len(m.data))
			}
		}
		_, _, err := c.ReadMessage()
		var ce *ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.CloseNormal {
			t.Errorf("after the echoes: %v, want the server's close frame 1000", err)
		}
		if err := c.Close(ws.CloseNormal, ""); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

// lines is a stream handler that answers whole lines only, leaving a
// partial line for the next payload, and records how it ended.
type lines struct{ closed chan error }

func (l lines) OnOpen(engine.Conn) {}

func (l lines) OnData(c engine.Conn, in []byte) int {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0
	}
	c.Write(bytes.ToUpper(in[:i+1]))
	return i + 1
}

func (l lines) OnPeerClose(c engine.Conn) { c.CloseWrite() }

func (l lines) OnClose(_ engine.Conn, err error) { l.closed <- err }

// What a stream handler leaves unconsumed is offered again in front of the
// next payload, up to MaxInput; beyond it the connection closes with 1009
// and the handler hears why. A close code other than a normal one reaches
// the handler's OnClose.
func TestStreamServerLeftover(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		h := lines{closed: make(chan error, 2)}
		addr := serveStream(t, b, h, ws.StreamOptions{MaxInput: 8})
		c := dialBlocking(t, addr)
		for _, m := range []string{"ab", "c\nd", "e\n"} {
			c.WriteMessage(ws.OpText, []byte(m))
		}
		for _, want := range []string{"ABC\n", "DE\n"} {
			if _, got, err := c.ReadMessage(); err != nil || string(got) != want {
				t.Fatalf("ReadMessage = %q, %v; want %q", got, err, want)
			}
		}
		c.CloseWrite(4000, "done")
		if _, _, err := c.ReadMessage(); !errors.As(err, new(*ws.CloseError)) {
			t.Errorf("after CloseWrite: %v, want the server's close frame", err)
		}
		c.Close(ws.CloseNormal, "")
		var ce *ws.CloseError
		if err := testkit.Receive(t, h.closed, "OnClose"); !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "done" {
			t.Errorf("OnClose(%v), want the client's close code 4000", err)
		}

		c = dialBlocking(t, addr)
		c.WriteMessage(ws.OpText, []byte("12345"))
		c.WriteMessage(ws.OpText, []byte("6789")) // 9 bytes unconsumed
		_, _, err := c.ReadMessage()
		if !errors.As(err, &ce) || ce.Code != ws.CloseMessageTooBig {
			t.Errorf("past MaxInput: %v, want close 1009", err)
		}
		c.Close(ws.CloseNormal, "")
		if err := testkit.Receive(t, h.closed, "OnClose"); !errors.Is(err, engine.ErrInputTooLarge) {
			t.Errorf("OnClose(%v), want engine.ErrInputTooLarge", err)
		}
	})
}

// A Drainer keeps its OnDrain through the stream view: chargen over
// WebSocket streams its pattern, as text with TextIfUTF8.
func TestStreamServerChargen(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		addr := serveStream(t, b, service.Chargen{}, ws.StreamOptions{TextIfUTF8: true})
		nc := dialTCP(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		c, err := ws.Dial(ctx, nc, "/", ws.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		const want = 64 << 10 // beyond the first write in OnOpen: OnDrain must run
		var got []byte
		for len(got) < want {
			op, data, err := c.ReadMessage()
			if err != nil || op != ws.OpText {
				t.Fatalf("after %d bytes: %v, %v", len(got), op, err)
			}
			got = append(got, data...)
		}
		if !bytes.Equal(got[:want], service.ChargenPattern(want)) {
			t.Error("the stream is not the chargen pattern")
		}
		// Chargen sends until the client goes: reset.
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	})
}

// daytime over WebSocket: a message on open, then our close frame.
func TestStreamServerDaytime(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		at := time.Date(2026, 11, 21, 8, 10, 50, 0, time.UTC)
		addr := serveStream(t, b, service.Daytime{Now: func() time.Time { return at }}, ws.StreamOptions{TextIfUTF8: true})
		c := dialBlocking(t, addr)
		op, got, err := c.ReadMessage()
		if want := at.Format(service.DaytimeLayout) + "\r\n"; err != nil || op != ws.OpText || string(got) != want {
			t.Errorf("ReadMessage = %v %q, %v; want text %q", op, got, err, want)
		}
		if _, _, err := c.ReadMessage(); !errors.As(err, new(*ws.CloseError)) {
			t.Errorf("then %v, want the server's close frame", err)
		}
		c.Close(ws.CloseNormal, "")
	})
}

// The client side on the engine: a stream handler dials WebSocket, and a
// dial that fails reaches its OnClose without OnOpen.
func TestStreamClient(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{Path: "/echo"})
		srv := newEngine(t, b)
		var st ws.Counters
		sc := testkit.NewSender(testkit.Pattern(100<<10, 9))
		h := ws.NewStreamClient(sc, ws.ClientOptions{Path: "/echo", Counters: &st}, ws.StreamOptions{})
		if err := srv.Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: addr}, h, engine.DialOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Receive(t, sc.Done(), "OnClose"); err != nil {
			t.Errorf("OnClose(%v), want a clean close", err)
		}
		if got := sc.Reply(); !bytes.Equal(got, sc.Msg) {
			t.Errorf("got %d bytes back, want the %d sent", len(got), len(sc.Msg))
		}
		if s := st.Stats(); s.Upgrades != 1 || s.MessagesOut != 1 || s.MessagesIn != 1 {
			t.Errorf("client counters %+v", s)
		}

		closedAddr := testkit.Refused(t)
		failed := testkit.NewSender(nil)
		srv.Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: closedAddr}, ws.NewStreamClient(failed, ws.ClientOptions{}, ws.StreamOptions{}), engine.DialOptions{Timeout: testkit.Timeout})
		if err := testkit.Receive(t, failed.Done(), "OnClose of a failed dial"); err == nil || failed.Opened() {
			t.Errorf("a refused dial: OnClose(%v), opened %v; want an error without OnOpen", err, failed.Opened())
		}
	})
}

var _ io.Reader = (*ws.Stream)(nil)

// stretch is the n bytes at offset off of a stream whose bytes say
// where they are.
func stretch(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) * 131 >> 3)
	}
	return b
}

// lateAnswer answers only after the peer's close frame, from another
// goroutine (Wake) and as the connection drains (OnDrain): total bytes,
// 64 KiB a message, then its own close frame.
type lateAnswer struct {
	total int
	sent  int // loop only
	going bool
}

func (*lateAnswer) OnOpen(engine.Conn)                  {}
func (*lateAnswer) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (*lateAnswer) OnClose(engine.Conn, error)          {}

func (a *lateAnswer) OnPeerClose(c engine.Conn) {
	go c.Wake() // as a program's output comes: from another goroutine
}

func (a *lateAnswer) OnTimer(c engine.Conn) {
	a.going = true
	a.OnDrain(c)
}

func (a *lateAnswer) OnDrain(c engine.Conn) {
	if !a.going {
		return
	}
	for a.sent < a.total && c.Pending() < 256<<10 {
		n := min(64<<10, a.total-a.sent)
		if _, err := c.Write(stretch(a.sent, n)); err != nil {
			return
		}
		a.sent += n
	}
	if a.sent == a.total {
		c.CloseWrite()
	}
}

// After the peer's close frame the stream is half-closed: the handler's
// Wake still reaches its OnTimer, and OnDrain still comes, until its own
// close frame has gone.
func TestStreamServerAnswersAfterCloseFrame(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const total = 4 << 20
		addr := serveStream(t, b, &lateAnswer{total: total}, ws.StreamOptions{})
		c := dialBlocking(t, addr)
		c.NetConn().SetDeadline(time.Now().Add(testkit.Timeout))
		if err := c.CloseWrite(ws.CloseNormal, ""); err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				var ce *ws.CloseError
				if !errors.As(err, &ce) || ce.Code != ws.CloseNormal || got != total {
					t.Fatalf("after %d of %d bytes: %v; want them all, then the close frame 1000", got, total, err)
				}
				break
			}
			if !bytes.Equal(p, stretch(got, len(p))) {
				t.Fatalf("message at %d differs from what was sent", got)
			}
			got += len(p)
		}
		c.Close(ws.CloseNormal, "")
	})
}
