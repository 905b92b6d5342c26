package httpsvc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

// root makes a directory to serve, with a secret beside it that no path
// may reach, and symbolic links in and out of it.
func root(t *testing.T) (dir string, big []byte) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "www")
	big = testkit.Pattern(300<<10, 7)
	for name, data := range map[string][]byte{
		"www/hello.txt":        []byte("hello, files\n"),
		"www/page.html":        []byte("<h1>hi</h1>"),
		"www/big.bin":          big,
		"www/noext":            []byte("plain words"),
		"www/sub/index.html":   []byte("<p>index</p>"),
		"www/list/a b.txt":     []byte("a"),
		"www/list/<tag>.txt":   []byte("b"),
		"secret.txt":           []byte("not for the web"),
		"www/sub/deeper/x.txt": []byte("x"),
	} {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"www/out": "../secret.txt", "www/outdir": "..", "www/in": "hello.txt"} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	return dir, big
}

func TestFiles(t *testing.T) {
	dir, big := root(t)
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{Root: dir})
		c := dial(t, addr)
		check := func(req, method string, status int, ctype, body string) response {
			t.Helper()
			c.send(req)
			r := c.read(method)
			if r.status != status || ctype != "" && r.fields["content-type"] != ctype || body != "" && string(r.body) != body {
				t.Errorf("%q: %d %q %q; want %d %q %q", req, r.status, r.fields["content-type"], trim(r.body), status, ctype, body)
			}
			return r
		}
		r := check(get("/hello.txt"), "GET", 200, "text/plain; charset=utf-8", "hello, files\n")
		check(get("/page.html"), "GET", 200, "text/html; charset=utf-8", "<h1>hi</h1>")
		check(get("/noext"), "GET", 200, "text/plain; charset=utf-8", "plain words")
		check(get("/in"), "GET", 200, "", "hello, files\n") // a link inside the root
		check(get("/sub/"), "GET", 200, "text/html; charset=utf-8", "<p>index</p>")
		if r := check(get("/sub"), "GET", 301, "", ""); r.fields["location"] != "/sub/" {
			t.Errorf("/sub redirects to %q", r.fields["location"])
		}
		if l := check(get("/list/"), "GET", 200, "text/html; charset=utf-8", ""); !strings.Contains(string(l.body), `href="./a%20b.txt"`) || !strings.Contains(string(l.body), "&lt;tag&gt;.txt") {
			t.Errorf("listing: %s", l.body)
		}
		// Conditional and partial requests.
		lm := r.fields["last-modified"]
		check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: "+lm+"\r\n\r\n", "GET", 304, "", "")
		check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n\r\n", "GET", 200, "", "hello, files\n")
		if r := check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=7-11\r\n\r\n", "GET", 206, "", "files"); r.fields["content-range"] != "bytes 7-11/13" {
			t.Errorf("Content-Range %q", r.fields["content-range"])
		}
		check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-6\r\n\r\n", "GET", 206, "", "files\n")
		check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=100-\r\n\r\n", "GET", 416, "", "")
		check("GET /hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,3-4\r\n\r\n", "GET", 200, "", "hello, files\n")
		check("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", "HEAD", 200, "application/octet-stream", "")
		check("DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", "GET", 405, "", "")
		// A large file goes out in pieces; a request pipelined behind it
		// is answered after it, in order.
		c.send(get("/big.bin") + "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100000-\r\n\r\n" + get("/hello.txt"))
		if r := c.read("GET"); r.status != 200 || !bytes.Equal(r.body, big) {
			t.Errorf("big.bin: %d, %d bytes", r.status, len(r.body))
		}
		if r := c.read("GET"); r.status != 206 || !bytes.Equal(r.body, big[100000:]) {
			t.Errorf("big.bin from 100000: %d, %d bytes", r.status, len(r.body))
		}
		if r := c.read("GET"); string(r.body) != "hello, files\n" {
			t.Errorf("after big.bin: %q", r.body)
		}
	})
}

// No spelling of a path reaches a file outside the root: dot segments,
// encoded ones, encoded slashes and backslashes, absolute paths, NUL
// bytes, and symbolic links that point out.
func TestFilesNoEscape(t *testing.T) {
	dir, _ := root(t)
	attempts := []string{
		"/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
		"/sub/../../secret.txt", "/..\\secret.txt", "/%5c..%5csecret.txt", "//../secret.txt",
		"/" + filepath.Join(filepath.Dir(dir), "secret.txt"), "/out", "/outdir/secret.txt", "/hello.txt%00.html",
		"http://t/../secret.txt",
	}
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{Root: dir})
		for _, p := range attempts {
			c := dial(t, addr)
			c.send("GET " + p + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
			r, err := c.tryRead("GET")
			if err != nil {
				t.Errorf("GET %s: %v", p, err)
				continue
			}
			if bytes.Contains(r.body, []byte("not for the web")) || r.status == 200 {
				t.Errorf("GET %s: %d %q — escaped the root", p, r.status, trim(r.body))
			}
		}
	})
}

func trim(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// A slow reader of a large file holds the server to a piece or so of it
// at a time, never the file.
func TestFilesSlowReader(t *testing.T) {
	dir, big := root(t)
	svc := httpsvc.New(httpsvc.Options{Root: dir})
	srv, ep := testkit.ServeEngine(t, &engine.Config{HighWatermark: 64 << 10, SendBuf: 8 << 10}, "tcp", svc)
	c := dial(t, ep.Addr)
	c.send(get("/big.bin"))
	most := int64(0)
	testkit.Eventually(t, "the kernel's buffers to fill", func() bool {
		st := srv.Stats()
		most = max(most, st.Held)
		return st.BytesOut >= 64<<10
	})
	if most > 4*64<<10 {
		t.Errorf("the server held %d bytes for one client that does not read", most)
	}
	if r := c.read("GET"); !bytes.Equal(r.body, big) {
		t.Errorf("got %d bytes", len(r.body))
	}
}
