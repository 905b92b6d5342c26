// Package http1 reads and writes the framing of HTTP/1.1 messages (RFC
// 9112) for code that runs in an event loop: it parses a request or
// response head from the bytes one read gave, however they are split,
// without a goroutine, without copying and without allocating (the parsed
// head points into the bytes given); it decodes chunked bodies a piece at
// a time; and it appends status lines and dates to a buffer.
//
// It is strict where a lenient reading would let two parsers disagree on
// where a message ends (request smuggling): a request with both
// Transfer-Encoding and Content-Length, Content-Length values that
// differ, Transfer-Encoding in HTTP/1.0, a chunked coding that is not
// last or comes twice, obsolete line folding, whitespace before a field's
// colon, a bare CR or LF as a line end, and chunk sizes that are not
// plain hexadecimal are all errors (*Error, status 400) after which the
// connection must close. Everything it refuses is refused with the status
// RFC 9110 names for it: 400, 431 (head too large, too many fields), 501
// (a transfer coding it does not know), 505 (not HTTP/1.x), 417 (an
// Expect other than 100-continue).
//
// Package ws reads the WebSocket upgrade request with ParseRequest, and
// package httpsvc every request of the HTTP service: one parser for both.
package http1

import (
	"bytes"
	"strconv"
)

// Defaults for the zero values of Limits.
const (
	DefaultMaxHead   = 8 << 10 // bytes of a head: start line, fields and the empty line
	DefaultMaxFields = 100     // header fields of a head
)

// Limits bound what a parser accepts. The zero value gives the defaults.
type Limits struct {
	MaxHead   int // 0 = DefaultMaxHead; a longer head is a 431 (request) or an error (response)
	MaxFields int // 0 = DefaultMaxFields; more is a 431
}

func (l Limits) head() int {
	if l.MaxHead <= 0 {
		return DefaultMaxHead
	}
	return l.MaxHead
}

func (l Limits) fields() int {
	if l.MaxFields <= 0 {
		return DefaultMaxFields
	}
	return l.MaxFields
}

// Error is a message the parser refuses: Status is the answer a server
// gives (400, 417, 431, 501, 505), Reason says what was wrong. After it
// the connection must close: where the bad message ends is not known.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "http: " + strconv.Itoa(e.Status) + " " + StatusText(e.Status) + ": " + e.Reason
}

func fail(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// Field is one header field line: name and value, the value without the
// whitespace around it. Both point into the parsed bytes.
type Field struct {
	Name, Value []byte
}

// Request is a request head, parsed in place by ParseRequest: its byte
// slices point into the bytes given and are valid only as long as those
// are. Reuse one Request for every request of a connection: ParseRequest
// overwrites it and keeps the capacity of Fields, so that a keep-alive
// connection parses without allocating.
type Request struct {
	Method []byte // "GET"
	Target []byte // the request-target as sent: "/a/b?x=1", "http://h/a", "*"
	Path   []byte // the path of Target: "/a/b" ("/" for an absolute-form target without one, "*", or the authority of a CONNECT)
	Query  []byte // Target after '?', without it; nil if there is none
	Minor  int    // the HTTP/1.x minor version: 0 or 1 (a later 1.x reads as 1)
	Fields []Field
	Host   []byte // the Host field

	// The message's framing and what the connection does after it.
	ContentLength int64 // the body's length; -1 without Content-Length (0 bytes, or chunked)
	Chunked       bool  // the body is chunked (Transfer-Encoding: chunked)
	KeepAlive     bool  // another request may follow on the connection (not Connection: close; HTTP/1.0 asked for keep-alive)
	Expect100     bool  // Expect: 100-continue: the client waits for a 100 before it sends the body
	Upgrade       bool  // Connection: upgrade, with an Upgrade field naming the protocol
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Get returns the value of the first field named name (compared without
// regard to ASCII case), or nil.
func (r *Request) Get(name string) []byte { return get(r.Fields, name) }

// Proto is "HTTP/1.1" or "HTTP/1.0".
func (r *Request) Proto() string {
	if r.Minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func get(fields []Field, name string) []byte {
	for i := range fields {
		if equalFold(fields[i].Name, name) {
			return fields[i].Value
		}
	}
	return nil
}

var (
	crlf     = []byte("\r\n")
	slash    = []byte("/")
	httpVer  = []byte("HTTP/")
	chunked  = "chunked"
	upgrades = "upgrade"
)

// ParseRequest parses the request head at the start of b into r. It
// returns the length of the head (with its empty line); 0 and no error
// while the head is not complete yet; or an *Error. Empty lines before the
// request line are skipped, as RFC 9112, 2.2 asks, and counted in the
// head's length and limit. The body, if any, is not read: its framing is
// in r.ContentLength and r.Chunked.
func ParseRequest(r *Request, b []byte, lim Limits) (int, error) {
	skip, maxLen := 0, lim.head()
	for skip+2 <= min(len(b), maxLen) && b[skip] == '\r' && b[skip+1] == '\n' {
		skip += 2
	}
	end, he := headEnd(b, skip, maxLen)
	if end <= 0 {
		return 0, errOrNil(he)
	}
	*r = Request{Fields: r.Fields[:0], ContentLength: -1}
	head := b[skip : end-2] // up to the CRLF that ends the last line
	line, rest := cutLine(head)
	if e := r.requestLine(line); e != nil {
		return end, e
	}
	var f framing
	var e *Error
	if r.Fields, e = parseFields(r.Fields, rest, lim.fields(), &f); e != nil {
		return end, e
	}
	return end, errOrNil(r.frame(&f))
}

// headEnd returns the end of the head that starts at b[skip:] (the index
// after its empty line), 0 while it is incomplete, or an error: a bare LF
// or CR, or a head (with the skip before it) longer than maxLen.
func headEnd(b []byte, skip, maxLen int) (int, *Error) {
	limit := max(min(len(b), maxLen), skip)
	if i := bytes.Index(b[skip:limit], []byte("\r\n\r\n")); i >= 0 {
		return skip + i + 4, nil
	}
	// Not whole yet. A bare LF (or a CR before anything but LF) will
	// never make a CRLF CRLF: say so now rather than at the limit.
	if j := bareEnd(b[skip:limit]); j >= 0 {
		return -1, fail(400, "a line ends in a bare "+[]string{"LF", "CR"}[j]+"; lines end with CRLF (RFC 9112, 2.2)")
	}
	if len(b) >= maxLen {
		return -1, fail(431, "head longer than "+strconv.Itoa(maxLen)+" bytes")
	}
	return 0, nil
}

// bareEnd reports a bare LF (0) or a CR followed by something other than
// LF (1) in b, else -1. A CR at the very end may yet get its LF.
func bareEnd(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return 0
		case c == '\r' && i+1 < len(b) && b[i+1] != '\n':
			return 1
		}
	}
	return -1
}

// cutLine splits b at its first CRLF.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.Index(b, crlf); i >= 0 {
		return b[:i], b[i+2:]
	}
	return b, nil
}

