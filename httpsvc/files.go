package httpsvc

import (
	"errors"
	"html"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit/http1"
)

// smallFile is the largest file sent with its head in one write; larger
// ones go out in pieces of pieceSize as the connection drains.
const (
	smallFile = 64 << 10
	pieceSize = 64 << 10
)

// httpTime is the layout of dates in HTTP fields (RFC 9110, 5.6.7).
const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// file decides the answer to a request for a path under Options.Root.
func (c *conn) file(r *http1.Request, head, get bool, now time.Time) answer {
	if !get {
		return c.notAllowed(r, "GET, HEAD")
	}
	p, err := url.PathUnescape(string(r.Path))
	if err != nil || strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
		return c.textAnswer(400, head, "the path is not a valid percent-encoded UTF-8 path")
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name == "" {
		name = "."
	}
	f, err := os.OpenInRoot(c.s.o.Root, name)
	if err != nil {
		return c.fileError(err, head, p)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return c.fileError(err, head, p)
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(p, "/") {
			// Links inside the directory's page are relative to it.
			a := c.prepared(301, head, "redirect to the directory")
			*a.buf = http1.AppendField(*a.buf, "Location", (&url.URL{Path: p + "/"}).EscapedPath())
			a.finish("text/plain; charset=utf-8", []byte("a directory: "+p+"/\n"))
			return a
		}
		if f, err = os.OpenInRoot(c.s.o.Root, path.Join(name, "index.html")); err != nil {
			return c.listing(name, p, head)
		}
		if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return c.listing(name, p, head)
		}
		name = path.Join(name, "index.html")
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return c.textAnswer(404, head, "not a regular file: "+p)
	}
	return c.fileAnswer(r, f, fi, name, head)
}

// fileError answers a file that cannot be opened: 404 for one that is not
// there or lies outside Root, 403 for one not readable.
func (c *conn) fileError(err error, head bool, p string) answer {
	if errors.Is(err, fs.ErrPermission) {
		return c.textAnswer(403, head, "not readable: "+p)
	}
	if c.s.obs != nil && !errors.Is(err, fs.ErrNotExist) {
		c.note("file %s: %v", p, err) // a path out of the root, say
	}
	return c.textAnswer(404, head, "no such file: "+p)
}

// textAnswer is a prepared answer with a short text body.
func (c *conn) textAnswer(status int, head bool, msg string) answer {
	a := c.prepared(status, head, http1.StatusText(status))
	a.finish("text/plain; charset=utf-8", []byte(strconv.Itoa(status)+" "+http1.StatusText(status)+": "+msg+"\n"))
	return a
}

// fileAnswer answers a request for the regular file f: 304 if it has not
// changed since If-Modified-Since, 206 for a satisfiable Range, 416 for
// one that is not, else 200 with the whole file.
func (c *conn) fileAnswer(r *http1.Request, f *os.File, fi os.FileInfo, name string, head bool) answer {
	size, mod := fi.Size(), fi.ModTime().UTC().Truncate(time.Second)
	lastMod := mod.Format(httpTime)
	if ims := r.Get("If-Modified-Since"); ims != nil {
		if t, err := time.Parse(httpTime, string(ims)); err == nil && !mod.After(t) {
			f.Close()
			a := c.prepared(304, true, "not modified: "+name)
			*a.buf = http1.AppendField(*a.buf, "Last-Modified", lastMod)
			a.split = len(*a.buf)
			return a
		}
	}
	start, end, status := int64(0), size, 200
	if rg := r.Get("Range"); rg != nil && (r.Get("If-Range") == nil || string(r.Get("If-Range")) == lastMod) {
		s, e, ok, valid := parseRange(string(rg), size)
		switch {
		case valid && !ok:
			f.Close()
			a := c.prepared(416, head, "range not satisfiable: "+name)
			*a.buf = http1.AppendField(*a.buf, "Content-Range", "bytes */"+itoa(size))
			a.finish("text/plain; charset=utf-8", []byte("416 Range Not Satisfiable: "+string(rg)+" of "+itoa(size)+" bytes\n"))
			return a
		case ok:
			start, end, status = s, e, 206
		}
	}
	what := "file " + name
	if status == 206 {
		what += " bytes " + itoa(start) + "-" + itoa(end-1) + " of " + itoa(size)
	}
	a := c.prepared(status, head, what)
	b := http1.AppendField(*a.buf, "Last-Modified", lastMod)
	b = append(b, "Accept-Ranges: bytes\r\n"...)
	if status == 206 {
		b = http1.AppendField(b, "Content-Range", "bytes "+itoa(start)+"-"+itoa(end-1)+"/"+itoa(size))
	}
	ctype := contentType(name, f)
	b = http1.AppendField(b, "Content-Type", ctype)
	*a.buf = b
	n := end - start
	if head || n > smallFile {
		a.split, a.length = len(b), n
		a.stream = &fileStream{f: f, off: start, left: n}
		return a
	}
	defer f.Close()
	body := make([]byte, n)
	if _, err := f.ReadAt(body, start); err != nil && !errors.Is(err, io.EOF) {
		putBuf(a.buf, *a.buf)
		return c.textAnswer(500, head, "reading "+name+": "+err.Error())
	}
	a.finish("", body)
	return a
}

