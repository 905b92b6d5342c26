package httpsvc

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/http1"
)

// kind is what kind of answer a request gets.
type kind uint8

const (
	kindPrepared  kind = iota // head and body built when the head was read
	kindPlaintext             // /plaintext: built as it goes out, from constants
	kindJSON                  // the description of the request: built once its body is read
)

// answer is the response to a request, decided when its head is read and
// sent once its body is. Head fields but Connection are in buf[:split],
// the body in buf[split:] (kindPrepared), or the JSON document without its
// body fields (kindJSON of a request with a body, whose head is gone by
// then).
type answer struct {
	kind   kind
	status int
	head   bool    // HEAD: the body is not sent
	buf    *[]byte // pooled
	split  int
	length int64       // the body's length, when stream sends it
	stream *fileStream // a file sent as the connection drains
	what   string      // for the narration: "file /a.txt", "JSON", ...
}

// release gives back what an answer holds that was not sent.
func (a *answer) release(c *conn) {
	if a.buf != nil {
		if a.kind == kindJSON {
			c.ec.Hold(-cap(*a.buf))
		}
		putBuf(a.buf, *a.buf)
		a.buf = nil
	}
	if a.stream != nil {
		a.stream.close()
		a.stream = nil
	}
}

// prepared starts a prepared answer: the status line and the common
// fields are in its buffer.
func (c *conn) prepared(status int, head bool, what string) answer {
	b := getBuf()
	*b = c.commonHead(http1.AppendStatusLine((*b)[:0], status))
	return answer{kind: kindPrepared, status: status, head: head, buf: b, what: what}
}

// commonHead appends the fields every response has.
func (c *conn) commonHead(out []byte) []byte {
	out = append(out, "Server: sockit\r\n"...)
	return c.s.dates.Append(out, time.Now())
}

// finish ends a prepared answer's head fields with Content-Type and
// Content-Length for body, and appends the body.
func (a *answer) finish(ctype string, body []byte) {
	b := *a.buf
	if ctype != "" {
		b = http1.AppendField(b, "Content-Type", ctype)
	}
	b = http1.AppendContentLength(b, int64(len(body)))
	a.split = len(b)
	*a.buf = append(b, body...)
}

// route decides the answer to r, whose head has just been read.
func (c *conn) route(r *http1.Request, now time.Time) answer {
	s := c.s
	path := string(r.Path) // no allocation: a comparison
	head := string(r.Method) == "HEAD"
	get := head || string(r.Method) == "GET"
	switch {
	case path == "/plaintext":
		if !get {
			return c.notAllowed(r, "GET, HEAD")
		}
		return answer{kind: kindPlaintext, status: 200, head: head}
	case s.o.WebSocket != nil && path == s.o.WebSocketPath:
		if !get {
			return c.notAllowed(r, "GET, HEAD")
		}
		a := c.prepared(200, head, "the WebSocket page")
		a.finish("text/html; charset=utf-8", s.page)
		return a
	case path == "/anything" || len(path) > 10 && path[:10] == "/anything/" || path == "/" && s.o.Root == "":
		a := answer{kind: kindJSON, status: 200, head: head, what: "JSON description of the request"}
		if r.HasBody() {
			// The head is gone by the time the body is read: describe
			// it now, and add the body's size then.
			a.buf = getBuf()
			*a.buf = c.describe((*a.buf)[:0])
			c.ec.Hold(cap(*a.buf))
		}
		return a
	case s.o.Root != "":
		return c.file(r, head, get, now)
	}
	a := c.prepared(404, head, "not found")
	a.finish("text/plain; charset=utf-8", []byte("404 Not Found: "+path+"\nthis server answers /, /anything/..., /plaintext"+c.wsHint()+"; sockit serve --root DIR serves files\n"))
	return a
}

func (c *conn) wsHint() string {
	if c.s.o.WebSocket != nil {
		return " and " + c.s.o.WebSocketPath + " (WebSocket)"
	}
	return ""
}

// notAllowed is a 405 with the methods the route takes.
func (c *conn) notAllowed(r *http1.Request, allow string) answer {
	a := c.prepared(405, false, "method not allowed")
	*a.buf = http1.AppendField(*a.buf, "Allow", allow)
	a.finish("text/plain; charset=utf-8", []byte("405 Method Not Allowed: "+string(r.Method)+" "+string(r.Path)+"; allowed: "+allow+"\n"))
	return a
}

