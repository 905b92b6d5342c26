package http1_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sockit/sockit/http1"
)

// decode runs a Chunked over body given step bytes at a time, keeping
// what it did not consume in front of the next bytes as the engine does.
// It returns the data, whether the body ended, and the bytes consumed.
func decode(body []byte, step int) (data []byte, done bool, used int, err error) {
	var d http1.Chunked
	var buf []byte
	for off := 0; off < len(body) && !d.Done(); {
		k := min(step, len(body)-off)
		buf = append(buf, body[off:off+k]...)
		off += k
		for !d.Done() {
			n, p, err := d.Next(buf)
			if err != nil {
				return data, false, used, err
			}
			if n == 0 {
				break
			}
			data = append(data, p...)
			buf = buf[n:]
			used += n
		}
	}
	return data, d.Done(), used, nil
}

// TestChunked: chunk sizes and lines that are not exactly RFC 9112's are
// refused (400), whatever the split; good bodies decode in any split.
func TestChunked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		data   string
		status int // 0: decodes to data
	}{
		{name: "two chunks", body: "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", data: "abcde"},
		{name: "upper-case hex, extension", body: "A;name=value\r\n0123456789\r\n0\r\n\r\n", data: "0123456789"},
		{name: "trailers", body: "1\r\nx\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", data: "x"},
		{name: "empty size", body: "\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "0x prefix", body: "0x3\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "negative size", body: "-3\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "size with a plus", body: "+3\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "size not hex", body: "3g\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "size overflows", body: "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "data longer than its size", body: "2\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "bare LF after the size", body: "3\nabc\r\n0\r\n\r\n", status: 400},
		{name: "bare LF after the data", body: "3\r\nabc\n0\r\n\r\n", status: 400},
		{name: "a folded trailer", body: "0\r\nX: 1\r\n 2\r\n\r\n", status: 400},
		{name: "control character in an extension", body: "3;a\x01\r\nabc\r\n0\r\n\r\n", status: 400},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 7, 1 << 10} {
			data, done, _, err := decode([]byte(tt.body), step)
			if tt.status != 0 {
				var he *http1.Error
				if !errors.As(err, &he) || he.Status != tt.status {
					t.Errorf("%s, %d at a time: %v, want a %d", tt.name, step, err, tt.status)
				}
				continue
			}
			if err != nil || !done || string(data) != tt.data {
				t.Errorf("%s, %d at a time: %q, done %v, %v; want %q", tt.name, step, data, done, err, tt.data)
			}
		}
	}
}

// TestChunkedRoundTrip: AppendChunk's output decodes to what went in, and
// the decoder stops at the body's end.
func TestChunkedRoundTrip(t *testing.T) {
	t.Parallel()
	var body []byte
	want := bytes.Repeat([]byte("0123456789"), 1000)
	for p := want; len(p) > 0; p = p[min(len(p), 777):] {
		body = http1.AppendChunk(body, p[:min(len(p), 777)])
	}
	body = http1.AppendChunk(body, nil)
	n := len(body)
	body = append(body, "GET / HTTP/1.1\r\n"...) // the next request, not the body's
	data, done, used, err := decode(body, 100)
	if err != nil || !done || !bytes.Equal(data, want) || used != n {
		t.Fatalf("decoded %d bytes (done %v, used %d of %d): %v", len(data), done, used, n, err)
	}
}

func TestParseResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resp   string
		head   bool
		status int
		body   int64
		keep   bool
		bad    bool
	}{
		{resp: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", status: 200, body: 13, keep: true},
		{resp: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", head: true, status: 200, body: 0, keep: true},
		{resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, body: -1, keep: true},
		{resp: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, body: 0, keep: true},
		{resp: "HTTP/1.0 200 OK\r\n\r\n", status: 200, body: -2},
		{resp: "HTTP/1.1 404\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 404, body: 0},
		{resp: "HTTP/1.1 2000 OK\r\n\r\n", bad: true},
		{resp: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", bad: true},
		{resp: "HTTP/1.1 200 OK\nContent-Length: 1\n\n", bad: true},
	}
	for _, tt := range tests {
		var r http1.Response
		n, err := http1.ParseResponse(&r, []byte(tt.resp), http1.Limits{})
		if tt.bad {
			if err == nil {
				t.Errorf("ParseResponse(%q) accepted it", tt.resp)
			}
			continue
		}
		if err != nil || n != len(tt.resp) || r.Status != tt.status || r.BodyLength(tt.head) != tt.body || r.KeepAlive != tt.keep {
			t.Errorf("ParseResponse(%q) = %d, %v: status %d, body %d, keep-alive %v", tt.resp, n, err, r.Status, r.BodyLength(tt.head), r.KeepAlive)
		}
	}
}

func TestDateCache(t *testing.T) {
	t.Parallel()
	var c http1.DateCache
	at := time.Date(2026, 11, 21, 8, 9, 10, 0, time.FixedZone("CET", 3600))
	got := string(c.Append(nil, at))
	if want := "Date: Sat, 21 Nov 2026 07:09:10 GMT\r\n"; got != want {
		t.Fatalf("Append = %q, want %q", got, want)
	}
}