// parseRange reads a Range field of one byte range (RFC 9110, 14.1.2):
// valid is false for a field it does not take (another unit, several
// ranges, a malformed one: the whole file is sent); ok is false for a
// valid range that is not satisfiable. end is exclusive.
func parseRange(v string, size int64) (start, end int64, ok, valid bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	switch {
	case first == "": // the last N bytes
		n, good := num(last)
		if !good {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, false, true
		}
		return max(size-n, 0), size, true, true
	default:
		s, good := num(first)
		if !good {
			return 0, 0, false, false
		}
		e := size - 1
		if last != "" {
			if e, good = num(last); !good || e < s {
				return 0, 0, false, false
			}
		}
		if s >= size {
			return 0, 0, false, true
		}
		return s, min(e, size-1) + 1, true, true
	}
}

// contentType names a file's type by its extension, or by its first bytes:
// text if they are UTF-8 without NUL, else octet-stream.
func contentType(name string, f *os.File) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	var head [512]byte
	n, _ := f.ReadAt(head[:], 0)
	if s := head[:n]; utf8.Valid(trimPartialRune(s)) && !slices.Contains(s, 0) {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// trimPartialRune drops a UTF-8 sequence cut at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// listing answers a directory without index.html with a page that links
// its entries.
func (c *conn) listing(name, p string, head bool) answer {
	d, err := os.OpenInRoot(c.s.o.Root, name)
	if err != nil {
		return c.fileError(err, head, p)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return c.fileError(err, head, p)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	var sb strings.Builder
	title := html.EscapeString(p)
	sb.WriteString("<!doctype html>\n<meta charset=\"utf-8\">\n<title>" + title + "</title>\n<h1>" + title + "</h1>\n<ul>\n")
	if p != "/" {
		sb.WriteString("<li><a href=\"../\">../</a></li>\n")
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		sb.WriteString("<li><a href=\"" + html.EscapeString((&url.URL{Path: "./" + n}).EscapedPath()) + "\">" + html.EscapeString(n) + "</a></li>\n")
	}
	sb.WriteString("</ul>\n")
	a := c.prepared(200, head, "listing of "+p)
	a.finish("text/html; charset=utf-8", []byte(sb.String()))
	return a
}

// piecePool holds the buffers files are read into, piece by piece.
var piecePool = sync.Pool{New: func() any { b := make([]byte, pieceSize); return &b }}

// pump writes the next pieces of the file being sent while the engine
// takes them without queuing much. It reports whether the file is out.
func (c *conn) pump() bool {
	st := c.stream
	b := piecePool.Get().(*[]byte)
	defer piecePool.Put(b)
	for st.left > 0 && c.ec.Pending() < pieceSize {
		p := (*b)[:min(int64(len(*b)), st.left)]
		n, err := st.f.ReadAt(p, st.off)
		if n < len(p) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			c.note("reading the file at %d: %v (it changed while sent?): reset", st.off, err)
			c.failStream()
			return false
		}
		if _, err := c.ec.Write(p); err != nil {
			c.failStream()
			return false
		}
		st.off += int64(n)
		st.left -= int64(n)
	}
	if st.left > 0 {
		return false
	}
	st.close()
	c.stream = nil
	return true
}

// failStream ends a response that cannot be finished: its length was
// promised, so the connection must reset.
func (c *conn) failStream() {
	c.stream.close()
	c.stream = nil
	c.phase = phaseDone
	c.ec.Abort()
}
