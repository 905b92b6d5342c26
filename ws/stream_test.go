package ws_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// The stream view, either side: messages in order, a message longer than
// the buffer over several Reads, the close frame as a half-close.
func TestStreamHalfClose(t *testing.T) {
	t.Parallel()
	client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
	cs, ss := ws.NewStream(client, ws.StreamOptions{}), ws.NewStream(server, ws.StreamOptions{})
	for _, m := range []string{"one ", "", "two ", "three"} {
		if n, err := cs.Write([]byte(m)); n != len(m) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", m, n, err)
		}
	}
	if err := cs.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := cs.CloseWrite(); err != nil {
		t.Errorf("a second CloseWrite = %v, want nil", err)
	}
	var got []byte
	buf := make([]byte, 3)
	for {
		n, err := ss.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server Read: %v", err)
		}
		if n > 3 {
			t.Fatalf("Read returned %d bytes into 3", n)
		}
	}
	if string(got) != "one two three" {
		t.Errorf("server read %q", got)
	}
	// The peer has closed its side; this side still writes.
	if _, err := ss.Write([]byte("the answer")); err != nil {
		t.Fatalf("Write after the peer's close frame = %v", err)
	}
	if err := ss.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(cs)
	if err != nil || string(all) != "the answer" {
		t.Errorf("client read %q, %v; want the answer, then EOF", all, err)
	}
	if _, err := cs.Write([]byte("late")); !errors.Is(err, ws.ErrCloseSent) {
		t.Errorf("Write after CloseWrite = %v, want ErrCloseSent", err)
	}
	done := make(chan error, 1)
	go func() { done <- cs.Close() }()
	if err := ss.Close(); err != nil {
		t.Errorf("server Close = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("client Close = %v", err)
	}
	var se *sockit.Error
	if _, err := cs.Read(buf); !errors.As(err, &se) || se.Op != "read" || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want a *sockit.Error for a closed conn", err)
	}
}

// Read's end of data: io.EOF for a normal close, an error holding the
// close code for any other.
func TestStreamCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   ws.CloseCode
		reason string
		eof    bool
	}{
		{name: "normal", code: ws.CloseNormal, eof: true},
		{name: "going away", code: ws.CloseGoingAway, reason: "bye", eof: true},
		{name: "no status", code: 0, eof: true},
		{name: "internal error", code: ws.CloseInternalError, reason: "the target is unreachable"},
		{name: "application", code: 4000, reason: "as you wish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
			cs := ws.NewStream(client, ws.StreamOptions{})
			if err := server.CloseWrite(tt.code, tt.reason); err != nil {
				t.Fatal(err)
			}
			_, err := cs.Read(make([]byte, 10))
			if tt.eof {
				if err != io.EOF {
					t.Errorf("Read after close %v = %v, want io.EOF", tt.code, err)
				}
				return
			}
			var ce *ws.CloseError
			var se *sockit.Error
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Reason != tt.reason || !errors.As(err, &se) || se.Op != "read" {
				t.Errorf("Read after close %v = %v, want a *sockit.Error holding the code and reason", tt.code, err)
			}
		})
	}
}

// The opcode policy: binary always, or text for valid UTF-8.
func TestStreamOpcodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts ws.StreamOptions
		want [2]ws.Opcode // for "héllo" and for \xff
	}{
		{opts: ws.StreamOptions{}, want: [2]ws.Opcode{ws.OpBinary, ws.OpBinary}},
		{opts: ws.StreamOptions{TextIfUTF8: true}, want: [2]ws.Opcode{ws.OpText, ws.OpBinary}},
	} {
		client, server := blockingPair(t, ws.ClientOptions{}, ws.ServerOptions{})
		cs := ws.NewStream(client, tt.opts)
		for i, m := range []string{"héllo", "\xff"} {
			cs.Write([]byte(m))
			if op, got, err := server.ReadMessage(); err != nil || op != tt.want[i] || string(got) != m {
				t.Errorf("TextIfUTF8 %v, write %q: the peer read %v %q, %v; want %v", tt.opts.TextIfUTF8, m, op, got, err, tt.want[i])
			}
		}
	}
}

// Stream passes nettest's conformance suite over TCP, with either side as
// the conn under test.
func TestStreamConn(t *testing.T) {
	t.Parallel()
	// Close waits for the peer's close frame: long enough for nettest's
	// megabyte to drain first under -race, short enough for the Close its
	// CloseTimeout test leaves unanswered.
	opts := ws.ClientOptions{CloseTimeout: 5 * time.Second}
	sopts := ws.ServerOptions{CloseTimeout: 5 * time.Second}
	for _, clientFirst := range []bool{true, false} {
		name := "client"
		if !clientFirst {
			name = "server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				nc, ns, err := testkit.Pipe("tcp4")
				if err != nil {
					return nil, nil, nil, err
				}
				client, server, err := upgradePair(nc, ns, opts, sopts)
				if err != nil {
					nc.Close()
					ns.Close()
					return nil, nil, nil, err
				}
				c1, c2 = ws.NewStream(client, ws.StreamOptions{}), ws.NewStream(server, ws.StreamOptions{})
				if !clientFirst {
					c1, c2 = c2, c1
				}
				return c1, c2, func() { testkit.CloseBoth(c1, c2) }, nil
			})
		})
	}
}
