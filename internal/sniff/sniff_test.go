package sniff

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Kind
		desc string
	}{
		{name: "nothing", in: "", want: Nothing, desc: "nothing"},
		{name: "ssh banner", in: "SSH-2.0-OpenSSH_9.2p1\r\n", want: Text, desc: `plain text ("SSH-2.0-OpenSSH_9.2p1")`},
		{name: "smtp greeting", in: "220 mail.example ESMTP\r\n", want: Text, desc: `plain text ("220 mail.example ESMTP")`},
		{name: "text cut in a character", in: "caf\xc3", want: Text, desc: `plain text ("caf\xc3")`},
		{name: "long line", in: strings.Repeat("x", 50), want: Text, desc: `plain text ("` + strings.Repeat("x", 40) + `"…)`},
		{name: "http response", in: "HTTP/1.1 400 Bad Request\r\n\r\n", want: HTTPResponse, desc: `an HTTP response ("HTTP/1.1 400 Bad Request")`},
		{name: "http request", in: "GET /echo HTTP/1.1\r\nHost: x\r\n", want: HTTPRequest, desc: `an HTTP request ("GET /echo HTTP/1.1")`},
		{name: "lower-case method is text", in: "get / HTTP/1.1\r\n", want: Text, desc: `plain text ("get / HTTP/1.1")`},
		{name: "client hello", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", want: TLSClientHello, desc: "a TLS ClientHello"},
		{name: "server hello", in: "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03", want: TLSRecord, desc: "TLS"},
		{name: "alert", in: "\x15\x03\x03\x00\x02\x02\x28", want: TLSRecord, desc: "TLS"},
		{name: "short handshake record", in: "\x16\x03\x01", want: TLSRecord, desc: "TLS"},
		{name: "binary", in: "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", want: Binary, desc: "bytes that are neither text nor TLS (00 01 02 03 04 05 06 07 …)"},
		{name: "control character", in: "ab\x1bc", want: Binary, desc: "bytes that are neither text nor TLS (61 62 1b 63)"},
		{name: "unprintable character", in: "a\u2028b", want: Binary, desc: "bytes that are neither text nor TLS (61 e2 80 a8 62)"},
		{name: "printable non-ASCII", in: "caf\u00e9\r\n", want: Text, desc: "plain text (\"caf\u00e9\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Of([]byte(tt.in)); got != tt.want {
				t.Errorf("Of(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if got := Describe([]byte(tt.in)); got != tt.desc {
				t.Errorf("Describe(%q) mismatch (-want +got):\n-%s\n+%s", tt.in, tt.desc, got)
			}
		})
	}
}

func TestNotTLS(t *testing.T) {
	t.Parallel()
	cause := errors.New("tls: first record does not look like a TLS handshake")
	tests := []struct {
		name  string
		first string
		want  string // "" = nil
	}{
		{name: "no bytes", first: "", want: ""},
		{name: "a TLS server's alert", first: "\x15\x03\x03\x00\x02\x02\x28", want: ""},
		{name: "plain text", first: "HTTP/1.1 400 Bad Request\r\n",
			want: `the server answered with an HTTP response ("HTTP/1.1 400 Bad Request"), not TLS: is it a TLS endpoint?`},
		{name: "our ClientHello back", first: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc",
			want: "the server sent back what we sent, a TLS ClientHello (an echo service?): is it a TLS endpoint?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := NotTLS([]byte(tt.first), cause)
			switch {
			case tt.want == "" && e != nil:
				t.Errorf("NotTLS(%q) = %v, want nil", tt.first, e)
			case tt.want != "" && e == nil:
				t.Errorf("NotTLS(%q) = nil, want %q", tt.first, tt.want)
			case e != nil && e.Error() != tt.want:
				t.Errorf("NotTLS(%q) mismatch (-want +got):\n-%s\n+%s", tt.first, tt.want, e)
			case e != nil && !errors.Is(e, cause):
				t.Errorf("NotTLS(%q) does not unwrap to the handshake's error", tt.first)
			}
		})
	}
}

func TestNotHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		first string
		want  string // "" = nil: it may still be an HTTP response
	}{
		{first: "", want: ""},
		{first: "H", want: ""},
		{first: "HTTP/", want: ""},
		{first: "HTTP/1.1 101 Switching Protocols\r\n", want: ""},
		{first: "HX", want: `the server answered with plain text ("HX"), not an HTTP response: is it a WebSocket endpoint?`},
		{first: "GET / HTTP/1.1\r\n", want: `the server sent back what we sent, an HTTP request ("GET / HTTP/1.1") (an echo service?): is it a WebSocket endpoint?`},
	}
	for _, tt := range tests {
		got := ""
		if e := NotHTTP([]byte(tt.first)); e != nil {
			got = e.Error()
		}
		if got != tt.want {
			t.Errorf("NotHTTP(%q) mismatch (-want +got):\n-%s\n+%s", tt.first, tt.want, got)
		}
	}
}

// A Recorder keeps the first Keep bytes, however the reads split them,
// and passes every byte on.
func TestRecorder(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	msg := strings.Repeat("0123456789", 10)
	go func() {
		for i := 0; i < len(msg); i += 7 {
			b.Write([]byte(msg[i:min(i+7, len(msg))]))
		}
		b.Close()
	}()
	r := NewRecorder(a)
	got, err := io.ReadAll(r)
	if err != nil || string(got) != msg {
		t.Fatalf("read %q, %v; want %q", got, err, msg)
	}
	if string(r.First()) != msg[:Keep] {
		t.Errorf("First() = %q, want %q", r.First(), msg[:Keep])
	}
}

// FuzzDescribe feeds a peer's first bytes, anything at all: the words
// that quote them are valid UTF-8 and short, whatever came.
func FuzzDescribe(f *testing.F) {
	for _, s := range []string{"", "SSH-2.0-x\r\n", "HTTP/1.1 400 Bad Request\r\n", "GET / HTTP/1.1\r\n",
		"\x16\x03\x01\x02\x00\x01", "\x15\x03\x03\x00\x02", "caf\xc3", "\x00\xff", "\u2028x\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		first := KeepFirst(nil, b)
		d := Describe(first)
		if !utf8.ValidString(d) || len(d) > 300 {
			t.Errorf("Describe(%q) = %q: not UTF-8, or longer than 300 bytes", first, d)
		}
		if e := NotHTTP(first); e != nil && (len(first) == 0 || strings.HasPrefix("HTTP/", string(first[:min(len(first), 5)]))) {
			t.Errorf("NotHTTP(%q) = %v, though it may begin a response", first, e)
		}
	})
}
