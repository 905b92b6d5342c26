package ws

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455, section 5.2).
type Opcode uint8

// The opcodes RFC 6455 defines. The others are reserved, and a frame that
// carries one fails the connection with CloseProtocolError.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}

// IsControl reports whether op is a control opcode (close, ping, pong, and
// the reserved 0xB-0xF).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// CloseCode is the status code of a close frame (RFC 6455, section 7.4).
type CloseCode uint16

// Close codes. CloseNoStatus and CloseAbnormal are never sent: they say, to
// OnClose, that a close frame had no code or that there was no close frame.
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005
	CloseAbnormal           CloseCode = 1006
	CloseInvalidPayload     CloseCode = 1007
	ClosePolicyViolation    CloseCode = 1008
	CloseMessageTooBig      CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010
	CloseInternalError      CloseCode = 1011
)

func (c CloseCode) String() string {
	var name string
	switch c {
	case CloseNormal:
		name = "normal"
	case CloseGoingAway:
		name = "going away"
	case CloseProtocolError:
		name = "protocol error"
	case CloseUnsupportedData:
		name = "unsupported data"
	case CloseNoStatus:
		name = "no status"
	case CloseAbnormal:
		name = "abnormal closure"
	case CloseInvalidPayload:
		name = "invalid payload"
	case ClosePolicyViolation:
		name = "policy violation"
	case CloseMessageTooBig:
		name = "message too big"
	case CloseMandatoryExtension:
		name = "mandatory extension"
	case CloseInternalError:
		name = "internal error"
	default:
		return strconv.Itoa(int(c))
	}
	return strconv.Itoa(int(c)) + " " + name
}

// sendable reports whether c may appear in a close frame: the codes RFC 6455
// and the IANA registry define (1012-1014 were added there), and the ranges
// for libraries (3000-3999) and applications (4000-4999). 1004, 1005, 1006
// and 1015 are reserved and never sent.
func (c CloseCode) sendable() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// ProtocolError is a violation of RFC 6455 by the peer (or a bad handshake).
// The connection is failed: a close frame with Code is sent, and the TCP
// connection closed.
type ProtocolError struct {
	Code CloseCode
	Msg  string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.Msg, e.Code)
}

func protoErr(code CloseCode, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CloseError is a close frame the peer sent: BlockingConn.ReadMessage
// returns it once the peer has closed, and Stream.Read for a close code
// other than a normal one.
type CloseError struct {
	Code   CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: closed by peer (%v)", e.Code)
	}
	return fmt.Sprintf("websocket: closed by peer (%v): %s", e.Code, e.Reason)
}

// maxControl is the largest payload of a control frame (RFC 6455, 5.5).
const maxControl = 125

// maxHeader is the longest frame header: 2 bytes, an 8-byte length and a
// 4-byte masking key.
const maxHeader = 14

// appendFrame appends one frame to dst. If masked, the payload is masked
// with key (RFC 6455, 5.3), as a client must.
func appendFrame(dst []byte, fin bool, op Opcode, payload []byte, masked bool, key [4]byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, b0, b1|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, b1|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], key, 0)
	return dst
}

// maskBytes XORs b with key, starting at key position pos, and returns the
// key position after b. Masking and unmasking are the same operation.
func maskBytes(b []byte, key [4]byte, pos int) int {
	pos &= 3
	for len(b) > 0 && pos != 0 {
		b[0] ^= key[pos]
		b = b[1:]
		pos = (pos + 1) & 3
	}
	// Eight bytes at a time: pos is 0 here, so the key repeats from key[0].
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	return pos
}

// closePayload builds the payload of a close frame. A reason is cut to
// fit the 125 bytes of a control frame, at a rune boundary.
func closePayload(code CloseCode, reason string) []byte {
	if code == 0 || code == CloseNoStatus {
		return nil
	}
	if len(reason) > maxControl-2 {
		reason = reason[:maxControl-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return append(p, reason...)
}

// parseClose reads a close frame's payload (RFC 6455, 5.5.1): empty, or a
// sendable code and a UTF-8 reason.
func parseClose(p []byte) (CloseCode, string, *ProtocolError) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protoErr(CloseProtocolError, "close frame with a 1-byte payload")
	}
	code := CloseCode(binary.BigEndian.Uint16(p))
	if !code.sendable() {
		return 0, "", protoErr(CloseProtocolError, "close frame with invalid code %d", code)
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", protoErr(CloseInvalidPayload, "close reason is not valid UTF-8")
	}
	return code, string(p[2:]), nil
}

