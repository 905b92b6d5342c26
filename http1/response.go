package http1

import "strconv"

// Response is a response head, parsed in place by ParseResponse: its byte
// slices point into the bytes given. Reuse one for every response of a
// connection.
type Response struct {
	Minor  int // the HTTP/1.x minor version
	Status int
	Reason []byte
	Fields []Field

	ContentLength int64 // -1 without Content-Length
	Chunked       bool
	KeepAlive     bool // the server keeps the connection open after this response
}

// Get returns the value of the first field named name (compared without
// regard to ASCII case), or nil.
func (r *Response) Get(name string) []byte { return get(r.Fields, name) }

// BodyLength says how the body of a response to a request of method
// (HEAD or another) ends (RFC 9112, 6.3): 0 for none (HEAD, 1xx, 204,
// 304), its length for Content-Length, -1 for chunked, -2 for a body that
// runs until the server closes.
func (r *Response) BodyLength(head bool) int64 {
	switch {
	case head || r.Status < 200 || r.Status == 204 || r.Status == 304:
		return 0
	case r.Chunked:
		return -1
	case r.ContentLength >= 0:
		return r.ContentLength
	}
	return -2
}

// ParseResponse parses the response head at the start of b into r, as
// ParseRequest does a request head: the head's length, 0 while it is not
// complete, or an *Error (whose Status is what a proxy would answer: 502).
func ParseResponse(r *Response, b []byte, lim Limits) (int, error) {
	end, he := headEnd(b, 0, lim.head())
	if he != nil {
		return 0, fail(502, he.Reason)
	}
	if end == 0 {
		return 0, nil
	}
	*r = Response{Fields: r.Fields[:0], ContentLength: -1}
	line, rest := cutLine(b[:end-2])
	// HTTP/1.x SP 3DIGIT SP reason-phrase (the reason may be empty, the
	// SP before it is sometimes left out)
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return end, fail(502, "malformed status line")
	}
	minor, e := version(line[:8])
	if e != nil {
		return end, fail(502, e.Reason)
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' {
		return end, fail(502, "malformed status code")
	}
	r.Minor, r.Status = minor, int(code[0]-'0')*100+int(code[1]-'0')*10+int(code[2]-'0')
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	var f framing
	if r.Fields, e = parseFields(r.Fields, rest, lim.fields(), &f); e != nil {
		return end, fail(502, e.Reason)
	}
	switch {
	case len(f.te) > 0:
		if !equalFold(f.te[len(f.te)-1], chunked) {
			break // read until close (RFC 9112, 6.3, point 4)
		}
		r.Chunked = true
	case f.clFields > 0:
		if f.badCL != nil {
			return end, fail(502, f.badCL.Reason)
		}
		r.ContentLength = f.contentLength
	}
	r.KeepAlive = !f.close && (r.Minor == 1 || f.keep)
	return end, nil
}

// StatusText is the reason phrase of a status code (RFC 9110, 15), or ""
// for a code it does not know.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 304:
		return "Not Modified"
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
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 416:
		return "Range Not Satisfiable"
	case 417:
		return "Expectation Failed"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// AppendStatusLine appends "HTTP/1.1 CODE REASON\r\n".
func AppendStatusLine(dst []byte, code int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	if t := StatusText(code); t != "" {
		dst = append(dst, t...)
	} else {
		dst = append(dst, "Status"...)
	}
	return append(dst, "\r\n"...)
}

// AppendField appends "name: value\r\n".
func AppendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendContentLength appends "Content-Length: n\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}
