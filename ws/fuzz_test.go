package ws

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFrameHeader feeds the frame reader's header check arbitrary bytes,
// as either side (masked: a server reading a client) and inside a
// fragmented message or not, and checks that it accepts exactly the
// headers RFC 6455, 5.2 allows, in their one canonical form: writing an
// accepted header again from what the reader took from it (FIN, opcode,
// length in the fewest bytes, mask key) gives back the same bytes. It also
// checks that the reader never takes more than a header (14 bytes), waits
// only while the header is incomplete, and refuses with 1002 or, for a
// length over the limit, 1009.
func FuzzFrameHeader(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		w := appendFrame(nil, true, OpBinary, make([]byte, n), true, key)
		f.Add(w[:min(len(w), maxHeader)], true, false)
	}
	f.Add([]byte{0x81, 0x7E, 0x00, 0x05}, false, false)                   // 16-bit length of 5
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, false, false) // 64-bit length of 65535
	f.Add([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, true, false)
	f.Add([]byte{0x00, 0x83, 1, 2, 3, 4}, true, true)
	f.Add([]byte{0x89, 0x80, 9, 9, 9, 9}, true, true)
	f.Add([]byte{0x81}, true, false)
	f.Fuzz(func(t *testing.T, b []byte, masked, inMessage bool) {
		const max = 1 << 20
		r := frameReader{max: max, masked: masked}
		if inMessage {
			r.msgOp = OpBinary
			r.msg = make([]byte, 10)
		}
		n, err := r.header(b)
		switch {
		case n < 0 || n > len(b) || n > maxHeader:
			t.Fatalf("header(% x) = %d", b, n)
		case err != nil:
			if n != 0 || err.Code != CloseProtocolError && err.Code != CloseMessageTooBig {
				t.Fatalf("header(% x) = %d, %v; want 0 and close 1002 or 1009", b, n, err)
			}
			return
		case n == 0:
			if len(b) >= 2 && len(b) >= headerSize(b) {
				t.Fatalf("header(% x) wants more than the %d bytes a header of its kind takes", b, headerSize(b))
			}
			return
		}
		op := r.op
		switch {
		case op.IsControl() && (!r.fin || r.left > maxControl || op > OpPong):
			t.Fatalf("header(% x) took a control frame: fin %v, %d bytes, %v", b, r.fin, r.left, op)
		case !op.IsControl() && op > OpBinary:
			t.Fatalf("header(% x) took opcode %v", b, op)
		case op == OpContinuation && !inMessage, (op == OpText || op == OpBinary) && inMessage:
			t.Fatalf("header(% x) took %v with a message in progress %v", b, op, inMessage)
		case !op.IsControl() && r.left+len(r.msg) > max:
			t.Fatalf("header(% x) took %d bytes past %d", b, r.left, max)
		}
		if want := canonicalHeader(r.fin, op, uint64(r.left), masked, r.key); !bytes.Equal(b[:n], want) {
			t.Fatalf("header(% x) took %d bytes; written again from what it read: % x", b, n, want)
		}
	})
}

// headerSize is how long the header that starts with b[0], b[1] is.
func headerSize(b []byte) int {
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// canonicalHeader writes a frame header as RFC 6455, 5.2 wants it, apart
// from the package's own appendFrame: no RSV bits, and the length in the
// fewest bytes.
func canonicalHeader(fin bool, op Opcode, n uint64, masked bool, key [4]byte) []byte {
	b := []byte{byte(op), 0}
	if fin {
		b[0] |= 0x80
	}
	if masked {
		b[1] = 0x80
	}
	switch {
	case n < 126:
		b[1] |= byte(n)
	case n < 1<<16:
		b[1] |= 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] |= 127
		b = binary.BigEndian.AppendUint64(b, n)
	}
	if masked {
		b = append(b, key[:]...)
	}
	return b
}

// FuzzFrameRoundTrip writes a message with the package's own framing, in
// fragments of a size the input chooses, with a ping after the first, as
// a client (masked, with a key the input chooses) or a server, and reads
// it back with the other side's reader, in arbitrary pieces: the ping and
// the message come back as they were sent, or, for text that is not
// UTF-8, the reader fails with 1007 and yields no message.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), true, uint16(5), true, uint32(0x01020304), uint64(1))
	f.Add([]byte("€uro ✓ 🌍"), true, uint16(1), false, uint32(0), uint64(2))
	f.Add([]byte{0xff, 0x00, 0xc0, 0xaf}, false, uint16(2), true, uint32(7), uint64(3))
	f.Add([]byte("bad \xe2\x82 split"), true, uint16(5), true, uint32(9), uint64(4))
	f.Add(bytes.Repeat([]byte("x"), 70000), false, uint16(40000), false, uint32(0), uint64(5))
	f.Add([]byte{}, true, uint16(0), true, uint32(1), uint64(6))
	f.Fuzz(func(t *testing.T, payload []byte, text bool, fragSize uint16, client bool, key uint32, seed uint64) {
		payload = payload[:min(len(payload), 16<<10)] // bigger is only slower
		op := OpBinary
		if text {
			op = OpText
		}
		var mk [4]byte
		binary.LittleEndian.PutUint32(mk[:], key)
		size := max(int(fragSize), 1)
		ping := payload[:min(len(payload), maxControl)]
		var wire []byte
		for i := 0; i == 0 || i < len(payload); i += size {
			end := min(i+size, len(payload))
			fop := OpContinuation
			if i == 0 {
				fop = op
			}
			wire = appendFrame(wire, end == len(payload), fop, payload[i:end], client, mk)
			if i == 0 {
				wire = appendFrame(wire, true, OpPing, ping, client, mk)
			}
		}
		r := rand.New(rand.NewPCG(seed, 13))
		got := readAll(t, wire, client, 1<<20, func(n int) int { return 1 + r.IntN(min(n, 200)) })
		if text && !utf8.Valid(payload) {
			if len(got) == 0 || got[len(got)-1].code != CloseInvalidPayload || slices.ContainsFunc(got, func(e event) bool { return e.op == OpText }) {
				t.Fatalf("text %q that is not UTF-8 read as %+v; want a failure with 1007", payload, got)
			}
			return
		}
		want := []event{{op: OpPing, data: string(ping)}, {op: op, data: string(payload)}}
		if len(payload) <= size {
			// One frame: the message is whole before the ping.
			want[0], want[1] = want[1], want[0]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("read back %d events %.60v; want %.60v", len(got), got, want)
		}
	})
}

