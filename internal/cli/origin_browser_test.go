//go:build unix

package cli

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// connectScript opens a WebSocket to arguments[0] from the page it runs
// in, sends a message, and ends with the first message back, or with the
// close code (1006 for an upgrade the server refused: a browser tells a
// page no more).
const connectScript = `
const done = arguments[arguments.length - 1];
const ws = new WebSocket(arguments[0]);
ws.binaryType = "arraybuffer";
ws.onopen = () => ws.send("hello from " + location.origin);
ws.onmessage = e => {
	done("message: " + (typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data)));
	ws.close();
};
ws.onclose = e => done("closed: " + e.code);
`

// otherOrigin serves a plain page on a loopback address and port of its
// own: another origin than any server under test.
func otherOrigin(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>another origin</title><p>a page of another site"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// relayRun is one runRelay running in the background.
type relayRun struct {
	addr   net.Addr
	out    *testkit.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startRelay runs runRelay with opts until the test ends, and returns once
// it listens.
func startRelay(t *testing.T, opts *RelayOptions) *relayRun {
	t.Helper()
	r := &relayRun{out: new(testkit.Buffer), done: make(chan error, 1)}
	opts.IO = IOStreams{In: strings.NewReader(""), Out: r.out, ErrOut: new(testkit.Buffer)}
	if opts.Grace == 0 {
		opts.Grace = time.Second
	}
	ready := make(chan net.Addr, 1)
	opts.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- runRelay(ctx, opts) }()
	t.Cleanup(func() { r.stop(t) })
	select {
	case r.addr = <-ready:
	case err := <-r.done:
		t.Fatalf("runRelay returned before listening: %v", err)
	case <-time.After(testkit.Timeout):
		t.Fatalf("runRelay not listening after %s", testkit.Timeout)
	}
	return r
}

func (r *relayRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("runRelay = %v", err)
		}
	case <-time.After(testkit.Timeout):
		t.Errorf("runRelay did not return %s after its context was cancelled", testkit.Timeout)
	}
}

// A real browser: a page of another origin (another port, another
// loopback address) cannot open a WebSocket to serve's ws:// endpoint or
// to a ws:// relay — it gets 403, which the page sees as close code 1006
// — while the endpoint's own page can, and --allow-origin lets a named
// origin in. The servers count the refusals.
func TestOriginPolicyInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	b := testkit.StartBrowser(t)
	other, other2 := otherOrigin(t, "127.0.0.1"), otherOrigin(t, "127.0.0.2")
	connect := func(page, ws string) string {
		t.Helper()
		b.Open(t, page)
		got, _ := b.Run(t, connectScript, ws).(string)
		return got
	}

	t.Run("serve", func(t *testing.T) {
		s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}})
		at := s.addrs[0].String()
		ws := "ws://" + at + "/echo"
		if got, want := connect("http://"+at+"/", ws), "message: hello from http://"+at; got != want {
			t.Errorf("from its own page: %q, want %q", got, want)
		}
		for _, page := range []string{other, other2} {
			if got := connect(page+"/", ws); got != "closed: 1006" {
				t.Errorf("from a page of %s: %q, want the upgrade refused (closed: 1006)", page, got)
			}
		}
		b.Open(t, "about:blank")
		if err := s.stop(t); err != nil {
			t.Fatal(err)
		}
		testkit.MustContain(t, "summary", s.out.String(), " 2 refused (2 for their Origin)")
	})

	t.Run("serve --allow-origin", func(t *testing.T) {
		s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}, AllowOrigins: []string{other}})
		ws := "ws://" + s.addrs[0].String() + "/echo"
		if got, want := connect(other+"/", ws), "message: hello from "+other; got != want {
			t.Errorf("from an allowed origin: %q, want %q", got, want)
		}
		if got := connect(other2+"/", ws); got != "closed: 1006" {
			t.Errorf("from an origin not allowed: %q, want closed: 1006", got)
		}
	})

	// The relay forwards to a TCP echo server: the local service a page
	// on the web must not reach through a visitor's browser.
	echo := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	for _, tt := range []struct {
		name  string
		allow []string
		page  string
		want  string
	}{
		{name: "relay admits its own origin", page: "self", want: "message: hello from self"},
		{name: "relay refuses another port", page: other, want: "closed: 1006"},
		{name: "relay refuses another address", page: other2, want: "closed: 1006"},
		{name: "relay --allow-origin", allow: []string{other}, page: other, want: "message: hello from " + other},
		{name: "relay --allow-origin *", allow: []string{"*"}, page: other2, want: "message: hello from " + other2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, &RelayOptions{From: "ws://127.0.0.1:0/", To: echo.endpoint(0), AllowOrigins: tt.allow})
			page, want := tt.page, tt.want
			if page == "self" {
				// The relay answers a plain GET with 426 and a line of
				// text: a page of its own origin all the same.
				page = "http://" + r.addr.String()
				want = strings.ReplaceAll(want, "self", page)
			}
			if got := connect(page+"/", "ws://"+r.addr.String()+"/"); got != want {
				t.Errorf("from a page of %s: %q, want %q", page, got, want)
			}
			b.Open(t, "about:blank")
			r.stop(t)
			refused := "1 upgraded, 0 refused (0 for their Origin)"
			if strings.HasPrefix(tt.want, "closed") {
				refused = "0 upgraded, 1 refused (1 for its Origin)"
			}
			testkit.MustContain(t, "relay summary", r.out.String(), refused)
		})
	}
}
