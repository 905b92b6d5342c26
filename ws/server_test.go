package ws_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// Text and binary messages come back with their opcode, empty ones too.
func TestEcho(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := dialWS(t, addr, "/")
		for _, m := range []struct {
			op   byte
			data []byte
		}{
			{opText, []byte("hello, world")},
			{opText, []byte("héllo ✓ 🌍")},
			{opBin, []byte{0, 1, 2, 0xFF}},
			{opText, nil},
			{opBin, nil},
			{opBin, testkit.Pattern(300, 1)},   // 16-bit length
			{opBin, testkit.Pattern(70000, 2)}, // 64-bit length
		} {
			rc.send(fin|m.op, m.data)
			rc.expect(fin|m.op, m.data)
		}
		rc.send(fin|opClose, closePayload(ws.CloseNormal, "bye"))
		rc.expectClose(ws.CloseNormal)
		st := wsrv.Stats()
		if st.MessagesIn != 7 || st.MessagesOut != 7 || st.Upgrades != 1 || st.Closes != 1 {
			t.Errorf("Stats = %+v, want 7 messages each way, 1 upgrade, 1 close", st)
		}
	})
}

// Fragments are reassembled into one message, with control frames
// between them answered at once, and UTF-8 split across fragments
// accepted.
func TestFragmented(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := dialWS(t, addr, "/")
		msg := []byte("fragments: €uro") // '€' is 3 bytes; split inside it
		cut := bytes.IndexRune(msg, '€') + 1
		rc.send(opText, msg[:5])
		rc.send(fin|opPing, []byte("between"))
		rc.expect(fin|opPong, []byte("between"))
		rc.send(opCont, msg[5:cut])
		rc.send(fin|opPong, []byte("unsolicited")) // ignored
		rc.send(opCont, nil)                       // an empty fragment
		rc.send(fin|opCont, msg[cut:])
		rc.expect(fin|opText, msg)

		big := testkit.Pattern(200<<10, 3)
		for i := 0; i < len(big); i += 50 << 10 {
			b0 := byte(opCont)
			if i == 0 {
				b0 = opBin
			}
			if i+50<<10 >= len(big) {
				b0 |= fin
			}
			rc.send(b0, big[i:i+50<<10])
		}
		rc.expect(fin|opBin, big)
	})
}

// Pings are answered with pongs carrying the same payload.
func TestPingPong(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := dialWS(t, addr, "/")
		rc.send(fin|opPing, nil)
		rc.expect(fin|opPong, nil)
		payload := testkit.Pattern(125, 4)
		rc.send(fin|opPing, payload)
		rc.expect(fin|opPong, payload)
		if n := wsrv.Stats().Pings; n != 2 {
			t.Errorf("Stats.Pings = %d, want 2", n)
		}
	})
}

