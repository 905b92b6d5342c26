package http1

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"
)

// Bounds of the chunked decoder.
const (
	maxChunkLine = 4 << 10 // a chunk-size line with its extensions
	maxTrailer   = 8 << 10 // the trailer section
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // reading a chunk-size line
	chunkData                      // reading chunk data
	chunkDataEnd                   // reading the CRLF after chunk data
	chunkTrailer                   // reading trailer field lines
	chunkDone                      // the last chunk and the trailers are read
)

// Chunked decodes a chunked body (RFC 9112, 7.1) a piece at a time, from
// whatever bytes each read gave. The zero value is ready for a body's
// first byte; Reset makes it ready for the next body.
type Chunked struct {
	state   chunkState
	left    int64 // of the current chunk
	trailer int   // trailer bytes read
}

// Reset readies d for a new body.
func (d *Chunked) Reset() { *d = Chunked{} }

// Done reports whether the whole body, with its trailers, has been read.
func (d *Chunked) Done() bool { return d.state == chunkDone }

// Next consumes the next piece of framing or data at the start of in. It
// returns how many bytes it consumed, the body data among them (a part of
// in) and an error for a malformed body (*Error, status 400; 431 for
// trailers over 8 KiB). n is 0 when in holds only part of a line it
// needs: give it again with more bytes after it. Call Next until n is 0
// or Done.
func (d *Chunked) Next(in []byte) (n int, data []byte, err error) {
	switch d.state {
	case chunkSize:
		return d.sizeLine(in)
	case chunkData:
		k := int(min(int64(len(in)), d.left))
		d.left -= int64(k)
		if d.left == 0 {
			d.state = chunkDataEnd
		}
		return k, in[:k], nil
	case chunkDataEnd:
		if len(in) < 2 {
			if len(in) == 1 && in[0] != '\r' {
				return 0, nil, fail(400, "chunk data longer than its size")
			}
			return 0, nil, nil
		}
		if in[0] != '\r' || in[1] != '\n' {
			return 0, nil, fail(400, "chunk data longer than its size, or not ended by CRLF")
		}
		d.state = chunkSize
		return 2, nil, nil
	case chunkTrailer:
		return d.trailerLine(in)
	}
	return 0, nil, nil
}

// line returns the length of the CRLF-ended line at the start of in (with
// its CRLF), 0 if it is not whole yet, or an error.
func line(in []byte, max int, what string) (int, *Error) {
	i := bytes.IndexByte(in[:min(len(in), max)], '\n')
	switch {
	case i < 0 && len(in) >= max:
		return 0, fail(400, what+" longer than "+strconv.Itoa(max)+" bytes")
	case i < 0:
		if j := bytes.IndexByte(in, '\r'); j >= 0 && j+1 < len(in) {
			return 0, fail(400, "a bare CR in the "+what)
		}
		return 0, nil
	case i == 0 || in[i-1] != '\r':
		return 0, fail(400, "a bare LF ends the "+what+"; lines end with CRLF")
	}
	return i + 1, nil
}

// sizeLine reads "HEX [ ; ext ] CRLF".
func (d *Chunked) sizeLine(in []byte) (int, []byte, error) {
	n, e := line(in, maxChunkLine, "chunk-size line")
	if n == 0 {
		return 0, nil, errOrNil(e)
	}
	l := in[:n-2]
	var size int64
	i := 0
	for ; i < len(l); i++ {
		v := unhex(l[i])
		if v < 0 {
			break
		}
		if i >= 15 {
			return 0, nil, fail(400, "chunk size too large")
		}
		size = size<<4 | int64(v)
	}
	if i == 0 {
		return 0, nil, fail(400, "invalid chunk size (not hexadecimal digits)")
	}
	rest := trimOWS(l[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, nil, fail(400, "invalid chunk size (not hexadecimal digits)")
	}
	for _, c := range rest {
		if c < ' ' && c != '\t' || c == 0x7F {
			return 0, nil, fail(400, "a control character in a chunk extension")
		}
	}
	if size == 0 {
		d.state = chunkTrailer
	} else {
		d.state, d.left = chunkData, size
	}
	return n, nil, nil
}

// trailerLine reads one trailer field line, or the empty line that ends
// the body. Trailer fields are checked as header fields are, and dropped.
func (d *Chunked) trailerLine(in []byte) (int, []byte, error) {
	n, e := line(in, maxTrailer-d.trailer+1, "trailer section")
	if n == 0 {
		if e != nil && len(in) > maxTrailer-d.trailer {
			e = fail(431, "trailer section longer than "+strconv.Itoa(maxTrailer)+" bytes")
		}
		return 0, nil, errOrNil(e)
	}
	d.trailer += n
	if n == 2 {
		d.state = chunkDone
		return n, nil, nil
	}
	var f framing
	if _, e := parseFields(make([]Field, 0, 1), in[:n-2], 1, &f); e != nil {
		return 0, nil, e
	}
	return n, nil, nil
}

func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// AppendChunk appends p as one chunk ("HEX CRLF p CRLF"); an empty p
// appends the last chunk and the end of the body ("0 CRLF CRLF").
func AppendChunk(dst, p []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(p)), 16)
	dst = append(dst, "\r\n"...)
	if len(p) == 0 {
		return append(dst, "\r\n"...)
	}
	dst = append(dst, p...)
	return append(dst, "\r\n"...)
}

// DateCache formats the Date field (RFC 9110, 6.6.1) once a second for
// everyone who shares it. The zero value is ready to use; it is safe for
// concurrent use.
type DateCache struct {
	p atomic.Pointer[dateLine]
}

type dateLine struct {
	sec  int64
	line []byte // "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
}

// Append appends the Date field line of now.
func (c *DateCache) Append(dst []byte, now time.Time) []byte {
	sec := now.Unix()
	d := c.p.Load()
	if d == nil || d.sec != sec {
		b := append([]byte("Date: "), now.UTC().Format(time.RFC1123)...)
		b = append(b[:len(b)-3], "GMT\r\n"...) // RFC1123 ends in "UTC"
		d = &dateLine{sec: sec, line: b}
		c.p.Store(d)
	}
	return append(dst, d.line...)
}