// requestLine parses "METHOD SP request-target SP HTTP/1.x".
func (r *Request) requestLine(line []byte) *Error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return fail(400, "malformed request line")
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return fail(400, "malformed request line")
	}
	sp2 += sp1 + 1
	r.Method, r.Target = line[:sp1], line[sp1+1:sp2]
	if !isToken(r.Method) {
		return fail(400, "the method is not a token")
	}
	for _, c := range r.Target {
		if c <= ' ' || c >= 0x7F {
			return fail(400, "a space or control character in the request-target")
		}
	}
	minor, e := version(line[sp2+1:])
	if e != nil {
		return e
	}
	r.Minor = minor
	return r.targetForm()
}

// version parses "HTTP/1.x": the minor version, 1 for any x above 1.
func version(v []byte) (int, *Error) {
	if len(v) != 8 || !bytes.HasPrefix(v, httpVer) || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, fail(400, "malformed HTTP version")
	}
	if v[5] != '1' {
		return 0, fail(505, "HTTP/"+string(v[5])+"."+string(v[7])+"; this server speaks HTTP/1.0 and 1.1")
	}
	return min(int(v[7]-'0'), 1), nil
}

// targetForm splits the request-target into Path and Query (RFC 9112,
// 3.2): origin-form, absolute-form, the asterisk-form of OPTIONS, and
// the authority-form of CONNECT.
func (r *Request) targetForm() *Error {
	t := r.Target
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return fail(400, "the request-target * is for OPTIONS only")
		}
		r.Path = t
		return nil
	case hasPrefixFold(t, "http://") || hasPrefixFold(t, "https://"):
		rest := t[bytes.IndexByte(t, ':')+3:]
		i := bytes.IndexAny(rest, "/?")
		if i < 0 {
			r.Path = slash
			return nil
		}
		if rest[i] == '?' {
			r.Path, r.Query = slash, rest[i+1:]
			return nil
		}
		t = rest[i:]
	case string(r.Method) == "CONNECT":
		r.Path = t
		return nil
	default:
		return fail(400, "the request-target is not a path (origin-form) or an absolute URI")
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		r.Path, r.Query = t[:i], t[i+1:]
	} else {
		r.Path = t
	}
	return nil
}

// framing is what the fields said about the message's framing, before it
// is checked as a whole.
type framing struct {
	contentLength int64 // -1 = none yet
	clFields      int
	te            [][]byte // Transfer-Encoding values, in order
	close, keep   bool     // Connection: close, keep-alive
	upgrade       bool     // Connection: upgrade
	hasUpgrade    bool     // an Upgrade field
	hosts         int
	host          []byte
	expect        []byte
	expects       int
	badCL         *Error
}