// frameReader turns a byte stream into messages and control frames. It
// keeps its own state between calls, so a frame may arrive in any number
// of pieces; it consumes payload as it comes (keeping at most one
// message), and leaves only an incomplete header (< 14 bytes) unconsumed.
type frameReader struct {
	max     int  // largest message (and frame) accepted
	masked  bool // frames must be masked (a server reading a client); else must not be
	inFrame bool // a header was read; payload is due

	// The frame being read.
	fin    bool
	op     Opcode
	key    [4]byte
	left   int // payload bytes still due
	keyPos int // masking key position of the next payload byte

	// The message being assembled, while msgOp is not 0.
	msgOp   Opcode
	msg     []byte
	msgp    *[]byte // the msgPool entry msg came from, if it did
	checked int     // bytes of msg known to be valid UTF-8 (text only)
	ctrl    []byte
}

// retainMax is the largest message buffer a reader keeps between
// messages; a larger one goes back to the garbage collector.
const retainMax = 64 << 10

// next reads from in and returns how many bytes it consumed and, when one
// is complete, a message (OpText, OpBinary) or a control frame (OpClose,
// OpPing, OpPong) with its payload. op 0 means more input is needed: call
// again with the unconsumed rest of in followed by more bytes. data is
// valid until the next call. Payloads are unmasked in place in in, so in
// must be writable. A non-nil error is a protocol violation: the stream is
// beyond repair.
func (r *frameReader) next(in []byte) (n int, op Opcode, data []byte, err *ProtocolError) {
	for {
		if !r.inFrame {
			hn, perr := r.header(in[n:])
			if perr != nil || hn == 0 {
				return n, 0, nil, perr
			}
			n += hn
			// Fast path: the whole frame is here and is a whole message or
			// a control frame; unmask it in place and hand it over.
			if r.fin && r.left <= len(in)-n && r.op != OpContinuation {
				p := in[n : n+r.left]
				n += r.left
				r.inFrame, r.left = false, 0
				maskBytes(p, r.key, 0)
				if r.op.IsControl() {
					return n, r.op, p, r.control(p)
				}
				r.msgOp = 0
				if r.op == OpText && !utf8.Valid(p) {
					return n, 0, nil, protoErr(CloseInvalidPayload, "text message is not valid UTF-8")
				}
				return n, r.op, p, nil
			}
			continue
		}
		avail := min(r.left, len(in)-n)
		if avail == 0 && r.left > 0 {
			return n, 0, nil, nil
		}
		chunk := in[n : n+avail]
		n += avail
		r.left -= avail
		if r.op.IsControl() {
			start := len(r.ctrl)
			r.ctrl = append(r.ctrl, chunk...)
			r.keyPos = maskBytes(r.ctrl[start:], r.key, r.keyPos)
		} else {
			start := len(r.msg)
			if r.msg == nil && len(chunk) <= retainMax {
				r.msgp = msgPool.Get().(*[]byte)
				r.msg = (*r.msgp)[:0]
			}
			r.msg = appendBounded(r.msg, chunk, r.max)
			r.keyPos = maskBytes(r.msg[start:], r.key, r.keyPos)
			if r.msgOp == OpText {
				k, ok := utf8Prefix(r.msg[r.checked:])
				if !ok {
					return n, 0, nil, protoErr(CloseInvalidPayload, "text message is not valid UTF-8")
				}
				r.checked += k
			}
		}
		if r.left > 0 {
			continue // in is used up; the next pass asks for more
		}
		r.inFrame = false
		if r.op.IsControl() {
			p := r.ctrl
			r.ctrl = r.ctrl[:0]
			return n, r.op, p, r.control(p)
		}
		if !r.fin {
			continue
		}
		op := r.msgOp
		r.msgOp = 0
		if op == OpText && r.checked != len(r.msg) {
			return n, 0, nil, protoErr(CloseInvalidPayload, "text message ends inside a UTF-8 sequence")
		}
		return n, op, r.msg, nil
	}
}

// control checks a complete control frame's payload.
func (r *frameReader) control(p []byte) *ProtocolError {
	if r.op != OpClose {
		return nil
	}
	_, _, err := parseClose(p)
	return err
}

