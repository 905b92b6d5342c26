package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

func TestDialEcho(t *testing.T) {
	forNetworks(t, []network{tcp4, tcp6, unixStream, unixPacket, udp4, unixgram}, func(t *testing.T, nw network) {
		_, ep := serveEcho(t, nw)
		c := dial(t, ep, client.Options{})
		if got := c.Endpoint(); got != ep {
			t.Errorf("Endpoint() = %v, want %v", got, ep)
		}
		msg := []byte("hello over " + nw.scheme + "\n")
		var out bytes.Buffer
		if err := client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil {
			t.Fatalf("Send = %v", err)
		}
		if !bytes.Equal(out.Bytes(), msg) {
			t.Errorf("echo = %q, want %q", out.Bytes(), msg)
		}
	})
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ep   func(t *testing.T) endpoint.Endpoint
	}{
		{name: "tcp closed port", ep: func(t *testing.T) endpoint.Endpoint {
			return endpoint.Endpoint{Scheme: "tcp4", Addr: testkit.Refused(t)}
		}},
		{name: "unix stale socket file", ep: func(t *testing.T) endpoint.Endpoint {
			return endpoint.Endpoint{Scheme: "unix", Addr: testkit.StaleSocket(t, "stale.sock")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep := tt.ep(t)
			c, err := client.Dial(testkit.Context(t), ep, client.Options{})
			if err == nil {
				c.Close()
				t.Fatalf("Dial(%s) succeeded, want connection refused", ep)
			}
			var se *sockit.Error
			if !errors.As(err, &se) {
				t.Fatalf("Dial error %T (%v) is not a *sockit.Error", err, err)
			}
			if se.Op != "connect" || se.Net != ep.Network() || se.Addr != ep.Addr {
				t.Errorf("Dial error = {Op: %q, Net: %q, Addr: %q}, want {Op: \"connect\", Net: %q, Addr: %q}",
					se.Op, se.Net, se.Addr, ep.Network(), ep.Addr)
			}
			if k := se.Kind(); k != sockit.KindRefused {
				t.Errorf("Kind() = %v, want %v (err: %v)", k, sockit.KindRefused, err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("errors.Is(%v, ECONNREFUSED) = false", err)
			}
		})
	}
}

// TestDialUnixgramTempFile checks that the socket file Dial binds for a
// unixgram client lives in the temporary directory and that Close removes
// it, and that a failed Dial leaves nothing behind. It sets TMPDIR, so it
// cannot run in parallel.
func TestDialUnixgramTempFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unixgram sockets do not exist on windows")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, ep := serveEcho(t, unixgram)

	c, err := client.Dial(testkit.Context(t), ep, client.Options{})
	if err != nil {
		t.Fatalf("Dial(%s) = %v", ep, err)
	}
	la, ok := c.LocalAddr().(*net.UnixAddr)
	if !ok || la.Name == "" {
		c.Close()
		t.Fatalf("LocalAddr() = %#v, want a bound *net.UnixAddr", c.LocalAddr())
	}
	if rel, err := filepath.Rel(tmp, la.Name); err != nil || !filepath.IsLocal(rel) {
		t.Errorf("client socket %q is not under TMPDIR %q", la.Name, tmp)
	}
	if fi, err := os.Lstat(la.Name); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("client socket file %q: Lstat = %v, %v; want a socket", la.Name, fi, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, err := os.Lstat(la.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, Lstat(%q) = %v, want not exist", la.Name, err)
	}
	assertEmptyDir(t, tmp)

	missing := endpoint.Endpoint{Scheme: "unixgram", Addr: filepath.Join(t.TempDir(), "none.sock")}
	if c, err := client.Dial(testkit.Context(t), missing, client.Options{}); err == nil {
		c.Close()
		t.Fatalf("Dial(%s) succeeded, want an error", missing)
	}
	assertEmptyDir(t, tmp)
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("%s holds %v, want it empty", dir, names)
	}
}

// step is the part of an Event the observer test compares.
type step struct {
	Step sockit.Step
	EOF  bool // StepRead with N == 0
}