// parseFields parses the field lines of head (each ended by CRLF but the
// last) into fields, noting framing fields in f.
func parseFields(fields []Field, head []byte, max int, f *framing) ([]Field, *Error) {
	f.contentLength = -1
	for len(head) > 0 {
		var line []byte
		line, head = cutLine(head)
		if len(fields) >= max {
			return fields, fail(431, "more than "+strconv.Itoa(max)+" header fields")
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fields, fail(400, "obsolete line folding (a field line that starts with whitespace; RFC 9112, 5.2)")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return fields, fail(400, "malformed field line (no colon, or whitespace or another non-token byte in the name; RFC 9112, 5.1)")
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7F {
				return fields, fail(400, "a control character in the value of "+string(name))
			}
		}
		fields = append(fields, Field{Name: name, Value: value})
		f.note(name, value)
	}
	return fields, nil
}

// note records a framing field.
func (f *framing) note(name, value []byte) {
	switch {
	case equalFold(name, "Content-Length"):
		f.clFields++
		eachToken(value, func(v []byte) {
			n, ok := parseLength(v)
			switch {
			case !ok:
				f.badCL = fail(400, "Content-Length is not a number")
			case f.contentLength >= 0 && n != f.contentLength:
				f.badCL = fail(400, "Content-Length values differ")
			}
			f.contentLength = n
		})
		if len(trimOWS(value)) == 0 {
			f.badCL = fail(400, "Content-Length is empty")
		}
	case equalFold(name, "Transfer-Encoding"):
		eachToken(value, func(v []byte) { f.te = append(f.te, v) })
		if len(f.te) == 0 {
			f.te = append(f.te, nil) // an empty Transfer-Encoding is still one
		}
	case equalFold(name, "Connection"):
		eachToken(value, func(v []byte) {
			switch {
			case equalFold(v, "close"):
				f.close = true
			case equalFold(v, "keep-alive"):
				f.keep = true
			case equalFold(v, upgrades):
				f.upgrade = true
			}
		})
	case equalFold(name, "Host"):
		f.hosts++
		f.host = value
	case equalFold(name, "Expect"):
		f.expects++
		f.expect = value
	case equalFold(name, "Upgrade"):
		f.hasUpgrade = len(value) > 0
	}
}

// frame checks the framing of a request as a whole (RFC 9112, 6) and sets
// r's framing fields.
func (r *Request) frame(f *framing) *Error {
	switch {
	case f.hosts > 1:
		return fail(400, "more than one Host field")
	case f.hosts == 0 && r.Minor == 1:
		return fail(400, "no Host field (a request of HTTP 1.1 must have one; RFC 9112, 3.2)")
	}
	r.Host = f.host
	if len(f.te) > 0 {
		switch {
		case r.Minor == 0:
			return fail(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112, 6.1)")
		case f.clFields > 0:
			return fail(400, "both Transfer-Encoding and Content-Length (RFC 9112, 6.1)")
		}
		if e := checkCodings(f.te); e != nil {
			return e
		}
		r.Chunked = true
	} else if f.clFields > 0 {
		if f.badCL != nil {
			return f.badCL
		}
		r.ContentLength = f.contentLength
	}
	r.KeepAlive = !f.close && (r.Minor == 1 || f.keep)
	r.Upgrade = f.upgrade && f.hasUpgrade
	if f.expects > 0 {
		if f.expects > 1 || !equalFold(f.expect, "100-continue") {
			return fail(417, "the only expectation this server meets is 100-continue")
		}
		r.Expect100 = r.Minor == 1
	}
	return nil
}

// checkCodings checks a request's transfer codings: chunked, once and
// last; other codings before it are not implemented.
func checkCodings(te [][]byte) *Error {
	n := 0
	for _, c := range te {
		if equalFold(c, chunked) {
			n++
		}
	}
	switch {
	case !equalFold(te[len(te)-1], chunked):
		return fail(400, "the last transfer coding is not chunked, so the body's length is unknown (RFC 9112, 6.3)")
	case n > 1:
		return fail(400, "chunked more than once (RFC 9112, 7)")
	case len(te) > 1:
		return fail(501, "transfer coding "+string(te[0])+" is not implemented; send chunked alone")
	}
	return nil
}

// parseLength parses a Content-Length value: 1*DIGIT, at most 18 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return -1, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return -1, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// eachToken calls fn with each element of a comma-separated list, without
// the whitespace around it, skipping empty ones.
func eachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var item []byte
		if i < 0 {
			item, v = v, nil
		} else {
			item, v = v[:i], v[i+1:]
		}
		if item = trimOWS(item); len(item) > 0 {
			fn(item)
		}
	}
}

// HasToken reports whether the comma-separated list v holds token,
// compared without regard to ASCII case.
func HasToken(v []byte, token string) bool {
	found := false
	eachToken(v, func(item []byte) { found = found || equalFold(item, token) })
	return found
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// tchar marks the bytes of a token (RFC 9110, 5.6.2).
var tchar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	for _, c := range `"(),/:;<=>?@[\]{}` {
		t[c] = false
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an HTTP token (RFC 9110, 5.6.2): a method,
// a field name.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return s != ""
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares b and s without regard to ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool { return len(b) >= len(s) && equalFold(b[:len(s)], s) }
