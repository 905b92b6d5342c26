package ws

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// maskBytes agrees with the byte-at-a-time definition at every key
// position and length.
func TestMaskBytes(t *testing.T) {
	t.Parallel()
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for pos := range 4 {
		for n := range 40 {
			b := bytes.Repeat([]byte{0xA5}, n)
			want := bytes.Clone(b)
			for i := range want {
				want[i] ^= key[(pos+i)%4]
			}
			if next := maskBytes(b, key, pos); next != (pos+n)%4 || !bytes.Equal(b, want) {
				t.Fatalf("pos %d, n %d: got % x (next %d), want % x (next %d)", pos, n, b, next, want, (pos+n)%4)
			}
		}
	}
}

// utf8Prefix accepts what utf8.Valid accepts, and an incomplete rune at
// the end only when it is a valid start.
func TestUTF8Prefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		n    int
		ok   bool
		name string
	}{
		{name: "ascii", in: "hello", n: 5, ok: true},
		{name: "whole", in: "κόσμε", n: len("κόσμε"), ok: true},
		{name: "cut-euro", in: "a\xe2\x82", n: 1, ok: true},
		{name: "cut-4-byte", in: "\xf0\x9f\x98", n: 0, ok: true},
		{name: "bad-continuation", in: "\xe2\x28\xa1", ok: false},
		{name: "overlong", in: "\xc0\xaf", ok: false},
		{name: "surrogate", in: "\xed\xa0\x80", ok: false},
		{name: "above-max", in: "\xf4\x90\x80\x80", ok: false},
		{name: "bad-start-cut", in: "\xf8\x88", ok: false},
		{name: "cut-after-bad-second", in: "\xe0\x80", ok: false},
	} {
		n, ok := utf8Prefix([]byte(tt.in))
		if ok != tt.ok || (ok && n != tt.n) {
			t.Errorf("%s: utf8Prefix(%q) = %d, %v; want %d, %v", tt.name, tt.in, n, ok, tt.n, tt.ok)
		}
	}
}

// acceptKey matches the example of RFC 6455, 1.3.
func TestAcceptKey(t *testing.T) {
	t.Parallel()
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptKey = %q", got)
	}
	if k := newKey(); !validKey(k) {
		t.Errorf("newKey() = %q, not valid", k)
	}
}

// A close payload longer than a control frame allows is cut at a rune
// boundary.
func TestClosePayload(t *testing.T) {
	t.Parallel()
	p := closePayload(CloseNormal, string(bytes.Repeat([]byte("€"), 60)))
	if len(p) > maxControl || !utf8.Valid(p[2:]) {
		t.Errorf("closePayload: %d bytes, valid UTF-8 %v", len(p), utf8.Valid(p[2:]))
	}
	code, _, err := parseClose(p)
	if code != CloseNormal || err != nil {
		t.Errorf("parseClose = %v, %v", code, err)
	}
}

// event is one result of a frameReader: a message or control frame, or an
// error.
type event struct {
	op   Opcode
	data string
	code CloseCode
}

// readAll feeds wire to a frameReader in pieces whose ends are chosen by
// cut, offering the unconsumed rest again in front of the next piece as
// the engine does, and returns what it read.
func readAll(t testing.TB, wire []byte, masked bool, max int, cut func(rest int) int) []event {
	r := frameReader{max: max, masked: masked}
	var out []event
	var pending []byte
	for len(wire) > 0 {
		k := max1(cut(len(wire)), len(wire))
		pending = append(pending, wire[:k]...)
		wire = wire[k:]
		for {
			n, op, data, err := r.next(pending)
			if n < 0 || n > len(pending) {
				t.Fatalf("next consumed %d of %d bytes", n, len(pending))
			}
			pending = pending[n:]
			if err != nil {
				return append(out, event{code: err.Code})
			}
			if op == 0 {
				if len(pending) >= maxHeader {
					t.Fatalf("next wants more input with %d bytes unconsumed", len(pending))
				}
				break
			}
			out = append(out, event{op: op, data: string(data)})
		}
		pending = bytes.Clone(pending) // the engine's buffer is its own
	}
	return out
}

func max1(k, n int) int { return min(max(k, 1), n) }

// Frames read the same in any split, and the reader's verdicts hold.
func TestFrameReaderSplits(t *testing.T) {
	t.Parallel()
	key := [4]byte{1, 2, 3, 4}
	var wire []byte
	wire = appendFrame(wire, false, OpText, []byte("frag "), true, key)
	wire = appendFrame(wire, true, OpPing, []byte("ping"), true, key)
	wire = appendFrame(wire, true, OpContinuation, []byte("mented €"), true, key)
	wire = appendFrame(wire, true, OpBinary, bytes.Repeat([]byte{7}, 70000), true, key)
	wire = appendFrame(wire, true, OpClose, closePayload(CloseNormal, "bye"), true, key)
	want := []event{
		{op: OpPing, data: "ping"},
		{op: OpText, data: "frag mented €"},
		{op: OpBinary, data: string(bytes.Repeat([]byte{7}, 70000))},
		{op: OpClose, data: string(closePayload(CloseNormal, "bye"))},
	}
	for _, split := range []struct {
		name string
		cut  func(int) int
	}{
		{"whole", func(n int) int { return n }},
		{"bytes", func(int) int { return 1 }},
		{"sevens", func(int) int { return 7 }},
		{"random", func(n int) int { return 1 + rand.IntN(n) }},
	} {
		got := readAll(t, bytes.Clone(wire), true, 1<<20, split.cut)
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", split.name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: event %d = %v %.20q, want %v %.20q", split.name, i, got[i].op, got[i].data, want[i].op, want[i].data)
			}
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes, in arbitrary splits, to the frame
// reader of either side: it must never panic, must leave at most a partial
// header unconsumed, and must read the same frames (or fail the same way)
// however the bytes are split.
func FuzzFrameReader(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	f.Add(appendFrame(nil, true, OpText, []byte("hello"), true, key), uint64(1), true)
	f.Add(appendFrame(appendFrame(nil, false, OpBinary, []byte{1, 2}, false, key), true, OpContinuation, []byte{3}, false, key), uint64(2), false)
	f.Add(appendFrame(nil, true, OpText, []byte("\xe2\x82\xac"), true, key), uint64(3), true)
	f.Add(appendFrame(nil, true, OpClose, []byte{3, 0xe8, 'o', 'k'}, true, key), uint64(4), true)
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4}, uint64(5), true)
	f.Add([]byte{0x89, 0xFE, 0, 200}, uint64(6), true)
	f.Add([]byte{0xC1, 0x80}, uint64(7), true)
	f.Fuzz(func(t *testing.T, wire []byte, seed uint64, masked bool) {
		const max = 4 << 10
		whole := readAll(t, bytes.Clone(wire), masked, max, func(n int) int { return n })
		r := rand.New(rand.NewPCG(seed, seed>>1))
		split := readAll(t, bytes.Clone(wire), masked, max, func(n int) int { return 1 + r.IntN(min(n, 64)) })
		if len(whole) != len(split) {
			t.Fatalf("whole: %d events, split: %d", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("event %d: whole %+v, split %+v", i, whole[i], split[i])
			}
			if e := whole[i]; e.op == OpText && !utf8.ValidString(e.data) {
				t.Fatalf("text message %q is not UTF-8", e.data)
			}
			if e := whole[i]; e.code == 0 && len(e.data) > max {
				t.Fatalf("message of %d bytes, max %d", len(e.data), max)
			}
		}
	})
}