// header parses and checks a frame header at the start of b. It returns 0
// if b holds only part of one (having checked what it could).
func (r *frameReader) header(b []byte) (int, *ProtocolError) {
	if len(b) < 2 {
		return 0, nil
	}
	b0, b1 := b[0], b[1]
	fin, op, masked, l := b0&0x80 != 0, Opcode(b0&0x0F), b1&0x80 != 0, int(b1&0x7F)
	switch {
	case b0&0x70 != 0:
		return 0, protoErr(CloseProtocolError, "reserved bits set (no extension was negotiated)")
	case op > OpBinary && op < OpClose || op > OpPong:
		return 0, protoErr(CloseProtocolError, "reserved opcode %#x", uint8(op))
	case op.IsControl() && !fin:
		return 0, protoErr(CloseProtocolError, "fragmented %v frame", op)
	case op.IsControl() && l > maxControl:
		return 0, protoErr(CloseProtocolError, "%v frame longer than 125 bytes", op)
	case masked != r.masked && r.masked:
		return 0, protoErr(CloseProtocolError, "unmasked frame from a client")
	case masked != r.masked:
		return 0, protoErr(CloseProtocolError, "masked frame from a server")
	case op == OpContinuation && r.msgOp == 0:
		return 0, protoErr(CloseProtocolError, "continuation frame with no message to continue")
	case op == OpText || op == OpBinary:
		if r.msgOp != 0 {
			return 0, protoErr(CloseProtocolError, "new %v message inside a fragmented one", op)
		}
	}
	need := 2
	switch l {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if masked {
		need += 4
	}
	if len(b) < need {
		return 0, nil
	}
	// RFC 6455, 5.2: "the minimal number of bytes MUST be used to encode
	// the length", and a 64-bit length has its most significant bit 0.
	var length uint64
	switch l {
	case 126:
		length = uint64(binary.BigEndian.Uint16(b[2:]))
		if length < 126 {
			return 0, protoErr(CloseProtocolError, "16-bit frame length %d fits in 7 bits", length)
		}
	case 127:
		length = binary.BigEndian.Uint64(b[2:])
		switch {
		case length>>63 != 0:
			return 0, protoErr(CloseProtocolError, "frame length with the top bit set")
		case length <= 0xFFFF:
			return 0, protoErr(CloseProtocolError, "64-bit frame length %d fits in 16 bits", length)
		}
	default:
		length = uint64(l)
	}
	if !op.IsControl() {
		have := 0
		if op == OpContinuation {
			have = len(r.msg)
		}
		if length > uint64(r.max-have) {
			return 0, protoErr(CloseMessageTooBig, "message longer than %d bytes", r.max)
		}
	}
	r.inFrame, r.fin, r.op, r.left, r.keyPos = true, fin, op, int(length), 0
	r.key = [4]byte{}
	if masked {
		copy(r.key[:], b[need-4:need])
	}
	if op == OpText || op == OpBinary {
		r.msgOp, r.checked = op, 0
		if cap(r.msg) > retainMax {
			r.msg = nil
		}
		r.msg = r.msg[:0]
	}
	return need, nil
}

// utf8Prefix checks b, which starts at a rune boundary, for UTF-8. It
// returns how many bytes are complete valid runes, and false if b holds an
// invalid sequence (an incomplete rune at the end is not invalid: its rest
// may come in the next fragment).
func utf8Prefix(b []byte) (int, bool) {
	if utf8.Valid(b) {
		return len(b), true
	}
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return i, true
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i, false
		}
		i += size
	}
	return i, true
}

// msgPool holds message buffers of retainMax bytes, for readers that
// give theirs back between messages (release).
var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, retainMax); return &b }}

// release gives the message buffer back: the message handed over with it
// has been used. An idle reader keeps none.
func (r *frameReader) release() {
	if r.msg == nil || r.msgOp != 0 {
		return
	}
	if r.msgp != nil && cap(r.msg) == retainMax {
		*r.msgp = r.msg[:0]
		msgPool.Put(r.msgp)
	}
	r.msg, r.msgp = nil, nil
}

// appendBounded appends p to b, growing b by doubling as append does but
// never past limit bytes of capacity (when b and p fit in limit): a
// message that may be limit bytes long is assembled in at most limit
// bytes, not in twice that.
func appendBounded(b, p []byte, limit int) []byte {
	need := len(b) + len(p)
	if need > cap(b) && need <= limit {
		nb := make([]byte, len(b), min(limit, max(2*cap(b), need, 512)))
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}
