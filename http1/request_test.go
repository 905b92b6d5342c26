package http1_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sockit/sockit/http1"
)

// TestParseRequestFraming is the table of RFC 9112's message-framing
// cases: each request is whole, and is either read with the framing
// given, or refused with the status given (and the connection closes).
// The smuggling vectors — two lengths, a length and a coding, codings a
// parser might skip, folded or oddly ended lines — are all refused.
func TestParseRequestFraming(t *testing.T) {
	t.Parallel()
	type want struct {
		status    int   // 0: parsed
		length    int64 // ContentLength
		chunked   bool
		keepAlive bool
	}
	tests := []struct {
		name string
		req  string
		want want
	}{
		{name: "GET, no body", req: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: want{length: -1, keepAlive: true}},
		{name: "Content-Length", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", want: want{length: 5, keepAlive: true}},
		{name: "Content-Length repeated, same value", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", want: want{length: 5, keepAlive: true}},
		{name: "Content-Length list, same value", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", want: want{length: 5, keepAlive: true}},
		{name: "conflicting Content-Length", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", want: want{status: 400}},
		{name: "conflicting Content-Length list", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", want: want{status: 400}},
		{name: "Content-Length with a sign", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", want: want{status: 400}},
		{name: "Content-Length negative", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", want: want{status: 400}},
		{name: "Content-Length hexadecimal", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", want: want{status: 400}},
		{name: "Content-Length empty", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", want: want{status: 400}},
		{name: "Content-Length overflows", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", want: want{status: 400}},
		{name: "chunked", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", want: want{length: -1, chunked: true, keepAlive: true}},
		{name: "chunked, any case", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", want: want{length: -1, chunked: true, keepAlive: true}},
		{name: "Transfer-Encoding and Content-Length", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", want: want{status: 400}},
		{name: "Content-Length and Transfer-Encoding", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", want: want{status: 400}},
		{name: "Transfer-Encoding in HTTP/1.0", req: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", want: want{status: 400}},
		{name: "chunked not last", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", want: want{status: 400}},
		{name: "chunked twice", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", want: want{status: 400}},
		{name: "an unknown coding before chunked", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", want: want{status: 501}},
		{name: "an unknown coding alone", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", want: want{status: 400}},
		{name: "chunked with a trailing character", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", want: want{status: 400}},
		{name: "empty Transfer-Encoding", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\n", want: want{status: 400}},
		{name: "obs-fold", req: "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", want: want{status: 400}},
		{name: "obs-fold with a tab", req: "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", want: want{status: 400}},
		{name: "folded Transfer-Encoding", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n", want: want{status: 400}},
		{name: "space before the colon", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", want: want{status: 400}},
		{name: "bare LF ends the head", req: "GET / HTTP/1.1\nHost: a\n\n", want: want{status: 400}},
		{name: "bare LF inside a field", req: "GET / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\n", want: want{status: 400}},
		{name: "bare CR inside a field", req: "GET / HTTP/1.1\r\nHost: a\rContent-Length: 5\r\n\r\n", want: want{status: 400}},
		{name: "NUL in a value", req: "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", want: want{status: 400}},
		{name: "no Host in HTTP/1.1", req: "GET / HTTP/1.1\r\n\r\n", want: want{status: 400}},
		{name: "two Hosts", req: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", want: want{status: 400}},
		{name: "HTTP/1.0 without Host", req: "GET / HTTP/1.0\r\n\r\n", want: want{length: -1}},
		{name: "HTTP/1.0 keep-alive", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want: want{length: -1, keepAlive: true}},
		{name: "Connection: close", req: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", want: want{length: -1}},
		{name: "HTTP/2.0", req: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", want: want{status: 505}},
		{name: "HTTP/0.9", req: "GET / HTTP/0.9\r\nHost: a\r\n\r\n", want: want{status: 505}},
		{name: "HTTP/1.2 reads as 1.1", req: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", want: want{length: -1, keepAlive: true}},
		{name: "lower-case version", req: "GET / http/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "two spaces in the request line", req: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "a tab in the request line", req: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "a method that is not a token", req: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "a target that is not a path", req: "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "absolute-form", req: "GET http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n", want: want{length: -1, keepAlive: true}},
		{name: "asterisk-form for GET", req: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", want: want{status: 400}},
		{name: "Expect: 100-continue", req: "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", want: want{length: 1, keepAlive: true}},
		{name: "another Expect", req: "PUT / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", want: want{status: 417}},
		{name: "empty lines before the request line", req: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", want: want{length: -1, keepAlive: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r http1.Request
			n, err := http1.ParseRequest(&r, []byte(tt.req), http1.Limits{})
			if tt.want.status != 0 {
				var he *http1.Error
				if !errors.As(err, &he) || he.Status != tt.want.status {
					t.Fatalf("ParseRequest(%q) = %d, %v; want a %d", tt.req, n, err, tt.want.status)
				}
				return
			}
			if err != nil || n != len(tt.req) {
				t.Fatalf("ParseRequest(%q) = %d, %v; want %d, nil", tt.req, n, err, len(tt.req))
			}
			got := want{length: r.ContentLength, chunked: r.Chunked, keepAlive: r.KeepAlive}
			if got != tt.want {
				t.Errorf("ParseRequest(%q): got %+v, want %+v", tt.req, got, tt.want)
			}
		})
	}
}

func TestParseRequestParts(t *testing.T) {
	t.Parallel()
	req := "POST http://example.com/a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-A:  one \r\nx-a: two\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nabc"
	var r http1.Request
	n, err := http1.ParseRequest(&r, []byte(req), http1.Limits{})
	if err != nil || n != len(req)-3 {
		t.Fatalf("ParseRequest = %d, %v", n, err)
	}
	for _, c := range []struct{ what, got, want string }{
		{what: "Method", got: string(r.Method), want: "POST"},
		{what: "Path", got: string(r.Path), want: "/a/b"},
		{what: "Query", got: string(r.Query), want: "x=1&y"},
		{what: "Host", got: string(r.Host), want: "example.com"},
		{what: "Get(x-a)", got: string(r.Get("x-a")), want: "one"},
		{what: "Fields[2]", got: string(r.Fields[2].Name) + "=" + string(r.Fields[2].Value), want: "x-a=two"},
		{what: "Proto", got: r.Proto(), want: "HTTP/1.1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !r.Expect100 || !r.Upgrade || !r.HasBody() {
		t.Errorf("Expect100 %v, Upgrade %v, HasBody %v; want all true", r.Expect100, r.Upgrade, r.HasBody())
	}
}

// TestParseRequestIncomplete: every prefix of a request is incomplete,
// not an error; a head past the limit is a 431 even before its end.
func TestParseRequestIncomplete(t *testing.T) {
	t.Parallel()
	req := "\r\nGET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"
	var r http1.Request
	for i := 0; i < len(req); i++ {
		if n, err := http1.ParseRequest(&r, []byte(req[:i]), http1.Limits{}); n != 0 || err != nil {
			t.Fatalf("ParseRequest(%q) = %d, %v; want 0, nil", req[:i], n, err)
		}
	}
	long := "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 200)
	_, err := http1.ParseRequest(&r, []byte(long), http1.Limits{MaxHead: 128})
	var he *http1.Error
	if !errors.As(err, &he) || he.Status != 431 {
		t.Fatalf("a 200-byte partial head with MaxHead 128: %v, want a 431", err)
	}
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 5) + "\r\n"
	if _, err := http1.ParseRequest(&r, []byte(many), http1.Limits{MaxFields: 5}); !errors.As(err, &he) || he.Status != 431 {
		t.Fatalf("6 fields with MaxFields 5: %v, want a 431", err)
	}
}

// TestParseRequestNoAllocs: a keep-alive connection's Request parses
// each request without allocating.
func TestParseRequestNoAllocs(t *testing.T) {
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
	var r http1.Request
	http1.ParseRequest(&r, req, http1.Limits{})
	if n := testing.AllocsPerRun(100, func() { http1.ParseRequest(&r, req, http1.Limits{}) }); n != 0 {
		t.Fatalf("ParseRequest allocates %.1f times per request, want 0", n)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n\r\n")
	var r http1.Request
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := http1.ParseRequest(&r, req, http1.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