// The closing handshake, begun by either side, ends with the codes on both
// sides, and the server closing TCP.
func TestCloseHandshake(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		t.Run("client-first", func(t *testing.T) {
			rec := newRecorder()
			_, addr := serve(t, b, rec, ws.ServerOptions{})
			rc := dialWS(t, addr, "/")
			rc.send(fin|opClose, closePayload(4001, "done here"))
			rc.expectClose(4001)
			ev := testkit.Receive(t, rec.closes, "OnClose")
			if ev.code != 4001 || ev.reason != "done here" || ev.err != nil {
				t.Errorf("OnClose(%v, %q, %v), want (4001, \"done here\", nil)", ev.code, ev.reason, ev.err)
			}
		})
		t.Run("client-first-no-code", func(t *testing.T) {
			rec := newRecorder()
			_, addr := serve(t, b, rec, ws.ServerOptions{})
			rc := dialWS(t, addr, "/")
			rc.send(fin|opClose, nil)
			rc.expect(fin|opClose, nil)
			rc.expectEOF()
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != ws.CloseNoStatus || ev.err != nil {
				t.Errorf("OnClose(%v, %v), want (1005, nil)", ev.code, ev.err)
			}
		})
		t.Run("server-first", func(t *testing.T) {
			rec := newRecorder()
			rec.onMessage = func(c *ws.Conn, op ws.Opcode, data []byte) {
				c.WriteMessage(op, data)
				if err := c.Close(ws.CloseGoingAway, "going"); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := c.WriteMessage(ws.OpText, []byte("late")); !errors.Is(err, ws.ErrCloseSent) {
					t.Errorf("WriteMessage after Close: %v, want ErrCloseSent", err)
				}
			}
			_, addr := serve(t, b, rec, ws.ServerOptions{})
			rc := dialWS(t, addr, "/")
			rc.send(fin|opText, []byte("last"))
			rc.expect(fin|opText, []byte("last"))
			rc.expect(fin|opClose, closePayload(ws.CloseGoingAway, "going"))
			rc.send(fin|opClose, closePayload(ws.CloseGoingAway, ""))
			rc.expectEOF()
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != ws.CloseGoingAway || ev.err != nil {
				t.Errorf("OnClose(%v, %v), want (1001, nil)", ev.code, ev.err)
			}
		})
		t.Run("server-first-from-another-goroutine", func(t *testing.T) {
			rec := newRecorder()
			_, addr := serve(t, b, rec, ws.ServerOptions{})
			rc := dialWS(t, addr, "/")
			c := testkit.Receive(t, rec.opens, "OnOpen")
			if err := c.AsyncWriteMessage(ws.OpText, []byte("async")); err != nil {
				t.Fatalf("AsyncWriteMessage: %v", err)
			}
			if err := c.Close(ws.CloseNormal, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
			rc.expect(fin|opText, []byte("async"))
			rc.expect(fin|opClose, closePayload(ws.CloseNormal, ""))
			rc.send(fin|opClose, closePayload(ws.CloseNormal, ""))
			rc.expectEOF()
			testkit.Receive(t, rec.closes, "OnClose")
		})
		t.Run("close-timeout", func(t *testing.T) {
			rec := newRecorder()
			rec.onMessage = func(c *ws.Conn, _ ws.Opcode, _ []byte) { c.Close(ws.CloseNormal, "") }
			_, addr := serve(t, b, rec, ws.ServerOptions{CloseTimeout: 100 * time.Millisecond})
			rc := dialWS(t, addr, "/")
			rc.send(fin|opText, []byte("close please"))
			rc.expect(fin|opClose, closePayload(ws.CloseNormal, "")) // and never answer
			rc.expectEOF()
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != ws.CloseAbnormal || !errors.Is(ev.err, ws.ErrCloseTimeout) {
				t.Errorf("OnClose(%v, %v), want (1006, ErrCloseTimeout)", ev.code, ev.err)
			}
		})
		t.Run("tcp-close-without-frame", func(t *testing.T) {
			rec := newRecorder()
			_, addr := serve(t, b, rec, ws.ServerOptions{})
			rc := dialWS(t, addr, "/")
			rc.c.Close()
			if ev := testkit.Receive(t, rec.closes, "OnClose"); ev.code != ws.CloseAbnormal || ev.err == nil {
				t.Errorf("OnClose(%v, %v), want (1006, an error)", ev.code, ev.err)
			}
		})
	})
}

