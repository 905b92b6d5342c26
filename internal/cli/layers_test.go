package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// failingReader returns err once its data is read.
type failingReader struct {
	data io.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if n, _ := r.data.Read(p); n > 0 {
		return n, nil
	}
	return 0, r.err
}

// connect ws:// ends the input on a read error as at EOF (a close frame,
// the echoes until the server's close frame), then reports the error.
func TestConnectWSInputError(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}})
	broken := errors.New("input broke")
	var out bytes.Buffer
	err := runConnect(context.Background(), &ConnectOptions{
		IO:       IOStreams{In: &failingReader{data: strings.NewReader("one\n"), err: broken}, Out: &out, ErrOut: io.Discard},
		Endpoint: "ws://" + s.addrs[0].String() + "/echo",
	})
	if !errors.Is(err, broken) || out.String() != "one\n" {
		t.Errorf("runConnect = %v, printed %q; want %v after %q", err, out.String(), broken, "one\n")
	}
}

// Services other than echo run over WebSocket too, as streams: daytime's
// line arrives as a message, then its close frame; no echo page is
// offered for them.
func TestServeDaytimeOverWebSocket(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/t", "wss://127.0.0.1:0/t"}, Service: "daytime"})
	for i, scheme := range []string{"ws", "wss"} {
		opts, out, errOut := sendOpts(scheme+"://"+s.addrs[i].String()+"/t", "hi")
		opts.TLS.Insecure = true
		if err := runSend(context.Background(), opts); err != nil {
			t.Fatalf("send %s: %v\n%s", scheme, err, errOut)
		}
		line := strings.TrimSuffix(out.String(), "\r\n")
		if _, err := time.Parse(service.DaytimeLayout, line); err != nil {
			t.Errorf("send %s printed %q, want a daytime line: %v", scheme, out, err)
		}
	}
	if banner := s.out.String(); strings.Contains(banner, "in a browser") {
		t.Errorf("the banner offers the echo page for daytime:\n%s", banner)
	}
}

// connect ws:// on a terminal works a line at a time, with the prompt, as
// over tcp; its hint says what Ctrl-D sends there.
func TestConnectWSTerminal(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}})
	var out, errOut bytes.Buffer
	err := runConnect(context.Background(), &ConnectOptions{
		IO:       IOStreams{In: strings.NewReader("one\ntwo\n"), Out: &out, ErrOut: &errOut, InTTY: true},
		Endpoint: "ws://" + s.addrs[0].String() + "/echo",
	})
	if err != nil {
		t.Fatal(err)
	}
	if hint := errOut.String(); !strings.Contains(hint, "each line is a message; Ctrl-D sends a close frame") {
		t.Errorf("stderr %q, want the WebSocket hint", hint)
	}
	if got := out.String(); !strings.Contains(got, "> ") || !strings.Contains(got, "one\n") || !strings.Contains(got, "two\n") {
		t.Errorf("printed %q, want the prompt and both lines back", got)
	}
}

// -v narrates the socket under TLS: the handshake, then records, not the
// plaintext's 6 bytes.
func TestSendVerboseTLS(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tls://127.0.0.1:0"}})
	opts, out, errOut := sendOpts(s.endpoint(0), "hello")
	opts.Verbose, opts.TLS.Insecure = true, true
	if err := runSend(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	log := errOut.String()
	if out.String() != "hello\n" || !strings.Contains(log, "TLS handshake done: TLS 1.3") || strings.Contains(log, "write 6 bytes") {
		t.Errorf("printed %q; narration:\n%s\nwant the echo, the handshake, and the socket's writes (ciphertext)", out, log)
	}
}

// The echo page answers HEAD as GET, without the body; a browser's
// /favicon.ico is a plain request refused, not a refused upgrade; and the
// summary says why in and out differ over WebSocket.
func TestServeWebSocketSummary(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}})
	request := func(req string) string {
		c := testkit.Dial(t, "tcp", s.addrs[0].String())
		if _, err := io.WriteString(c, req+" HTTP/1.1\r\nHost: "+s.addrs[0].String()+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		defer c.Close() // the server waits for it: its close after the answer reads to our FIN
		return string(readAll(t, c))
	}
	get := request("GET /echo")
	head := request("HEAD /echo")
	body := get[strings.Index(get, "\r\n\r\n")+4:]
	if !strings.HasPrefix(get, "HTTP/1.1 200 ") || len(body) == 0 || head != strings.TrimSuffix(get, body) {
		t.Errorf("HEAD /echo answered %q; want the head of GET's answer %q", head, strings.TrimSuffix(get, body))
	}
	if got := request("GET /favicon.ico"); !strings.HasPrefix(got, "HTTP/1.1 404 ") {
		t.Errorf("GET /favicon.ico answered %q, want 404", got)
	}
	if got := send(t, "ws://"+s.addrs[0].String()+"/echo", "hello"); got != "hello\n" {
		t.Errorf("send printed %q", got)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "summary", s.out.String(),
		" (on the sockets: WebSocket framing and handshakes included, so in and out differ even for echo)\n",
		"WebSocket: 1 upgraded, 0 refused (0 for their Origin); 2 pages served, 1 other HTTP request refused (not a page: a browser's /favicon.ico, say); messages in 1, out 1; 0 connections closed for protocol errors\n")
}
