package bench

import (
	"fmt"
	"strconv"

	"github.com/sockit/sockit/http1"
)

// ModeHTTP is the mode of http:// and https:// endpoints: each message is
// a GET of the endpoint's path on a keep-alive connection (Depth of them
// pipelined), and each response is checked: its status
// (Options.HTTPStatus), its framing (a Content-Length or chunked body
// that ends where it says) and, with Options.HTTPBody, its body.
const ModeHTTP Mode = "http"

// httpRequest is the request every message of an HTTP run sends.
func httpRequest(o *Options) []byte {
	return []byte("GET " + o.Endpoint.Path + " HTTP/1.1\r\nHost: " + o.Endpoint.Addr + "\r\nUser-Agent: sockit-bench\r\n\r\n")
}

// httpCheck follows the responses on one connection. Its fields belong to
// the connection's loop.
type httpCheck struct {
	resp    http1.Response
	inBody  bool
	left    int64 // Content-Length body: bytes still to come
	chunked bool
	chunk   http1.Chunked
	off     int64 // bytes of the body read so far
	bad     bool  // this response was already counted as bad
}

// httpData reads responses from in for b: it returns how much of in it
// consumed (a response head not yet whole is left for the next read) and
// how many responses completed, whose due times it appends to b.doneDue.
func (b *bconn) httpData(in []byte) (consumed int) {
	h := &b.h
	st := b.st
	for consumed < len(in) {
		if !h.inBody {
			n, err := http1.ParseResponse(&h.resp, in[consumed:], http1.Limits{MaxHead: 64 << 10})
			if err != nil {
				b.httpFault("http: malformed response", err.Error())
				b.c.Abort() // where the next response starts is not known
				return len(in)
			}
			if n == 0 {
				return consumed
			}
			consumed += n
			h.bad, h.off = false, 0
			if want := st.o.HTTPStatus; h.resp.Status != want {
				b.httpFault("http: status "+strconv.Itoa(h.resp.Status), fmt.Sprintf("want %d, got %d %s", want, h.resp.Status, h.resp.Reason))
			}
			switch n := h.resp.BodyLength(false); {
			case n == -2:
				b.httpFault("http: response without a length", "neither Content-Length nor chunked: its end is the connection's")
				b.c.Abort()
				return len(in)
			case n == -1:
				h.inBody, h.chunked = true, true
				h.chunk.Reset()
			case n > 0:
				h.inBody, h.chunked, h.left = true, false, n
			default:
				b.httpDone()
			}
			continue
		}
		if !h.chunked {
			k := int(min(int64(len(in)-consumed), h.left))
			b.httpBody(in[consumed : consumed+k])
			consumed += k
			if h.left -= int64(k); h.left == 0 {
				b.httpDone()
			}
			continue
		}
		n, data, err := h.chunk.Next(in[consumed:])
		if err != nil {
			b.httpFault("http: malformed chunked body", err.Error())
			b.c.Abort()
			return len(in)
		}
		if n == 0 {
			return consumed
		}
		consumed += n
		b.httpBody(data)
		if h.chunk.Done() {
			b.httpDone()
		}
	}
	return consumed
}

// httpBody checks a piece of the body against Options.HTTPBody.
func (b *bconn) httpBody(p []byte) {
	h := &b.h
	want := b.st.o.HTTPBody
	if b.st.verify && want != nil && !h.bad {
		end := h.off + int64(len(p))
		if end > int64(len(want)) || string(want[h.off:end]) != string(p) {
			b.httpFault("http: body differs", fmt.Sprintf("response %d: the body differs from the one expected at byte %d", b.done+1, h.off))
		}
	}
	h.off += int64(len(p))
}

// httpDone completes a response.
func (b *bconn) httpDone() {
	h := &b.h
	h.inBody = false
	if want := b.st.o.HTTPBody; b.st.verify && want != nil && !h.bad && h.off != int64(len(want)) {
		b.httpFault("http: body length", fmt.Sprintf("response %d: %d bytes of body, want %d", b.done+1, h.off, len(want)))
	}
	b.doneDue = append(b.doneDue, b.due[b.done%int64(len(b.due))])
	b.done++
}

// httpFault counts the current response as bad, once.
func (b *bconn) httpFault(kind, example string) {
	if b.h.bad {
		return
	}
	b.h.bad = true
	b.st.r.badResponse(b.id, b.done, kind, example)
}

// badResponse counts a response that failed its check: a mismatched
// message, and an error of its kind with an example.
func (r *recorder) badResponse(conn int, index int64, kind, example string) {
	r.mu.Lock()
	r.check.MismatchedMsgs++
	if r.check.FirstMismatch == nil {
		r.check.FirstMismatch = &Offset{Conn: conn, Offset: index, Want: -1, Got: -1}
	}
	r.mu.Unlock()
	r.failText(kind, example)
}