// Each violation fails its connection with the right close code, is
// counted, and the server goes on serving others.
func TestBadInput(t *testing.T) {
	const max = 64 << 10
	tests := []struct {
		name   string
		frames [][]byte
		code   ws.CloseCode
	}{
		{name: "unmasked", frames: [][]byte{frame(fin|opText, false, []byte("hi"))}, code: ws.CloseProtocolError},
		{name: "rsv1", frames: [][]byte{frame(fin|0x40|opText, true, []byte("hi"))}, code: ws.CloseProtocolError},
		{name: "rsv3", frames: [][]byte{frame(fin|0x10|opBin, true, nil)}, code: ws.CloseProtocolError},
		{name: "opcode-3", frames: [][]byte{frame(fin|0x3, true, nil)}, code: ws.CloseProtocolError},
		{name: "opcode-0xB", frames: [][]byte{frame(fin|0xB, true, nil)}, code: ws.CloseProtocolError},
		{name: "ping-126-bytes", frames: [][]byte{frame(fin|opPing, true, testkit.Pattern(126, 1))}, code: ws.CloseProtocolError},
		{name: "fragmented-ping", frames: [][]byte{frame(opPing, true, nil)}, code: ws.CloseProtocolError},
		{name: "lone-continuation", frames: [][]byte{frame(fin|opCont, true, []byte("x"))}, code: ws.CloseProtocolError},
		{name: "text-inside-fragmented", frames: [][]byte{frame(opText, true, []byte("a")), frame(fin|opText, true, []byte("b"))}, code: ws.CloseProtocolError},
		{name: "length-top-bit", frames: [][]byte{{fin | opBin, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}}, code: ws.CloseProtocolError},
		{name: "invalid-utf8", frames: [][]byte{frame(fin|opText, true, []byte("bad \xff byte"))}, code: ws.CloseInvalidPayload},
		{name: "surrogate-utf8", frames: [][]byte{frame(fin|opText, true, []byte("\xed\xa0\x80"))}, code: ws.CloseInvalidPayload},
		{name: "invalid-utf8-across-fragments", frames: [][]byte{frame(opText, true, []byte("ok \xe2\x82")), frame(fin|opCont, true, []byte("\x28"))}, code: ws.CloseInvalidPayload},
		{name: "invalid-utf8-first-fragment", frames: [][]byte{frame(opText, true, []byte("\xc0\xaf"))}, code: ws.CloseInvalidPayload},
		{name: "utf8-cut-at-end", frames: [][]byte{frame(opText, true, []byte("ok \xe2\x82")), frame(fin|opCont, true, nil)}, code: ws.CloseInvalidPayload},
		{name: "frame-too-big", frames: [][]byte{frame(fin|opBin, true, testkit.Pattern(max+1, 1))}, code: ws.CloseMessageTooBig},
		{name: "header-too-big", frames: [][]byte{{fin | opBin, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}}, code: ws.CloseMessageTooBig},
		{name: "message-too-big", frames: [][]byte{frame(opBin, true, testkit.Pattern(max/2, 1)), frame(fin|opCont, true, testkit.Pattern(max/2+1, 2))}, code: ws.CloseMessageTooBig},
		{name: "close-1-byte", frames: [][]byte{frame(fin|opClose, true, []byte{3})}, code: ws.CloseProtocolError},
		{name: "close-code-1005", frames: [][]byte{frame(fin|opClose, true, closePayload(1005, ""))}, code: ws.CloseProtocolError},
		{name: "close-code-999", frames: [][]byte{frame(fin|opClose, true, closePayload(999, ""))}, code: ws.CloseProtocolError},
		{name: "close-code-5000", frames: [][]byte{frame(fin|opClose, true, closePayload(5000, ""))}, code: ws.CloseProtocolError},
		{name: "close-reason-utf8", frames: [][]byte{frame(fin|opClose, true, closePayload(1000, "\xff"))}, code: ws.CloseInvalidPayload},
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		rec := newRecorder()
		wsrv, addr := serve(t, b, rec, ws.ServerOptions{MaxMessage: max})
		want := map[ws.CloseCode]uint64{}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rc := dialWS(t, addr, "/")
				testkit.Receive(t, rec.opens, "OnOpen")
				for _, f := range tt.frames {
					rc.write(f)
				}
				rc.expectClose(tt.code)
				ev := testkit.Receive(t, rec.closes, "OnClose")
				var perr *ws.ProtocolError
				if ev.code != tt.code || !errors.As(ev.err, &perr) || perr.Code != tt.code {
					t.Errorf("OnClose(%v, %v), want (%v, a *ProtocolError)", ev.code, ev.err, tt.code)
				}
				want[tt.code]++

				// The server still serves another client.
				ok := dialWS(t, addr, "/")
				testkit.Receive(t, rec.opens, "OnOpen")
				ok.send(fin|opText, []byte("still here"))
				ok.expect(fin|opText, []byte("still here"))
				ok.send(fin|opClose, closePayload(ws.CloseNormal, ""))
				ok.expectClose(ws.CloseNormal)
				testkit.Receive(t, rec.closes, "OnClose")
			})
		}
		got := wsrv.Stats().ProtocolErrors
		for code, n := range want {
			if got[code] != n {
				t.Errorf("Stats.ProtocolErrors[%v] = %d, want %d (all: %v)", code, got[code], n, got)
			}
		}
	})
}

