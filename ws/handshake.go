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

	"github.com/sockit/sockit/http1"
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
const DefaultMaxHeader = http1.DefaultMaxHead

// maxFields bounds the number of header fields of a request or response.
const maxFields = http1.DefaultMaxFields

// limits are the parser's limits for a head of at most max bytes.
func limits(max int) http1.Limits { return http1.Limits{MaxHead: max, MaxFields: maxFields} }

// parseRequest reads an HTTP/1.x request head from the start of b with
// package http1's parser (the HTTP service's too). It returns n = 0 and
// no error while the head is incomplete; the body, if any, is not read (a
// GET has none).
func parseRequest(b []byte, max int) (*Request, int, *HandshakeError) {
	var hr http1.Request
	n, err := http1.ParseRequest(&hr, b, limits(max))
	if err != nil {
		he := err.(*http1.Error)
		return nil, n, hsErr(he.Status, "%s", he.Reason)
	}
	if n == 0 {
		return nil, 0, nil
	}
	if hr.Target[0] != '/' {
		return nil, n, hsErr(400, "request-target %q is not a path", hr.Target)
	}
	return NewRequest(&hr), n, nil
}

// NewRequest copies a request head parsed by package http1 into a
// Request (without RemoteAddr): what a server that reads requests itself
// hands to the WebSocket layer (package httpsvc).
func NewRequest(hr *http1.Request) *Request {
	req := &Request{Method: string(hr.Method), Target: string(hr.Target), Path: string(hr.Path), RawQuery: string(hr.Query),
		Proto: hr.Proto(), Host: string(hr.Host), Header: make(textproto.MIMEHeader, len(hr.Fields))}
	for _, f := range hr.Fields {
		key := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		req.Header[key] = append(req.Header[key], string(f.Value))
	}
	return req
}

// hasToken reports whether the comma-separated lists in values hold token,
// compared without regard to case (the Connection and Upgrade headers).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		if http1.HasToken([]byte(v), token) {
			return true
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
	if t := http1.StatusText(code); t != "" {
		return t
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
	var r http1.Response
	n, perr := http1.ParseResponse(&r, b, limits(max))
	switch {
	case perr != nil && n == 0:
		return 0, "", hsErr(0, "response head longer than %d bytes, or a line not ended by CRLF", max)
	case n == 0:
		return 0, "", nil
	case r.Status == 0:
		return n, "", hsErr(0, "malformed status line")
	case r.Status != 101:
		return n, "", hsErr(r.Status, "the server did not switch protocols")
	case perr != nil:
		return n, "", hsErr(r.Status, "%s", perr.(*http1.Error).Reason)
	case !http1.HasToken(r.Get("Upgrade"), "websocket"):
		return n, "", hsErr(r.Status, "no Upgrade: websocket in the response")
	case !http1.HasToken(r.Get("Connection"), "upgrade"):
		return n, "", hsErr(r.Status, "no Connection: Upgrade in the response")
	case string(r.Get("Sec-WebSocket-Accept")) != acceptKey(key):
		return n, "", hsErr(r.Status, "Sec-WebSocket-Accept does not match the key sent")
	case r.Get("Sec-WebSocket-Extensions") != nil:
		return n, "", hsErr(r.Status, "the server chose an extension that was not offered")
	}
	subprotocol = string(r.Get("Sec-WebSocket-Protocol"))
	if subprotocol != "" && !slices.Contains(offered, subprotocol) {
		return n, "", hsErr(r.Status, "the server chose subprotocol %q, which was not offered", subprotocol)
	}
	return n, subprotocol, nil
}