// FuzzUpgradeResponse feeds arbitrary bytes, in arbitrary pieces, as the
// server's answer to the engine client's upgrade request ({accept} in
// them stands for the right Sec-WebSocket-Accept, so that the fuzzer can
// get past the handshake). The response parser never takes more than it
// was given, waits only while the head is incomplete and within MaxHeader,
// and picks only a subprotocol that was offered; a response that the
// package's own writer builds is accepted (a round trip); and whatever the
// server sends, all the client sends after its request is well-formed
// masked frames.
func FuzzUpgradeResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
	f.Add([]byte(ok+"\r\n\x81\x05hello\x89\x00\x88\x02\x03\xe8"), uint64(1))
	f.Add([]byte(ok+"Sec-WebSocket-Protocol: chat\r\n\r\n\x01\x01a\x80\x01b"), uint64(2))
	f.Add([]byte(ok+"Sec-WebSocket-Protocol: other\r\n\r\n"), uint64(3))
	f.Add([]byte(ok+"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), uint64(4))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), uint64(5))
	f.Add([]byte("HTTP/1.0 101\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n\x82\x7e\x00\x05short"), uint64(6))
	f.Add([]byte(ok+" folded\r\n\r\n"), uint64(7))
	f.Add([]byte(ok+"\r\n\x81\x83\x00\x00\x00\x00abc"), uint64(8))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		const max = 1 << 10
		offered := []string{"chat", "superchat"}
		key := "dGhlIHNhbXBsZSBub25jZQ=="
		resp := bytes.ReplaceAll(data, []byte("{accept}"), []byte(acceptKey(key)))
		n, sub, herr := parseResponse(resp, max, key, offered)
		head := resp[:min(len(resp), max)]
		switch {
		case n < 0 || n > len(resp):
			t.Fatalf("parseResponse took %d of %d bytes", n, len(resp))
		case herr == nil && n == 0 && (len(resp) >= max || bytes.Contains(head, []byte("\r\n\r\n"))):
			t.Fatalf("parseResponse waits with a whole or oversized head")
		case herr == nil && n > 0 && (sub != "" && !slices.Contains(offered, sub) || !bytes.HasSuffix(resp[:n], []byte("\r\n\r\n"))):
			t.Fatalf("parseResponse accepted %q with subprotocol %q", resp[:n], sub)
		case herr != nil && herr.Msg == "":
			t.Fatalf("parseResponse error without a message: %+v", herr)
		}

		// The package's own answer to a request, with the subprotocol
		// the input picks, is accepted.
		choice := offered[int(seed%2)]
		req := &Request{Method: "GET", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "h", Header: map[string][]string{
			"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {key}, "Sec-Websocket-Protocol": {strings.Join(offered, ", ")},
		}}
		v := decide(&ServerOptions{Subprotocols: []string{choice}}, req)
		if m, got, err := parseResponse(v.resp, max, key, offered); m != len(v.resp) || got != choice || err != nil {
			t.Fatalf("the package's own 101 %q reads as %d, %q, %v", v.resp, m, got, err)
		}

		// The engine client, fed the input as its server's answer.
		cl := NewClient(Echo{}, ClientOptions{MaxHeader: max, Subprotocols: offered})
		fc := &fakeConn{}
		cl.OnOpen(fc)
		c := fc.value.(*Conn)
		reqLen := fc.out.Len()
		in := bytes.ReplaceAll(data, []byte("{accept}"), []byte(acceptKey(c.key)))
		r := rand.New(rand.NewPCG(seed, 17))
		var pending []byte
		for len(in) > 0 && !fc.closed {
			k := 1 + r.IntN(min(len(in), 32))
			pending = append(pending, in[:k]...)
			in = in[k:]
			m := cl.OnData(fc, pending)
			if m < 0 || m > len(pending) {
				t.Fatalf("OnData took %d of %d bytes", m, len(pending))
			}
			pending = bytes.Clone(pending[m:])
		}
		if st := cl.Stats(); st.Upgrades+st.Rejected > 1 {
			t.Fatalf("Stats %+v: more than one verdict on one handshake", st)
		}
		sent := bytes.Clone(fc.out.Bytes()[reqLen:])
		server := frameReader{max: 1 << 20, masked: true}
		for len(sent) > 0 {
			m, _, _, err := server.next(sent)
			if err != nil {
				t.Fatalf("the client sent a bad frame (%v) in % x", err, fc.out.Bytes()[reqLen:])
			}
			if m == 0 {
				t.Fatalf("the client sent an incomplete frame: % x", sent)
			}
			sent = sent[m:]
		}
	})
}