// A message written one byte per TCP write is read whole, and so is a
// ping interleaved the same way.
func TestByteByByte(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := dialWS(t, addr, "/")
		msg := []byte("split into single bytes: ✓")
		wire := append(frame(opText, true, msg[:10]), frame(fin|opPing, true, []byte("p"))...)
		wire = append(wire, frame(fin|opCont, true, msg[10:])...)
		wire = append(wire, frame(fin|opBin, true, testkit.Pattern(300, 9))...)
		for i := range wire {
			rc.write(wire[i : i+1])
		}
		rc.expect(fin|opPong, []byte("p"))
		rc.expect(fin|opText, msg)
		rc.expect(fin|opBin, testkit.Pattern(300, 9))
	})
}

// A thousand messages written at once come back in order.
func TestPipelined(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		wsrv, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{})
		rc := dialWS(t, addr, "/")
		const count = 1000
		var wire []byte
		for i := range count {
			wire = append(wire, frame(fin|opText, true, []byte(strings.Repeat("x", i%200)+"#"))...)
		}
		errc := make(chan error, 1)
		go func() { _, err := rc.c.Write(wire); errc <- err }()
		for i := range count {
			rc.expect(fin|opText, []byte(strings.Repeat("x", i%200)+"#"))
		}
		if err := testkit.Receive(t, errc, "the pipelined write"); err != nil {
			t.Fatal(err)
		}
		if st := wsrv.Stats(); st.MessagesIn != count || st.MessagesOut != count {
			t.Errorf("Stats messages in/out = %d/%d, want %d", st.MessagesIn, st.MessagesOut, count)
		}
	})
}

// Messages at the limit pass, whole or in fragments; one byte more fails.
func TestLargeMessage(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, ws.Echo{}, ws.ServerOptions{}) // DefaultMaxMessage
		rc := dialWS(t, addr, "/")
		msg := testkit.Pattern(ws.DefaultMaxMessage, 5)
		errc := make(chan error, 1)
		go func() { _, err := rc.c.Write(frame(fin|opBin, true, msg)); errc <- err }()
		rc.expect(fin|opBin, msg)
		if err := testkit.Receive(t, errc, "the write"); err != nil {
			t.Fatal(err)
		}
		go func() {
			var wire []byte
			for i := 0; i < len(msg); i += 100 << 10 {
				b0 := byte(opCont)
				if i == 0 {
					b0 = opBin
				}
				end := min(i+100<<10, len(msg))
				if end == len(msg) {
					b0 |= fin
				}
				wire = append(wire, frame(b0, true, msg[i:end])...)
			}
			_, err := rc.c.Write(wire)
			errc <- err
		}()
		rc.expect(fin|opBin, msg)
		if err := testkit.Receive(t, errc, "the write"); err != nil {
			t.Fatal(err)
		}
		rc.write(frame(fin|opBin, true, testkit.Pattern(ws.DefaultMaxMessage+1, 6)))
		rc.expectClose(ws.CloseMessageTooBig)
	})
}
