package cli

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// serve http:// and https:// (and --service http on tcp): files from
// --root, the JSON of /anything, the narration of -v, the summary.
func TestServeHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>home</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, &ServeOptions{Endpoints: []string{"http://127.0.0.1:0", "https://127.0.0.1:0/", "tcp://127.0.0.1:0"},
		Root: dir, Verbose: true, Service: "http", ServiceSet: true})
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: testkit.Timeout}
	for i, scheme := range []string{"http", "https", "http"} {
		base := scheme + "://" + s.addrs[i].String()
		for path, want := range map[string]string{"/": "<h1>home</h1>", "/anything/q?x=1": `"args": {"x": ["1"]}`} {
			resp, err := cl.Get(base + path)
			if err != nil {
				t.Fatalf("GET %s%s: %v", base, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), want) {
				t.Errorf("GET %s%s: %d %s; want %q in it", base, path, resp.StatusCode, body, want)
			}
		}
	}
	testkit.MustContain(t, "banner", s.out.String(), "sockit serve: http service", "curl -i http://127.0.0.1:", "curl -i -k https://127.0.0.1:")
	testkit.MustContain(t, "narration", s.errOut.String(), "request line: GET /anything/q?x=1 HTTP/1.1", "response: 200 OK")
	s.stopWith(t, "HTTP: 6 requests on ")
}

// http:// endpoints choose the HTTP service; other services refuse them,
// and it refuses datagrams and WebSocket (usage errors, exit 2).
func TestServeHTTPUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts ServeOptions
		want string
	}{
		{opts: ServeOptions{Endpoints: []string{"http://127.0.0.1:0"}, Service: "echo", ServiceSet: true}, want: "serves the HTTP service, not echo"},
		{opts: ServeOptions{Endpoints: []string{"udp://127.0.0.1:0"}, Service: "http", ServiceSet: true}, want: "runs over streams"},
		{opts: ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/x"}, Service: "http", ServiceSet: true}, want: "runs over streams"},
		{opts: ServeOptions{Endpoints: []string{"udp://127.0.0.1:0"}, Service: "chat", ServiceSet: true}, want: "a room needs its members connected"},
		{opts: ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Root: "/tmp"}, want: "--root serves files over HTTP"},
	} {
		o := tt.opts
		o.IO = IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
		err := runServe(t.Context(), &o)
		var ue usageErr
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v --service %s: %v, want a usage error about %q", o.Endpoints, o.Service, err, tt.want)
		}
	}
}

// --service chat: a tcp client and a ws client in one room.
func TestServeChat(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0", "ws://127.0.0.1:0/chat"}, Service: "chat", ServiceSet: true})
	a := testkit.Dial(t, "tcp", s.addrs[0].String())
	ra := bufio.NewReader(a)
	if line, err := ra.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* welcome") {
		t.Fatalf("welcome: %q, %v", line, err)
	}
	resp, err := http.Get("http://" + s.addrs[1].String() + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	testkit.MustContain(t, "the chat page", string(page), "WebSocket chat", "const chat = true")
	b := testkit.Dial(t, "tcp", s.addrs[0].String())
	rb := bufio.NewReader(b)
	rb.ReadString('\n') // welcome
	if line, _ := ra.ReadString('\n'); !strings.Contains(line, "joined (2 here)") {
		t.Errorf("join notice: %q", line)
	}
	b.Write([]byte("hi there\n"))
	if line, _ := ra.ReadString('\n'); line != b.LocalAddr().String()+": hi there\n" {
		t.Errorf("a got %q", line)
	}
	b.Close()
	if line, _ := ra.ReadString('\n'); !strings.Contains(line, "left") {
		t.Errorf("leave notice: %q", line)
	}
	a.Close()
	testkit.MustContain(t, "banner", s.out.String(), "sockit serve: chat service", "(type lines; run it twice, and talk)")
	s.stopWith(t, "chat: 2 joined, 2 left (0 dropped for not reading); 1 message said")
}
