package ws_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/sockit/sockit/ws"
)

// The cases of the conformance suite, grouped as the Autobahn test suite
// groups its own: 1 framing, 2 pings and pongs, 3 reserved bits, 4
// opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits. The
// cases are ours, written from RFC 6455; the sections cited are its.

// confMax is MaxMessage on every side under test; group 9 works around it.
const confMax = 128 << 10

// confCase is one row of the suite: bytes the scripted peer sends, and
// what the side under test must answer, frame by frame.
type confCase struct {
	id   string // "group.sub.n"; the group is the part before the first dot
	name string // what the case checks, in a few words
	send []frameOut
	// chop, if > 0, writes the whole stream in pieces of this many bytes,
	// one write each (the side must read frames however they are split).
	chop int
	// want is every frame the side must send, in order. When its last
	// entry is not a close frame, the peer then closes with 1000 and
	// wants 1000 back; after the close frame the side must end the TCP
	// connection (a server first, RFC 6455 7.1.1; a client after the
	// server's FIN).
	want []reply
}

// lenForm is how a frame header writes the payload length.
type lenForm uint8

const (
	lenShortest lenForm = iota // 7 bits, 16 or 64 as the length needs (RFC 6455, 5.2)
	len16                      // the 16-bit form, whatever the length
	len64                      // the 64-bit form, whatever the length
)

// frameOut is one frame the peer sends. It is masked with a fresh random
// key when the peer is the client (RFC 6455, 5.3), unless flipMask.
type frameOut struct {
	b0       byte // FIN, RSV1-3 and the opcode, as sent
	payload  []byte
	form     lenForm
	flipMask bool // masked from a server, unmasked from a client
	// claim, if > 0, is the length the header states instead of
	// len(payload); then only the header is sent, and the side must
	// decide on the header alone.
	claim uint64
	// cut, if > 0, sends the header and only the first cut bytes of the
	// payload: the rest never comes.
	cut int
}

// reply is one frame the side under test must send.
type reply struct {
	b0      byte   // FIN, RSV1-3 and the opcode
	payload []byte // all but close frames
	// code is a close frame's status code; ws.CloseNoStatus wants an
	// empty close payload.
	code ws.CloseCode
	// fails marks the close frame of a connection the side fails for the
	// peer's violation (counted in Stats.ProtocolErrors), not its answer
	// to the peer's close frame.
	fails bool
}

func (r reply) isClose() bool { return r.b0&0x0F == opClose }

// Frames the peer sends.

func textOut(s string) frameOut       { return frameOut{b0: fin | opText, payload: []byte(s)} }
func binOut(p []byte) frameOut        { return frameOut{b0: fin | opBin, payload: p} }
func pingOut(p string) frameOut       { return frameOut{b0: fin | opPing, payload: []byte(p)} }
func pongOut(p string) frameOut       { return frameOut{b0: fin | opPong, payload: []byte(p)} }
func frag(b0 byte, p []byte) frameOut { return frameOut{b0: b0, payload: p} }

// closeOut is a close frame with code and reason; code 0 sends an empty
// payload.
func closeOut(code ws.CloseCode, reason string) frameOut {
	if code == 0 {
		return frameOut{b0: fin | opClose}
	}
	return frameOut{b0: fin | opClose, payload: append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)}
}

// Frames the side must send.

func echoText(s string) reply     { return reply{b0: fin | opText, payload: []byte(s)} }
func echoBin(p []byte) reply      { return reply{b0: fin | opBin, payload: p} }
func pong(p string) reply         { return reply{b0: fin | opPong, payload: []byte(p)} }
func closed(c ws.CloseCode) reply { return reply{b0: fin | opClose, code: c} }
func failed(c ws.CloseCode) reply { return reply{b0: fin | opClose, code: c, fails: true} }

// fill returns n bytes of printable ASCII, so that they are valid text.
func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i+int(seed))%26)
	}
	return b
}

// confBytes returns n bytes that differ with seed.
func confBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 6455))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fragments splits p into frames of at most size bytes: the first with
// op, the rest continuations, the last with FIN.
func fragments(op byte, p []byte, size int) []frameOut {
	var out []frameOut
	for i := 0; i == 0 || i < len(p); i += size {
		b0 := byte(opCont)
		if i == 0 {
			b0 = op
		}
		end := min(i+size, len(p))
		if end == len(p) {
			b0 |= fin
		}
		out = append(out, frag(b0, p[i:end]))
	}
	return out
}

