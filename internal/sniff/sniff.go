// Package sniff says what a peer spoke, from its first bytes, when a
// handshake met another protocol than the one it was due: a TLS client
// that got plain text back, a WebSocket client whose upgrade request an
// echo service sent back. It is the one place that tells those apart, for
// the blocking client (package client) and the engine's layers (tlslayer,
// ws) alike.
package sniff

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what the first bytes of a peer look like.
type Kind uint8

// The kinds of first bytes.
const (
	Nothing        Kind = iota // no bytes
	Text                       // a line of text: a banner ("SSH-2.0-…", "220 …"), a greeting
	HTTPRequest                // an HTTP request line: a client's, or ours an echo service sent back
	HTTPResponse               // an HTTP status line
	TLSClientHello             // a TLS record holding a ClientHello: a client's, or ours sent back
	TLSRecord                  // another TLS record: handshake or alert, as a TLS server answers
	Binary                     // anything else
)

// Keep is how many first bytes Of and Describe need; Recorder keeps this
// many.
const Keep = 64

// Of classifies b, the first bytes a peer sent.
func Of(b []byte) Kind {
	switch {
	case len(b) == 0:
		return Nothing
	case len(b) >= 3 && (b[0] == 0x16 || b[0] == 0x15) && b[1] == 3 && b[2] <= 4:
		// A handshake (22) or alert (21) record of SSL 3.0 … TLS 1.3
		// (RFC 8446 section 5.1); byte 5 is the handshake type.
		if b[0] == 0x16 && len(b) > 5 && b[5] == 1 {
			return TLSClientHello
		}
		return TLSRecord
	case bytes.HasPrefix(b, []byte("HTTP/")):
		return HTTPResponse
	case isRequestLine(firstLine(b)):
		return HTTPRequest
	case isText(b):
		return Text
	}
	return Binary
}

// Describe says what b, the first bytes a peer sent, is, in words that
// follow "the server answered with".
func Describe(b []byte) string {
	switch Of(b) {
	case Nothing:
		return "nothing"
	case Text:
		return fmt.Sprintf("plain text (%s)", quote(firstLine(b)))
	case HTTPRequest:
		return fmt.Sprintf("an HTTP request (%s)", quote(firstLine(b)))
	case HTTPResponse:
		return fmt.Sprintf("an HTTP response (%s)", quote(firstLine(b)))
	case TLSClientHello:
		return "a TLS ClientHello"
	case TLSRecord:
		return "TLS"
	}
	n := min(len(b), 8)
	return fmt.Sprintf("bytes that are neither text nor TLS (% x%s)", b[:n], dots(len(b) > n))
}

// Error is a handshake that met another protocol: the peer answered with
// Got where Want was due.
type Error struct {
	Want string // what was due: "TLS", "an HTTP response"
	Got  []byte // the first bytes the peer sent (up to Keep)
	Ask  string // a question for the user: "is it a TLS endpoint?"
	Err  error  // the handshake's own error
}

func (e *Error) Error() string {
	var s string
	switch Of(e.Got) {
	case TLSClientHello, HTTPRequest:
		// A client's first words: ours, which an echo service sends back.
		s = "the server sent back what we sent, " + Describe(e.Got) + " (an echo service?)"
	default:
		s = "the server answered with " + Describe(e.Got) + ", not " + e.Want
	}
	if e.Ask != "" {
		s += ": " + e.Ask
	}
	return s
}

// Unwrap returns the handshake's own error.
func (e *Error) Unwrap() error { return e.Err }

// NotTLS is err, the error of a TLS client's handshake, as an *Error when
// first, the server's first bytes, are not a TLS server's answer; nil when
// they are, or when there are none.
func NotTLS(first []byte, err error) *Error {
	if k := Of(first); k == Nothing || k == TLSRecord {
		return nil
	}
	return &Error{Want: "TLS", Got: first, Ask: "is it a TLS endpoint?", Err: err}
}

// NotHTTP is the error of a WebSocket client whose upgrade request got
// first back, bytes that cannot begin an HTTP response; nil while they
// may.
func NotHTTP(first []byte) *Error {
	n := min(len(first), len("HTTP/"))
	if n == 0 || string(first[:n]) == "HTTP/"[:n] {
		return nil
	}
	return &Error{Want: "an HTTP response", Got: first[:min(len(first), Keep)], Ask: "is it a WebSocket endpoint?"}
}

// Recorder is a net.Conn that keeps the first Keep bytes read from it.
type Recorder struct {
	net.Conn
	first []byte
}

// NewRecorder wraps c.
func NewRecorder(c net.Conn) *Recorder { return &Recorder{Conn: c} }

// Read reads from the connection, keeping what it reads until it has Keep
// bytes.
func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.first = KeepFirst(r.first, p[:n])
	return n, err
}

// First returns the first bytes read, up to Keep.
func (r *Recorder) First() []byte { return r.first }

// KeepFirst appends to first what of b it has room for, up to Keep bytes
// in all, and returns it.
func KeepFirst(first, b []byte) []byte {
	if len(first) >= Keep {
		return first
	}
	return append(first, b[:min(len(b), Keep-len(first))]...)
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// isRequestLine reports whether s looks like "METHOD target HTTP/1.x".
func isRequestLine(s string) bool {
	method, rest, ok := strings.Cut(s, " ")
	if !ok || method == "" || strings.ToUpper(method) != method {
		return false
	}
	_, proto, ok := strings.Cut(rest, " ")
	return ok && strings.HasPrefix(proto, "HTTP/")
}

// isText reports whether b, perhaps cut in the middle of a character, is
// printable text with the usual white space (so that quote prints each
// character as itself).
func isText(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1 && !utf8.FullRune(b):
			return true // a character cut by the end of what was kept
		case r == utf8.RuneError && size <= 1:
			return false
		case r != '\n' && r != '\r' && r != '\t' && !unicode.IsPrint(r):
			return false
		}
		b = b[size:]
	}
	return true
}

// quote is s in quotes, cut to 40 characters.
func quote(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	r := []rune(s)[:limit]
	return fmt.Sprintf("%q…", string(r))
}

func dots(more bool) string {
	if more {
		return " …"
	}
	return ""
}
