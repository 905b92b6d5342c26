package ws

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/sockit/sockit/internal/sniff"
)

// Request is an HTTP request as the server read it: an upgrade request, or
// a plain GET handed to ServerOptions.HTTP.
type Request struct {
	Method   string // "GET"
	Target   string // the request-target as sent: "/ws?room=1"
	Path     string // Target without its query: "/ws"
	RawQuery string // the query, without '?'
	Proto    string // "HTTP/1.1"
	Host     string // the Host header
	// Header holds the header fields under canonical keys
	// (textproto.CanonicalMIMEHeaderKey), repeated fields in order.
	Header     textproto.MIMEHeader
	RemoteAddr net.Addr
}

// HandshakeError is a failed opening handshake: the server's answer to a
// bad request, or a client's verdict on a bad response.
type HandshakeError struct {
	Status int    // the HTTP status sent (server) or received (client); 0 if none
	Msg    string // what was wrong
}

func (e *HandshakeError) Error() string {
	if e.Status == 0 {
		return "websocket handshake: " + e.Msg
	}
	return fmt.Sprintf("websocket handshake: %d %s: %s", e.Status, statusText(e.Status), e.Msg)
}

func hsErr(status int, format string, args ...any) *HandshakeError {
	return &HandshakeError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// DefaultMaxHeader bounds the bytes of an HTTP request or response head
// (request line and header fields) in the opening handshake.
const DefaultMaxHeader = 8 << 10

// maxFields bounds the number of header fields of a request or response.
const maxFields = 100

var crlf2 = []byte("\r\n\r\n")

// headEnd returns the length of the HTTP head at the start of b (up to and
// including its empty line), 0 if it is not complete yet, or an error if
// it is, or would be, longer than max.
func headEnd(b []byte, max int) (int, *HandshakeError) {
	i := bytes.Index(b[:min(len(b), max)], crlf2)
	if i < 0 {
		if len(b) >= max {
			return 0, hsErr(431, "request head longer than %d bytes", max)
		}
		return 0, nil
	}
	return i + 4, nil
}

// parseRequest reads an HTTP/1.x request head from the start of b. It
// returns n = 0 and no error while the head is incomplete; the body, if
// any, is not read (a GET has none).
func parseRequest(b []byte, max int) (*Request, int, *HandshakeError) {
	n, herr := headEnd(b, max)
	if n == 0 {
		return nil, 0, herr
	}
	line, rest, _ := strings.Cut(string(b[:n-4]), "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	switch {
	case !ok1 || !ok2 || !isToken(method) || strings.ContainsAny(target, " \t\r\n") || target == "":
		return nil, n, hsErr(400, "malformed request line")
	case proto != "HTTP/1.1" && proto != "HTTP/1.0":
		return nil, n, hsErr(505, "unsupported protocol %q", proto)
	case target[0] != '/':
		return nil, n, hsErr(400, "request-target %q is not a path", target)
	}
	h, herr := parseFields(rest, 400)
	if herr != nil {
		return nil, n, herr
	}
	req := &Request{Method: method, Target: target, Proto: proto, Header: h}
	req.Path, req.RawQuery, _ = strings.Cut(target, "?")
	switch hosts := h["Host"]; {
	case len(hosts) > 1:
		return nil, n, hsErr(400, "more than one Host header")
	case len(hosts) == 1:
		req.Host = hosts[0]
	}
	return req, n, nil
}

// parseFields parses header field lines separated by CRLF. A bad line is
// an error with the given status.
func parseFields(s string, status int) (textproto.MIMEHeader, *HandshakeError) {
	h := textproto.MIMEHeader{}
	count := 0
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\r\n")
		if count++; count > maxFields {
			return nil, hsErr(431, "more than %d header fields", maxFields)
		}
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return nil, hsErr(status, "obsolete line folding or an empty field line")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, hsErr(status, "malformed header field %q", trunc(line))
		}
		value = strings.Trim(value, " \t")
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, hsErr(status, "bad character in header field %q", name)
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		h[key] = append(h[key], value)
	}
	return h, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// isToken reports whether s is an HTTP token (RFC 9110, 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated lists in values hold token,