func confCases() []confCase {
	var cs []confCase
	add := func(c ...confCase) { cs = append(cs, c...) }

	// 1 Framing: every payload length form, text and binary (RFC 6455, 5.2).
	for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		add(confCase{id: fmt.Sprintf("1.1.%d", i+1), name: fmt.Sprintf("text message of %d bytes", n),
			send: []frameOut{textOut(string(fill(n, 1)))}, want: []reply{echoText(string(fill(n, 1)))}})
	}
	add(confCase{id: "1.1.8", name: "text message of 65536 bytes written 997 bytes at a time",
		send: []frameOut{textOut(string(fill(65536, 2)))}, chop: 997, want: []reply{echoText(string(fill(65536, 2)))}})
	for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		p := confBytes(n, uint64(n))
		add(confCase{id: fmt.Sprintf("1.2.%d", i+1), name: fmt.Sprintf("binary message of %d bytes", n),
			send: []frameOut{binOut(p)}, want: []reply{echoBin(p)}})
	}
	add(confCase{id: "1.2.8", name: "binary message of 65536 bytes written 997 bytes at a time",
		send: []frameOut{binOut(confBytes(65536, 8))}, chop: 997, want: []reply{echoBin(confBytes(65536, 8))}})
	// RFC 6455, 5.2: the length in the fewest bytes, and a 64-bit length
	// with its most significant bit 0.
	for i, l := range []struct {
		bits int // of the length field
		n    int
	}{{bits: 16, n: 0}, {bits: 16, n: 125}, {bits: 64, n: 0}, {bits: 64, n: 125}, {bits: 64, n: 65535}} {
		form := len16
		if l.bits == 64 {
			form = len64
		}
		add(confCase{id: fmt.Sprintf("1.3.%d", i+1), name: fmt.Sprintf("%d bytes with a %d-bit length", l.n, l.bits),
			send: []frameOut{{b0: fin | opBin, payload: confBytes(l.n, uint64(130+i)), form: form}}, want: []reply{failed(ws.CloseProtocolError)}})
	}
	add(confCase{id: "1.3.6", name: "a 64-bit length with its top bit set",
		send: []frameOut{{b0: fin | opBin, claim: 1<<63 | 5}}, want: []reply{failed(ws.CloseProtocolError)}})
	add(confCase{id: "1.3.7", name: "a ping with a 16-bit length of 5 bytes",
		send: []frameOut{{b0: fin | opPing, payload: []byte("short"), form: len16}}, want: []reply{failed(ws.CloseProtocolError)}})
	add(confCase{id: "1.4.1", name: "a frame masked the wrong way for its direction",
		send: []frameOut{{b0: fin | opText, payload: []byte("wrong mask"), flipMask: true}}, want: []reply{failed(ws.CloseProtocolError)}})
	add(confCase{id: "1.4.2", name: "a good message, then one masked the wrong way",
		send: []frameOut{textOut("fine"), {b0: fin | opBin, payload: []byte{1, 2, 3}, flipMask: true}},
		want: []reply{echoText("fine"), failed(ws.CloseProtocolError)}})

	// 2 Pings and pongs (RFC 6455, 5.5.2 and 5.5.3).
	add(
		confCase{id: "2.1", name: "ping without payload", send: []frameOut{pingOut("")}, want: []reply{pong("")}},
		confCase{id: "2.2", name: "ping with a text payload", send: []frameOut{pingOut("Hello, pong!")}, want: []reply{pong("Hello, pong!")}},
		confCase{id: "2.3", name: "ping with a binary payload", send: []frameOut{pingOut("\x00\xff\xfe\xfd\x80\x00")}, want: []reply{pong("\x00\xff\xfe\xfd\x80\x00")}},
		confCase{id: "2.4", name: "ping with 125 bytes", send: []frameOut{pingOut(string(confBytes(125, 24)))}, want: []reply{pong(string(confBytes(125, 24)))}},
		confCase{id: "2.5", name: "ping with 126 bytes", send: []frameOut{pingOut(string(confBytes(126, 25)))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "2.6", name: "ping with 125 bytes written a byte at a time", send: []frameOut{pingOut(string(confBytes(125, 26)))}, chop: 1, want: []reply{pong(string(confBytes(125, 26)))}},
		confCase{id: "2.7", name: "unsolicited pong without payload is ignored", send: []frameOut{pongOut("")}},
		confCase{id: "2.8", name: "unsolicited pong with payload is ignored", send: []frameOut{pongOut("unasked")}},
		confCase{id: "2.9", name: "unsolicited pong, then a ping", send: []frameOut{pongOut("unasked"), pingOut("asked")}, want: []reply{pong("asked")}},
	)
	var pings []frameOut
	var pongs []reply
	for i := range 10 {
		pings = append(pings, pingOut(fmt.Sprintf("ping %d", i)))
		pongs = append(pongs, pong(fmt.Sprintf("ping %d", i)))
	}
	add(confCase{id: "2.10", name: "ten pings at once, answered in order", send: pings, want: pongs})
	add(confCase{id: "2.11", name: "ten pings written a byte at a time", send: pings, chop: 1, want: pongs})

	// 3 Reserved bits: none may be set, as no extension is negotiated
	// (RFC 6455, 5.2).
	const rsv1, rsv2, rsv3 = 0x40, 0x20, 0x10
	add(
		confCase{id: "3.1", name: "text with RSV1", send: []frameOut{frag(fin|rsv1|opText, []byte("rsv1"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "3.2", name: "good text, text with RSV2, ping",
			send: []frameOut{textOut("good"), frag(fin|rsv2|opText, []byte("rsv2")), pingOut("never")},
			want: []reply{echoText("good"), failed(ws.CloseProtocolError)}},
		confCase{id: "3.3", name: "good text, text with RSV1 and RSV2, ping, a byte at a time",
			send: []frameOut{textOut("good"), frag(fin|rsv1|rsv2|opText, []byte("rsv12")), pingOut("never")}, chop: 1,
			want: []reply{echoText("good"), failed(ws.CloseProtocolError)}},
		confCase{id: "3.4", name: "binary with RSV1 and RSV3", send: []frameOut{frag(fin|rsv1|rsv3|opBin, []byte{0, 1})}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "3.5", name: "ping with RSV2 and RSV3", send: []frameOut{frag(fin|rsv2|rsv3|opPing, []byte("p"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "3.6", name: "close with all three RSV bits", send: []frameOut{frag(fin|rsv1|rsv2|rsv3|opClose, closeOut(ws.CloseNormal, "").payload)}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "3.7", name: "unsolicited pong with RSV1", send: []frameOut{frag(fin|rsv1|opPong, nil)}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "3.8", name: "continuation with RSV3 inside a message",
			send: []frameOut{frag(opText, []byte("first ")), frag(fin|rsv3|opCont, []byte("last"))}, want: []reply{failed(ws.CloseProtocolError)}},
	)

	// 4 Opcodes: 0x3-0x7 and 0xB-0xF are reserved (RFC 6455, 5.2).
	for i, op := range []byte{0x3, 0x4, 0x5, 0x6, 0x7} {
		add(confCase{id: fmt.Sprintf("4.1.%d", i+1), name: fmt.Sprintf("reserved data opcode %#x", op),
			send: []frameOut{frag(fin|op, nil)}, want: []reply{failed(ws.CloseProtocolError)}})
	}
	add(confCase{id: "4.1.6", name: "good text, reserved opcode 0x5 with payload, ping",
		send: []frameOut{textOut("good"), frag(fin|0x5, []byte("reserved")), pingOut("never")},
		want: []reply{echoText("good"), failed(ws.CloseProtocolError)}})
	for i, op := range []byte{0xB, 0xC, 0xD, 0xE, 0xF} {
		add(confCase{id: fmt.Sprintf("4.2.%d", i+1), name: fmt.Sprintf("reserved control opcode %#x", op),
			send: []frameOut{frag(fin|op, nil)}, want: []reply{failed(ws.CloseProtocolError)}})
	}
	add(confCase{id: "4.2.6", name: "good text, reserved opcode 0xD with payload, ping, a byte at a time",
		send: []frameOut{textOut("good"), frag(fin|0xD, []byte("reserved")), pingOut("never")}, chop: 1,
		want: []reply{echoText("good"), failed(ws.CloseProtocolError)}})

	// 5 Fragmentation (RFC 6455, 5.4).
	add(
		confCase{id: "5.1", name: "ping in two fragments", send: []frameOut{frag(opPing, []byte("frag")), frag(fin|opCont, []byte("ment"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.2", name: "pong in two fragments", send: []frameOut{frag(opPong, []byte("frag")), frag(fin|opCont, []byte("ment"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.3", name: "text in two fragments", send: []frameOut{frag(opText, []byte("frag")), frag(fin|opCont, []byte("ment"))}, want: []reply{echoText("fragment")}},
		confCase{id: "5.4", name: "text in two fragments, a byte at a time", send: []frameOut{frag(opText, []byte("frag")), frag(fin|opCont, []byte("ment"))}, chop: 1, want: []reply{echoText("fragment")}},
		confCase{id: "5.5", name: "binary in three fragments, the middle one empty",
			send: []frameOut{frag(opBin, []byte{1, 2}), frag(opCont, nil), frag(fin|opCont, []byte{3})}, want: []reply{echoBin([]byte{1, 2, 3})}},
		confCase{id: "5.6", name: "text in two fragments with a ping between",
			send: []frameOut{frag(opText, []byte("frag")), pingOut("between"), frag(fin|opCont, []byte("ment"))}, want: []reply{pong("between"), echoText("fragment")}},
		confCase{id: "5.7", name: "text in two fragments with a ping between, a byte at a time",
			send: []frameOut{frag(opText, []byte("frag")), pingOut("between"), frag(fin|opCont, []byte("ment"))}, chop: 1, want: []reply{pong("between"), echoText("fragment")}},
		confCase{id: "5.8", name: "text in two fragments with an unsolicited pong between",
			send: []frameOut{frag(opText, []byte("frag")), pongOut("between"), frag(fin|opCont, []byte("ment"))}, want: []reply{echoText("fragment")}},
		confCase{id: "5.9", name: "final continuation with no message to continue", send: []frameOut{frag(fin|opCont, []byte("orphan"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.10", name: "continuation with no message to continue, not final", send: []frameOut{frag(opCont, []byte("orphan"))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.11", name: "continuations, then text", send: []frameOut{frag(opCont, []byte("a")), frag(fin|opCont, []byte("b")), textOut("c")}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.12", name: "a whole message, then a final continuation",
			send: []frameOut{textOut("whole"), frag(fin|opCont, []byte("orphan"))}, want: []reply{echoText("whole"), failed(ws.CloseProtocolError)}},
		confCase{id: "5.13", name: "text begun, then a new text message", send: []frameOut{frag(opText, []byte("begun")), textOut("new")}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.14", name: "text begun, then a binary fragment", send: []frameOut{frag(opText, []byte("begun")), frag(opBin, []byte{1})}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "5.15", name: "text in three fragments with ping, pong and ping between",
			send: []frameOut{frag(opText, []byte("one ")), pingOut("p1"), frag(opCont, []byte("two ")), pongOut("u"), pingOut("p2"), frag(fin|opCont, []byte("three"))},
			want: []reply{pong("p1"), pong("p2"), echoText("one two three")}},
		confCase{id: "5.16", name: "binary message in 100 fragments of 10 bytes",
			send: fragments(opBin, confBytes(1000, 516), 10), want: []reply{echoBin(confBytes(1000, 516))}},
		confCase{id: "5.17", name: "text message of three empty fragments",
			send: []frameOut{frag(opText, nil), frag(opCont, nil), frag(fin|opCont, nil)}, want: []reply{echoText("")}},
		confCase{id: "5.18", name: "two fragmented messages back to back",
			send: []frameOut{frag(opText, []byte("ab")), frag(fin|opCont, []byte("cd")), frag(opBin, []byte{1}), frag(fin|opCont, []byte{2})},
			want: []reply{echoText("abcd"), echoBin([]byte{1, 2})}},
	)

	// 6 UTF-8 (RFC 6455, 5.6 and 8.1; RFC 3629): text must be valid UTF-8,
	// checked across fragments and frame boundaries.
	valid := []struct{ name, s string }{
		{name: "mixed Latin", s: "Hello-µ@ßöäüàá-UTF-8!!"},
		{name: "Greek kosme", s: "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"},
		{name: "NUL", s: "\x00"},
		{name: "first 2-byte sequence U+0080", s: "\xc2\x80"},
		{name: "first 3-byte sequence U+0800", s: "\xe0\xa0\x80"},
		{name: "first 4-byte sequence U+10000", s: "\xf0\x90\x80\x80"},
		{name: "last 1-byte sequence U+007F", s: "\x7f"},
		{name: "last 2-byte sequence U+07FF", s: "\xdf\xbf"},
		{name: "last 3-byte sequence U+FFFF", s: "\xef\xbf\xbf"},
		{name: "last 4-byte sequence U+10FFFF", s: "\xf4\x8f\xbf\xbf"},
		{name: "U+D7FF, below the surrogates", s: "\xed\x9f\xbf"},
		{name: "U+E000, above the surrogates", s: "\xee\x80\x80"},
		{name: "U+FFFD", s: "\xef\xbf\xbd"},
		{name: "noncharacters U+FFFE and U+FDD0", s: "\xef\xbf\xbe\xef\xb7\x90"},
	}
	for i, v := range valid {
		add(confCase{id: fmt.Sprintf("6.1.%d", i+1), name: "valid: " + v.name, send: []frameOut{textOut(v.s)}, want: []reply{echoText(v.s)}})
	}
	kosme := valid[1].s
	for k := 1; k < len(kosme); k++ {
		add(confCase{id: fmt.Sprintf("6.2.%d", k), name: fmt.Sprintf("valid Greek kosme split into two fragments at byte %d", k),
			send: []frameOut{frag(opText, []byte(kosme[:k])), frag(fin|opCont, []byte(kosme[k:]))}, want: []reply{echoText(kosme)}})
	}
	add(
		confCase{id: "6.3.1", name: "valid 4-byte sequence in three fragments",
			send: []frameOut{frag(opText, []byte("\xf0")), frag(opCont, []byte("\x9f\x98")), frag(fin|opCont, []byte("\x80"))}, want: []reply{echoText("\U0001F600")}},
		confCase{id: "6.3.2", name: "valid sequence split across fragments with a ping between",
			send: []frameOut{frag(opText, []byte("ab\xe2")), pingOut("mid-rune"), frag(fin|opCont, []byte("\x82\xac"))}, want: []reply{pong("mid-rune"), echoText("ab€")}},
		confCase{id: "6.3.3", name: "valid Greek kosme in one-byte fragments",
			send: fragments(opText, []byte(kosme), 1), want: []reply{echoText(kosme)}},
	)
	invalid := []struct{ name, s string }{
		{name: "lone continuation byte", s: "\x80"},
		{name: "continuation bytes after ASCII", s: "ab\xbf\x80"},
		{name: "lone start byte then space", s: "\xc0 "},
		{name: "start byte of a 3-byte sequence then space", s: "\xe1 "},
		{name: "5-byte sequence", s: "\xf8\x88\x80\x80\x80"},
		{name: "6-byte sequence", s: "\xfc\x84\x80\x80\x80\x80"},
		{name: "byte 0xFE", s: "\xfe"},
		{name: "byte 0xFF", s: "\xff"},
		{name: "overlong '/' in 2 bytes", s: "\xc0\xaf"},
		{name: "overlong '/' in 3 bytes", s: "\xe0\x80\xaf"},
		{name: "overlong '/' in 4 bytes", s: "\xf0\x80\x80\xaf"},
		{name: "largest overlong 2-byte sequence", s: "\xc1\xbf"},
		{name: "largest overlong 3-byte sequence", s: "\xe0\x9f\xbf"},
		{name: "largest overlong 4-byte sequence", s: "\xf0\x8f\xbf\xbf"},
		{name: "overlong NUL", s: "\xc0\x80"},
		{name: "high surrogate U+D800", s: "\xed\xa0\x80"},
		{name: "low surrogate U+DFFF", s: "\xed\xbf\xbf"},
		{name: "surrogate pair U+D800 U+DC00", s: "\xed\xa0\x80\xed\xb0\x80"},
		{name: "above U+10FFFF", s: "\xf4\x90\x80\x80"},
		{name: "3-byte sequence missing its last byte", s: "ok \xe2\x82"},
		{name: "4-byte sequence missing its last byte", s: "\xf0\x9f\x98"},
		{name: "invalid sequence after valid Greek", s: kosme + "\xed\xa0\x80edited"},
	}
	for i, v := range invalid {
		add(confCase{id: fmt.Sprintf("6.4.%d", i+1), name: "invalid: " + v.name, send: []frameOut{textOut(v.s)}, want: []reply{failed(ws.CloseInvalidPayload)}})
	}
	add(
		confCase{id: "6.5.1", name: "invalid across a fragment boundary",
			send: []frameOut{frag(opText, []byte("ok \xe2\x82")), frag(fin|opCont, []byte("\x28"))}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.2", name: "surrogate split across fragments",
			send: []frameOut{frag(opText, []byte("\xed")), frag(fin|opCont, []byte("\xa0\x80"))}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.3", name: "message ends inside a sequence begun in an earlier fragment",
			send: []frameOut{frag(opText, []byte("\xf0\x90")), frag(opCont, []byte("\x80")), frag(fin|opCont, nil)}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.4", name: "invalid across fragments with a ping between",
			send: []frameOut{frag(opText, []byte("ab\xe2")), pingOut("mid-rune"), frag(fin|opCont, []byte("\x82\x28"))}, want: []reply{pong("mid-rune"), failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.5", name: "fail fast: invalid first fragment, the rest never sent",
			send: []frameOut{frag(opText, []byte("fine so far \xc0\xaf"))}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.6", name: "fail fast: invalid start of a frame whose rest never comes",
			send: []frameOut{{b0: fin | opText, payload: []byte("ok\xffand then 40 more bytes that never arrive"), cut: 3}}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.7", name: "invalid tail of a text frame written a byte at a time",
			send: []frameOut{textOut(kosme + "\xf4\x90\x80\x80")}, chop: 1, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.5.8", name: "valid message, then invalid continuation of the next",
			send: []frameOut{textOut("first"), frag(opText, []byte("second ")), frag(fin|opCont, []byte("\xff"))}, want: []reply{echoText("first"), failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.6.1", name: "close reason in valid UTF-8", send: []frameOut{closeOut(ws.CloseNormal, kosme)}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "6.6.2", name: "close reason with a surrogate", send: []frameOut{closeOut(ws.CloseNormal, kosme+"\xed\xa0\x80")}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.6.3", name: "close reason cut inside a sequence", send: []frameOut{closeOut(ws.CloseNormal, "bye \xe2\x82")}, want: []reply{failed(ws.CloseInvalidPayload)}},
		confCase{id: "6.6.4", name: "binary is not checked for UTF-8", send: []frameOut{binOut([]byte("\xff\xfe\xc0\xaf"))}, want: []reply{echoBin([]byte("\xff\xfe\xc0\xaf"))}},
	)

	// 7 Close handling (RFC 6455, 5.5.1, 7.1, 7.4).
	add(
		confCase{id: "7.1.1", name: "text, then close", send: []frameOut{textOut("last words"), closeOut(ws.CloseNormal, "")}, want: []reply{echoText("last words"), closed(ws.CloseNormal)}},
		confCase{id: "7.1.2", name: "close, then a second close", send: []frameOut{closeOut(ws.CloseNormal, ""), closeOut(ws.CloseGoingAway, "again")}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.1.3", name: "close, then a ping", send: []frameOut{closeOut(ws.CloseNormal, ""), pingOut("after close")}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.1.4", name: "close, then text", send: []frameOut{closeOut(ws.CloseNormal, ""), textOut("after close")}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.1.5", name: "first fragment, close, last fragment",
			send: []frameOut{frag(opText, []byte("never ")), closeOut(ws.CloseNormal, ""), frag(fin|opCont, []byte("finished"))}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.1.6", name: "a large message, then close at once",
			send: []frameOut{binOut(confBytes(100<<10, 716)), closeOut(ws.CloseNormal, "")}, want: []reply{echoBin(confBytes(100<<10, 716)), closed(ws.CloseNormal)}},
		confCase{id: "7.2.1", name: "close without payload", send: []frameOut{closeOut(0, "")}, want: []reply{closed(ws.CloseNoStatus)}},
		confCase{id: "7.2.2", name: "close with a 1-byte payload", send: []frameOut{frag(fin|opClose, []byte{0x03})}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "7.2.3", name: "close with a code and no reason", send: []frameOut{closeOut(ws.CloseNormal, "")}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.2.4", name: "close with a code and a reason", send: []frameOut{closeOut(ws.CloseNormal, "Hello, close!")}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.2.5", name: "close with a 123-byte reason, the most that fits", send: []frameOut{closeOut(ws.CloseNormal, strings.Repeat("r", 123))}, want: []reply{closed(ws.CloseNormal)}},
		confCase{id: "7.2.6", name: "close with a 124-byte reason, a 126-byte payload", send: []frameOut{closeOut(ws.CloseNormal, strings.Repeat("r", 124))}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "7.2.7", name: "close in two fragments", send: []frameOut{frag(opClose, []byte{0x03}), frag(fin|opCont, []byte{0xe8})}, want: []reply{failed(ws.CloseProtocolError)}},
		confCase{id: "7.2.8", name: "close with a reason, written a byte at a time", send: []frameOut{closeOut(ws.CloseGoingAway, "split \xe2\x82\xac")}, chop: 1, want: []reply{closed(ws.CloseGoingAway)}},
		confCase{id: "7.2.9", name: "close with an invalid reason, written a byte at a time", send: []frameOut{closeOut(ws.CloseGoingAway, "split \xe2\x82")}, chop: 1, want: []reply{failed(ws.CloseInvalidPayload)}},
	)
	// Codes a peer may send: RFC 6455's, the IANA registry's 1012-1014,
	// and the ranges for libraries and applications (7.4.2).
	for i, code := range []ws.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(confCase{id: fmt.Sprintf("7.3.%d", i+1), name: fmt.Sprintf("close code %d is echoed", code),
			send: []frameOut{closeOut(code, "code")}, want: []reply{closed(code)}})
	}
	// Codes that must never appear in a close frame: reserved, unassigned,
	// or out of range (7.4.1, 7.4.2).
	for i, code := range []ws.CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		p := binary.BigEndian.AppendUint16(nil, uint16(code))
		add(confCase{id: fmt.Sprintf("7.4.%d", i+1), name: fmt.Sprintf("close code %d is refused", code),
			send: []frameOut{frag(fin|opClose, p)}, want: []reply{failed(ws.CloseProtocolError)}})
	}

	// 9 Limits: messages and frames around MaxMessage, and many small
	// frames.
	atMax, overMax := confBytes(confMax, 901), confBytes(confMax+1, 902)
	var many []frameOut
	var echoes []reply
	for i := range 1000 {
		m := fmt.Sprintf("message %d", i)
		many = append(many, textOut(m))
		echoes = append(echoes, echoText(m))
	}
	pings = pings[:0]
	pongs = pongs[:0]
	for i := range 500 {
		pings = append(pings, pingOut(fmt.Sprint(i)))
		pongs = append(pongs, pong(fmt.Sprint(i)))
	}
	add(
		confCase{id: "9.1.1", name: "text message of exactly MaxMessage bytes", send: []frameOut{textOut(string(fill(confMax, 3)))}, want: []reply{echoText(string(fill(confMax, 3)))}},
		confCase{id: "9.1.2", name: "binary message of exactly MaxMessage bytes", send: []frameOut{binOut(atMax)}, want: []reply{echoBin(atMax)}},
		confCase{id: "9.1.3", name: "binary frame of MaxMessage+1 bytes", send: []frameOut{binOut(overMax)}, want: []reply{failed(ws.CloseMessageTooBig)}},
		confCase{id: "9.1.4", name: "a header claiming MaxMessage+1 bytes, judged before any payload",
			send: []frameOut{{b0: fin | opBin, claim: confMax + 1}}, want: []reply{failed(ws.CloseMessageTooBig)}},
		confCase{id: "9.1.5", name: "a header claiming 2^62 bytes", send: []frameOut{{b0: fin | opBin, claim: 1 << 62}}, want: []reply{failed(ws.CloseMessageTooBig)}},
		confCase{id: "9.2.1", name: "MaxMessage bytes in 4 KiB fragments", send: fragments(opBin, atMax, 4<<10), want: []reply{echoBin(atMax)}},
		confCase{id: "9.2.2", name: "MaxMessage+1 bytes in 4 KiB fragments", send: fragments(opBin, overMax, 4<<10), want: []reply{failed(ws.CloseMessageTooBig)}},
		confCase{id: "9.2.3", name: "a MaxMessage fragment, then an empty final one",
			send: []frameOut{frag(opText, fill(confMax, 4)), frag(fin|opCont, nil)}, want: []reply{echoText(string(fill(confMax, 4)))}},
		confCase{id: "9.2.4", name: "a MaxMessage fragment, then a continuation claiming 1 byte",
			send: []frameOut{frag(opBin, atMax), {b0: fin | opCont, claim: 1}}, want: []reply{failed(ws.CloseMessageTooBig)}},
		confCase{id: "9.2.5", name: "control frames between fragments do not count against MaxMessage",
			send: []frameOut{frag(opBin, atMax[:confMax/2]), pingOut(string(confBytes(125, 925))), frag(fin|opCont, atMax[confMax/2:])},
			want: []reply{pong(string(confBytes(125, 925))), echoBin(atMax)}},
		confCase{id: "9.2.6", name: "MaxMessage bytes written 997 bytes at a time", send: []frameOut{binOut(atMax)}, chop: 997, want: []reply{echoBin(atMax)}},
		confCase{id: "9.3.1", name: "1000 small text messages at once", send: many, want: echoes},
		confCase{id: "9.3.2", name: "a 1 KiB message in 1024 one-byte fragments", send: fragments(opBin, confBytes(1024, 932), 1), want: []reply{echoBin(confBytes(1024, 932))}},
		confCase{id: "9.3.3", name: "500 pings at once", send: pings, want: pongs},
		confCase{id: "9.3.4", name: "a message after a message at the limit reuses nothing stale",
			send: []frameOut{binOut(atMax), textOut("short")}, want: []reply{echoBin(atMax), echoText("short")}},
	)
	return cs
}

// group is the Autobahn-style group of a case id: "6" for "6.4.2".
func group(id string) string {
	g, _, _ := strings.Cut(id, ".")
	return g
}

// groupNames name the groups in the summary.
var groupNames = map[string]string{
	"1": "framing", "2": "pings and pongs", "3": "reserved bits", "4": "opcodes",
	"5": "fragmentation", "6": "UTF-8", "7": "close handling", "9": "limits",
}

// encode returns the frame's bytes as the peer sends them: masked with a
// fresh random key when masked (flipped by flipMask).
func (f frameOut) encode(masked bool) []byte {
	masked = masked != f.flipMask
	n := uint64(len(f.payload))
	if f.claim > 0 {
		n = f.claim
	}
	out := []byte{f.b0, 0}
	if masked {
		out[1] = 0x80
	}
	switch {
	case f.form == len16 || f.form == lenShortest && n >= 126 && n <= 0xFFFF:
		out[1] |= 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	case f.form == len64 || f.form == lenShortest && n > 0xFFFF:
		out[1] |= 127
		out = binary.BigEndian.AppendUint64(out, n)
	default:
		out[1] |= byte(n)
	}
	var key [4]byte
	if masked {
		binary.LittleEndian.PutUint32(key[:], rand.Uint32())
		out = append(out, key[:]...)
	}
	if f.claim > 0 {
		return out
	}
	start := len(out)
	out = append(out, f.payload...)
	if masked {
		for i := range f.payload {
			out[start+i] ^= key[i%4]
		}
	}
	if f.cut > 0 {
		out = out[:start+f.cut]
	}
	return out
}

// wire is the whole stream a case sends.
func (c confCase) wire(masked bool) []byte {
	var b bytes.Buffer
	for _, f := range c.send {
		b.Write(f.encode(masked))
	}
	return b.Bytes()
}