const plaintextBody = "Hello, World!"

// respond appends the current request's answer to out. A file to stream
// goes out after out, which is written first.
func (c *conn) respond(out []byte) []byte {
	a := &c.answer
	s := c.s
	s.st.status(a.status)
	switch a.kind {
	case kindPlaintext:
		out = http1.AppendStatusLine(out, 200)
		out = c.commonHead(out)
		out = append(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n"...)
		out = c.connection(out)
		if !a.head {
			out = append(out, plaintextBody...)
		}
		if s.obs != nil {
			c.tellResponse(200, 13, "plaintext")
		}
		c.last = time.Now()
		return out
	case kindJSON:
		var doc *[]byte
		if a.buf != nil {
			doc, a.buf = a.buf, nil
			c.ec.Hold(-cap(*doc))
		} else {
			doc = getBuf()
			*doc = c.describe((*doc)[:0])
		}
		*doc = c.describeBody(*doc)
		out = http1.AppendStatusLine(out, 200)
		out = c.commonHead(out)
		out = append(out, "Content-Type: application/json\r\n"...)
		out = http1.AppendContentLength(out, int64(len(*doc)))
		out = c.connection(out)
		if !a.head {
			out = append(out, *doc...)
		}
		if s.obs != nil {
			c.tellResponse(200, int64(len(*doc)), a.what)
		}
		putBuf(doc, *doc)
		c.last = time.Now()
		return out
	}
	b := *a.buf
	out = append(out, b[:a.split]...)
	if a.stream != nil {
		out = http1.AppendContentLength(out, a.length)
	}
	out = c.connection(out)
	if !a.head {
		out = append(out, b[a.split:]...)
	}
	if s.obs != nil {
		n := int64(len(b) - a.split)
		if a.stream != nil {
			n = a.length
		}
		c.tellResponse(a.status, n, a.what)
	}
	putBuf(a.buf, b)
	a.buf = nil
	c.last = time.Now()
	if st := a.stream; st != nil {
		a.stream = nil
		if a.head {
			st.close()
			return out
		}
		if _, err := c.ec.Write(out); err != nil {
			st.close()
			c.ec.Abort()
			c.phase = phaseDone
			return out[:0]
		}
		c.stream, c.phase = st, phaseStream
		return out[:0]
	}
	return out
}

// connection appends the Connection field the connection's future needs,
// and the empty line that ends the head.
func (c *conn) connection(out []byte) []byte {
	switch {
	case !c.keepAlive:
		out = append(out, "Connection: close\r\n"...)
	case c.req.Minor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	return append(out, "\r\n"...)
}

// plain appends a complete text response with status and msg, after which
// the connection closes (every caller has set keepAlive false).
func (c *conn) plain(out []byte, status int, msg string, fields []string) []byte {
	c.s.st.status(status)
	out = http1.AppendStatusLine(out, status)
	out = c.commonHead(out)
	for i := 0; i+1 < len(fields); i += 2 {
		out = http1.AppendField(out, fields[i], fields[i+1])
	}
	body := strconv.Itoa(status) + " " + http1.StatusText(status) + ": " + msg
	out = append(out, "Content-Type: text/plain; charset=utf-8\r\n"...)
	out = http1.AppendContentLength(out, int64(len(body)))
	out = c.connection(out)
	out = append(out, body...)
	if c.s.obs != nil {
		c.tellResponse(status, int64(len(body)), "error")
	}
	c.last = time.Now()
	return out
}

// describe appends the JSON description of the current request, without
// its body fields and the closing brace (describeBody adds them).
func (c *conn) describe(b []byte) []byte {
	r := &c.req
	b = append(b, "{\n  \"method\": "...)
	b = appendJSON(b, r.Method)
	b = append(b, ",\n  \"target\": "...)
	b = appendJSON(b, r.Target)
	b = append(b, ",\n  \"path\": "...)
	b = appendJSON(b, r.Path)
	b = append(b, ",\n  \"query\": "...)
	b = appendJSON(b, r.Query)
	if len(r.Query) > 0 {
		b = appendArgs(b, r.Query)
	}
	b = append(b, ",\n  \"proto\": \""...)
	b = append(b, r.Proto()...)
	b = append(b, "\",\n  \"headers\": ["...)
	for i, f := range r.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    ["...)
		b = appendJSON(b, f.Name)
		b = append(b, ", "...)
		b = appendJSON(b, f.Value)
		b = append(b, ']')
	}
	if len(r.Fields) > 0 {
		b = append(b, "\n  "...)
	}
	b = append(b, "],\n  \"peer\": "...)
	b = appendJSONString(b, c.peer)
	b = append(b, ",\n  \"request_on_connection\": "...)
	b = strconv.AppendInt(b, int64(c.n), 10)
	b = append(b, ",\n  \"keep_alive\": "...)
	b = strconv.AppendBool(b, c.keepAlive)
	b = append(b, ",\n  \"body_chunked\": "...)
	return strconv.AppendBool(b, r.Chunked)
}

// describeBody ends a description with the body's size.
func (c *conn) describeBody(b []byte) []byte {
	b = append(b, ",\n  \"body_bytes\": "...)
	b = strconv.AppendInt(b, c.bodyBytes, 10)
	c.bodyBytes = 0
	return append(b, "\n}\n"...)
}

// appendArgs appends the query's decoded arguments, keys sorted:
// ,\n  "args": {"a": ["1", "2"]}.
func appendArgs(b, query []byte) []byte {
	b = append(b, ",\n  \"args\": {"...)
	v, err := url.ParseQuery(string(query))
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, k)
		b = append(b, ": ["...)
		for j, s := range v[k] {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	if err != nil {
		b = append(b, ",\n  \"args_error\": "...)
		b = appendJSONString(b, err.Error())
	}
	return b
}

// appendJSON appends p as a JSON string: invalid UTF-8 becomes U+FFFD.
func appendJSON(b, p []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			b = appendJSONByte(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, p[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			b = appendJSONByte(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONByte appends an ASCII byte escaped for a JSON string (and
// for HTML: <, > and & too).
func appendJSONByte(b []byte, c byte) []byte {
	switch {
	case c == '"' || c == '\\':
		return append(b, '\\', c)
	case c == '\n':
		return append(b, '\\', 'n')
	case c == '\r':
		return append(b, '\\', 'r')
	case c == '\t':
		return append(b, '\\', 't')
	case c < ' ' || c == '<' || c == '>' || c == '&' || c == 0x7F:
		return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
	}
	return append(b, c)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// note tells the observer one step of the connection's current request.
// Callers on the hot path check for an observer first, so that the
// arguments cost nothing without one.
func (c *conn) note(format string, args ...any) {
	if c.s.obs == nil {
		return
	}
	c.s.obs.Observe(sockit.Event{Step: sockit.StepHTTP, FD: -1, Net: "tcp", Peer: c.ec.RemoteAddr(), Detail: fmt.Sprintf(format, args...)})
}

// tellHead narrates a request head, line by line.
func (c *conn) tellHead(n int) {
	r := &c.req
	c.note("request %d: %d bytes of head; request line: %s %s %s", c.n, n, r.Method, r.Target, r.Proto())
	for _, f := range r.Fields {
		c.note("  field %s: %s", f.Name, f.Value)
	}
	var framing string
	switch {
	case r.Chunked:
		framing = "a chunked body follows (Transfer-Encoding: chunked)"
	case r.ContentLength > 0:
		framing = "a body of " + itoa(r.ContentLength) + " bytes follows (Content-Length)"
	default:
		framing = "no body"
	}
	conn := "keep-alive: the connection stays open after the response"
	if !r.KeepAlive {
		conn = "the connection closes after the response (" + closeReason(r) + ")"
	}
	c.note("end of head: %s; %s", framing, conn)
}

func closeReason(r *http1.Request) string {
	if r.Minor == 0 {
		return "HTTP/1.0 without Connection: keep-alive"
	}
	return "Connection: close"
}

// tellResponse narrates a response.
func (c *conn) tellResponse(status int, n int64, what string) {
	after := "keep-alive: waiting for the next request"
	if !c.keepAlive {
		after = "then close: FIN after the response, reading on until the client's FIN"
	}
	c.note("response: %d %s, %d bytes of body (%s); %s", status, http1.StatusText(status), n, what, after)
}
