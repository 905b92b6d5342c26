package http1_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sockit/sockit/http1"
)

// FuzzParseRequest: no panic; a head is read whole or not at all; what
// is read is consistent (its slices lie within it, the framing is one of
// Content-Length or chunked); errors carry a 4xx or 5xx status; and the
// same bytes given a byte at a time more never change the verdict.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"GET http://h/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 512
		var r http1.Request
		n, err := http1.ParseRequest(&r, b, http1.Limits{MaxHead: max, MaxFields: 16})
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		var he *http1.Error
		if err != nil {
			if !errors.As(err, &he) || he.Status < 400 || he.Status > 505 || he.Reason == "" {
				t.Fatalf("error %v", err)
			}
			return
		}
		if n == 0 {
			if bytes.Contains(b[:min(len(b), max)], []byte("\r\n\r\n")) && len(bytes.TrimLeft(b, "\r\n")) > 0 && !bytes.HasPrefix(b, []byte("\r\n\r\n")) {
				t.Fatalf("incomplete, though a whole head is there: %q", b)
			}
			return
		}
		head := b[:n]
		for _, s := range [][]byte{r.Method, r.Target, r.Host} {
			if len(s) > 0 && !within(head, s) {
				t.Fatalf("a slice outside the head")
			}
		}
		if r.Chunked && r.ContentLength >= 0 {
			t.Fatalf("both chunked and Content-Length %d", r.ContentLength)
		}
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Fatalf("the head %q does not end in CRLF CRLF", head)
		}
		var again http1.Request
		if m, err := http1.ParseRequest(&again, append(bytes.Clone(head), "GET"...), http1.Limits{MaxHead: max, MaxFields: 16}); m != n || err != nil {
			t.Fatalf("with more bytes after it: %d, %v; alone: %d", m, err, n)
		}
	})
}

// within reports whether s lies inside b's memory.
func within(b, s []byte) bool {
	if len(s) == 0 || len(b) == 0 {
		return true
	}
	start := cap(b) - cap(s)
	return start >= 0 && start+len(s) <= len(b)
}

// FuzzChunked: no panic; in any split, a body decodes to the same data and
// the same verdict as given whole; it never consumes past its end.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"), uint8(1))
	f.Add([]byte("A;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nGET"), uint8(3))
	f.Add([]byte("0x1\r\na\r\n0\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, step uint8) {
		whole, wholeDone, wholeUsed, wholeErr := decode(body, len(body)+1)
		part, partDone, partUsed, partErr := decode(body, int(step%16)+1)
		if (wholeErr == nil) != (partErr == nil) || wholeDone != partDone || !bytes.Equal(whole, part) {
			t.Fatalf("whole: %q %v %v; in pieces of %d: %q %v %v", whole, wholeDone, wholeErr, step%16+1, part, partDone, partErr)
		}
		if wholeDone && (wholeUsed != partUsed || wholeUsed > len(body)) {
			t.Fatalf("used %d whole, %d in pieces, of %d", wholeUsed, partUsed, len(body))
		}
		if len(whole) > len(body) {
			t.Fatalf("more data than bytes")
		}
	})
}

// FuzzParseResponse: no panic, a consistent verdict.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404\r\nTransfer-Encoding: gzip\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r http1.Response
		n, err := http1.ParseResponse(&r, b, http1.Limits{MaxHead: 512})
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if err == nil && n > 0 && (r.Status < 100 || r.Status > 999 || r.Chunked && r.ContentLength >= 0) {
			t.Fatalf("status %d, chunked %v, length %d", r.Status, r.Chunked, r.ContentLength)
		}
	})
}