// compared without regard to case (the Connection and Upgrade headers).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(part, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// tokens lists the comma-separated items of values.
func tokens(values []string) []string {
	var out []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.Trim(part, " \t"); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// acceptGUID is the fixed string of RFC 6455, 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// validKey reports whether key is the base64 of 16 bytes (RFC 6455, 4.1).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// newKey returns a fresh random Sec-WebSocket-Key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(b[:])
}

func statusText(code int) string {
	switch code {
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}

// appendResponse appends an HTTP/1.1 response head and body. fields are
// name, value pairs. A response with a body (any but 101) closes the
// connection after it.
func appendResponse(dst []byte, status int, fields []string, contentType string, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\n"...)
	for i := 0; i+1 < len(fields); i += 2 {
		dst = append(dst, fields[i]...)
		dst = append(dst, ": "...)
		dst = append(dst, fields[i+1]...)
		dst = append(dst, "\r\n"...)
	}
	if status != 101 {
		if contentType != "" {
			dst = append(dst, "Content-Type: "...)
			dst = append(dst, contentType...)
			dst = append(dst, "\r\n"...)
		}
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\nConnection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// errorResponse is the answer to a failed handshake: a short text body.
func errorResponse(e *HandshakeError) []byte {
	var fields []string
	switch e.Status {
	case 405:
		fields = []string{"Allow", "GET, HEAD"}
	case 426:
		fields = []string{"Upgrade", "websocket", "Sec-WebSocket-Version", "13"}
	}
	body := fmt.Sprintf("%d %s: %s\n", e.Status, statusText(e.Status), e.Msg)
	return appendResponse(nil, e.Status, fields, "text/plain; charset=utf-8", []byte(body))
}

// upgradeRequest builds a client's opening handshake (RFC 6455, 4.1).
func upgradeRequest(host, path, key string, opts *ClientOptions) []byte {
	if path == "" {
		path = "/"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if opts.Origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", opts.Origin)
	}
	if len(opts.Subprotocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(opts.Subprotocols, ", "))
	}
	for name, values := range opts.Header {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// parseResponse reads the server's answer to an upgrade request from the
// start of b and checks it (RFC 6455, 4.2.2). It returns n = 0 and no
// error while the head is incomplete, and the subprotocol chosen.
func parseResponse(b []byte, max int, key string, offered []string) (n int, subprotocol string, err *HandshakeError) {
	if e := sniff.NotHTTP(b); e != nil {
		// Not an HTTP response, and it will not become one: say what the
		// server spoke now, rather than wait for a head that never ends.
		return len(b), "", hsErr(0, "%s", e)
	}
	n, herr := headEnd(b, max)
	if herr != nil {
		return 0, "", hsErr(0, "response head longer than %d bytes", max)
	}
	if n == 0 {
		return 0, "", nil
	}
	line, rest, _ := strings.Cut(string(b[:n-4]), "\r\n")
	proto, line, _ := strings.Cut(line, " ")
	codeText, _, _ := strings.Cut(line, " ")
	status, cerr := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "HTTP/1.") || cerr != nil || len(codeText) != 3 {
		return n, "", hsErr(0, "malformed status line")
	}
	if status != 101 {
		return n, "", hsErr(status, "the server did not switch protocols")
	}
	h, herr := parseFields(rest, status)
	switch {
	case herr != nil:
		return n, "", herr
	case !hasToken(h["Upgrade"], "websocket"):
		return n, "", hsErr(status, "no Upgrade: websocket in the response")
	case !hasToken(h["Connection"], "upgrade"):
		return n, "", hsErr(status, "no Connection: Upgrade in the response")
	case h.Get("Sec-Websocket-Accept") != acceptKey(key):
		return n, "", hsErr(status, "Sec-WebSocket-Accept does not match the key sent")
	case len(h["Sec-Websocket-Extensions"]) > 0:
		return n, "", hsErr(status, "the server chose an extension that was not offered")
	}
	subprotocol = h.Get("Sec-Websocket-Protocol")
	if subprotocol != "" && !slices.Contains(offered, subprotocol) {
		return n, "", hsErr(status, "the server chose subprotocol %q, which was not offered", subprotocol)
	}
	return n, subprotocol, nil
}