func TestObserverSendSteps(t *testing.T) {
	forNetworks(t, []network{tcp4, unixStream}, func(t *testing.T, nw network) {
		want := []step{
			{Step: sockit.StepSocket},
			{Step: sockit.StepConnect},
			{Step: sockit.StepConnected},
			{Step: sockit.StepWrite},
			{Step: sockit.StepShutdown},
			{Step: sockit.StepRead},
			{Step: sockit.StepRead, EOF: true},
			{Step: sockit.StepClose},
		}
		if runtime.GOOS == "windows" && nw.scheme == "unix" {
			t.Skip("Unix socket half-close is not reliable on windows")
		}
		_, ep := serveEcho(t, nw)
		rec := &testkit.Recorder{}
		c, err := client.Dial(testkit.Context(t), ep, client.Options{Observer: rec})
		if err != nil {
			t.Fatalf("Dial = %v", err)
		}
		msg := []byte("observe me")
		var out bytes.Buffer
		err = client.Send(testkit.Context(t), c, msg, &out, client.SendOptions{Timeout: testkit.Timeout})
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("Send, Close = %v", err)
		}

		evs := rec.Events()
		var got []step
		for _, e := range evs {
			s := step{Step: e.Step, EOF: e.Step == sockit.StepRead && e.N == 0}
			// The echo may come back in several reads; compare one.
			if len(got) > 0 && s == got[len(got)-1] && s.Step == sockit.StepRead && !s.EOF {
				continue
			}
			got = append(got, s)
		}
		if !slices.Equal(got, want) {
			t.Errorf("steps:\n got %v\nwant %v\nevents: %v", got, want, evs)
		}
		fd := evs[0].FD
		if runtime.GOOS != "windows" && fd < 0 {
			t.Errorf("socket event has fd %d, want a descriptor", fd)
		}
		var written, read int
		for _, e := range evs {
			if e.FD != fd {
				t.Errorf("event %v has fd %d, want the socket's fd %d", e, e.FD, fd)
			}
			if e.Err != nil {
				t.Errorf("event %v has error %v", e, e.Err)
			}
			switch e.Step {
			case sockit.StepWrite:
				written += e.N
			case sockit.StepRead:
				read += e.N
			case sockit.StepConnected:
				if e.Peer == nil || e.Peer.String() != ep.Addr {
					t.Errorf("connected event peer = %v, want %s", e.Peer, ep.Addr)
				}
			case sockit.StepShutdown:
				if e.Detail != "SHUT_WR" {
					t.Errorf("shutdown detail = %q, want SHUT_WR", e.Detail)
				}
			}
		}
		if written != len(msg) || read != len(msg) {
			t.Errorf("observed %d bytes written and %d read, want %d each", written, read, len(msg))
		}
	})
}

// Dial opens sockets only: a layered endpoint is refused with a named
// error, not dialed as plain TCP.
func TestDialRefusesLayered(t *testing.T) {
	t.Parallel()
	_, plain := serveEcho(t, tcp4)
	for _, scheme := range []string{"tls", "ws", "wss"} {
		ep := endpoint.Endpoint{Scheme: scheme, Addr: plain.Addr}
		if ep.IsWebSocket() {
			ep.Path = "/"
		}
		c, err := client.Dial(testkit.Context(t), ep, client.Options{})
		if c != nil {
			c.Close()
			t.Errorf("Dial(%s) connected", ep)
		}
		var se *sockit.Error
		if !errors.Is(err, endpoint.ErrLayered) || !errors.As(err, &se) || se.Op != "connect" || se.Net != scheme {
			t.Errorf("Dial(%s) = %v, want a connect *sockit.Error holding endpoint.ErrLayered", ep, err)
		}
	}
}

// Options.Linger > 0 is rounded up to whole seconds for SO_LINGER, so that
// a sub-second linger still closes gracefully (FIN after the data) instead
// of becoming SO_LINGER 0, a reset; only a negative Linger resets.
func TestDialLinger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		linger    time.Duration
		wantReset bool
	}{
		{name: "unset", linger: 0},
		{name: "sub-second", linger: 200 * time.Millisecond},
		{name: "one and a half seconds", linger: 1500 * time.Millisecond},
		{name: "negative", linger: -1, wantReset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type result struct {
				got []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				sc, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer sc.Close()
				sc.SetDeadline(time.Now().Add(testkit.Timeout))
				got, err := io.ReadAll(sc)
				done <- result{got: got, err: err}
			}()
			ep := endpoint.Endpoint{Scheme: "tcp4", Addr: ln.Addr().String()}
			c, err := client.Dial(testkit.Context(t), ep, client.Options{Linger: tt.linger})
			if err != nil {
				t.Fatalf("Dial with Linger %v: %v", tt.linger, err)
			}
			const msg = "the whole message"
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			r := testkit.Receive(t, done, "the server's read")
			switch {
			case tt.wantReset && !errors.Is(r.err, syscall.ECONNRESET):
				t.Errorf("Linger %v: server read %q, %v; want ECONNRESET", tt.linger, r.got, r.err)
			case !tt.wantReset && (r.err != nil || string(r.got) != msg):
				t.Errorf("Linger %v: server read %q, %v; want %q, then EOF (an RST means SO_LINGER 0)", tt.linger, r.got, r.err, msg)
			}
		})
	}
}

// An Accept whose context ended does not spoil the next one: it waits
// anew and takes the connection that comes.
func TestAcceptAfterCanceledAccept(t *testing.T) {
	t.Parallel()
	ln, err := client.Listen(testkit.Context(t), endpoint.MustParse("tcp://127.0.0.1:0"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(testkit.Context(t), 20*time.Millisecond)
	_, err = ln.Accept(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept with nobody connecting = %v, want its context's deadline", err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept(testkit.Context(t))
	if err != nil {
		t.Fatalf("the next Accept: %v", err)
	}
	s.Close()
}
