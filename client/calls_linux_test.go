package client_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/sockapi"
)

// send dials ep with o, sends msg with so and returns the reply, the
// error and the narration.
func sendWith(t *testing.T, ep endpoint.Endpoint, o client.Options, msg string, so client.SendOptions) (reply, story string, err error) {
	t.Helper()
	rec := new(testkit.Recorder)
	o.Observer = rec
	c, err := client.Dial(testkit.Context(t), ep, o)
	if err != nil {
		return "", strings.Join(rec.Texts(), "\n"), err
	}
	defer c.Close()
	if so.Timeout == 0 {
		so.Timeout = testkit.Timeout
	}
	var out bytes.Buffer
	err = client.Send(testkit.Context(t), c, []byte(msg), &out, so)
	return out.String(), strings.Join(rec.Texts(), "\n"), err
}

// The UDP client sends with sendto and receives with recvfrom, without
// connect(2), unless asked to connect; a UDP connect is narrated as
// sending nothing.
func TestUDPClientIsUnconnected(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, udp4)
	got, story, err := sendWith(t, ep, client.Options{}, "hi\n", client.SendOptions{})
	if err != nil || got != "hi\n" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	testkit.MustContain(t, "narration", story, "sendto 3 bytes to "+ep.Addr, "recvfrom 3 bytes from "+ep.Addr)
	if strings.Contains(story, "connect ") {
		t.Errorf("an unconnected UDP client narrated a connect:\n%s", story)
	}
	got, story, err = sendWith(t, ep, client.Options{Connect: true}, "hi\n", client.SendOptions{})
	if err != nil || got != "hi\n" {
		t.Fatalf("Send with Connect = %q, %v", got, err)
	}
	testkit.MustContain(t, "narration", story, "connect "+ep.Addr+" (a datagram socket's connect sends nothing", "write 3 bytes", "read 3 bytes")
}

// A UDP send to a closed port fails with ECONNREFUSED, and the error says
// that an ICMP port unreachable came back; -v names where it came from.
func TestUDPRefusalNamesTheICMPMessage(t *testing.T) {
	t.Parallel()
	ep := endpoint.Endpoint{Scheme: "udp", Addr: testkit.RefusedUDP(t)}
	for _, connect := range []bool{false, true} {
		_, story, err := sendWith(t, ep, client.Options{Connect: connect}, "hi\n", client.SendOptions{})
		if sockit.KindOf(err) != sockit.KindRefused || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect %v: Send = %v, want ECONNREFUSED", connect, err)
		}
		testkit.MustContain(t, "error", err.Error(), "an ICMP port unreachable came back", "[ECONNREFUSED]")
		if !connect {
			testkit.MustContain(t, "narration", story, "recvfrom = -1 ECONNREFUSED",
				"error queue (MSG_ERRQUEUE): port unreachable from 127.0.0.1 about a datagram to "+ep.Addr)
		}
	}
}

// The calls and flags chosen are the calls made, each narrated; a peek is
// followed by the read that takes the bytes.
func TestCallsAreTheCallsMade(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	tests := []struct {
		name  string
		calls client.Calls
		want  []string
	}{
		{name: "sendmsg and readv", calls: client.Calls{Send: sockapi.SendMsg, Recv: sockapi.Readv},
			want: []string{"sendmsg 6 bytes", "readv(2 vectors: 32768+32768 bytes) 6 bytes"}},
		{name: "writev and recvfrom", calls: client.Calls{Send: sockapi.Writev, Recv: sockapi.RecvFrom},
			want: []string{"writev(2 vectors: 3+3 bytes) 6 bytes", "recvfrom 6 bytes"}},
		{name: "peek", calls: client.Calls{RecvFlags: sockapi.Peek},
			want: []string{"write 6 bytes", "recv(MSG_PEEK) 6 bytes", "read 6 bytes", "read 0: peer sent FIN"}},
		{name: "waitall", calls: client.Calls{Recv: sockapi.Recv, RecvFlags: sockapi.WaitAll},
			want: []string{"recv(MSG_WAITALL) 6 bytes"}},
		{name: "dontroute", calls: client.Calls{Send: sockapi.Send, SendFlags: sockapi.DontRoute},
			want: []string{"send(MSG_DONTROUTE) 6 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, story, err := sendWith(t, ep, client.Options{Calls: tt.calls}, "hello\n", client.SendOptions{})
			if err != nil || got != "hello\n" {
				t.Fatalf("Send = %q, %v\n%s", got, err, story)
			}
			testkit.MustContain(t, "narration", story, tt.want...)
		})
	}
}

// MSG_DONTWAIT on a read that has nothing yet: EAGAIN, narrated, then the
// client waits for the socket as poll(2) would and reads again.
func TestDontWaitReadsAgainWhenReady(t *testing.T) {
	t.Parallel()
	reply := make(chan struct{})
	ep := tcpServer(t, func(c net.Conn) {
		c.Read(make([]byte, 16))
		<-reply // answer only once the client has met EAGAIN
		c.Write([]byte("late\n"))
		c.Close()
	})
	rec := new(testkit.Recorder)
	rec2 := sockit.ObserverFunc(func(e sockit.Event) {
		rec.Observe(e)
		if e.Err != nil && errors.Is(e.Err, syscall.EAGAIN) {
			select {
			case <-reply:
			default:
				close(reply)
			}
		}
	})
	c := dial(t, ep, client.Options{Observer: rec2, Calls: client.Calls{RecvFlags: sockapi.DontWait}})
	var out bytes.Buffer
	if err := client.Send(testkit.Context(t), c, []byte("x"), &out, client.SendOptions{Timeout: testkit.Timeout}); err != nil || out.String() != "late\n" {
		t.Fatalf("Send = %q, %v", out.String(), err)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "recv(MSG_DONTWAIT) = -1 EAGAIN", "recv(MSG_DONTWAIT) 5 bytes")
}

// Calls that cannot work together are refused, naming the fields.
func TestCallsRefused(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, udp4)
	tests := []struct {
		name   string
		o      client.Options
		fields []string
	}{
		{name: "write with flags", o: client.Options{Calls: client.Calls{Send: sockapi.Write, SendFlags: sockapi.OOB}}, fields: []string{"Calls.Send", "Calls.SendFlags"}},
		{name: "readv with flags", o: client.Options{Calls: client.Calls{Recv: sockapi.Readv, RecvFlags: sockapi.Peek}}, fields: []string{"Calls.Recv", "Calls.RecvFlags"}},
		{name: "write on unconnected udp", o: client.Options{Calls: client.Calls{Send: sockapi.Write}}, fields: []string{"Calls.Send", "Connect"}},
		{name: "bad local address", o: client.Options{Source: "not an address:x"}, fields: []string{"Source"}},
	}
	for _, tt := range tests {
		_, err := client.Dial(testkit.Context(t), ep, tt.o)
		var oe *sockit.OptionError
		if !errors.As(err, &oe) || strings.Join(oe.Fields, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: Dial = %v, want an OptionError on %v", tt.name, err, tt.fields)
		}
	}
}

// The shutdown at the end of the message: SHUT_RD reads end of file at
// once; none sends no FIN and takes a quiet server's silence as the end.
func TestSendShutdownModes(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	got, story, err := sendWith(t, ep, client.Options{}, "hello\n", client.SendOptions{Shutdown: sockapi.ShutRD})
	if err != nil {
		t.Fatalf("SHUT_RD: %v", err)
	}
	testkit.MustContain(t, "SHUT_RD narration", story, "shutdown(SHUT_RD)", "read 0: end of file: reading was shut down here (SHUT_RD)")
	if strings.Contains(story, "shutdown(SHUT_WR)") {
		t.Errorf("SHUT_RD sent FIN too:\n%s", story)
	}
	_ = got // whatever had arrived before the shutdown is still read
	got, story, err = sendWith(t, ep, client.Options{}, "hello\n", client.SendOptions{Shutdown: sockapi.ShutNone, Timeout: 200 * time.Millisecond})
	if err != nil || got != "hello\n" {
		t.Fatalf("no shutdown: %q, %v", got, err)
	}
	if strings.Contains(story, "shutdown(") {
		t.Errorf("ShutNone shut down:\n%s", story)
	}
	// After SHUT_RDWR the echo may come before the read: Linux then
	// resets, and the narration says why; either way Send ends well.
	_, story, err = sendWith(t, ep, client.Options{}, "hello\n", client.SendOptions{Shutdown: sockapi.ShutRDWR})
	if err != nil {
		t.Fatalf("SHUT_RDWR: %v\n%s", err, story)
	}
	testkit.MustContain(t, "SHUT_RDWR narration", story, "shutdown(SHUT_RDWR)")
	if strings.Contains(story, "ECONNRESET") {
		testkit.MustContain(t, "SHUT_RDWR reset", story, "read = -1 ECONNRESET: connection reset by peer (data came after our shutdown(SHUT_RD), and the kernel answered it with RST)")
	}
}

// Urgent data goes out with send(MSG_OOB), and the server takes it with
// recv(MSG_OOB).
func TestSendUrgent(t *testing.T) {
	t.Parallel()
	ep := tcpServer(t, func(c net.Conn) {
		api, err := sockapi.New(c.(*net.TCPConn), "tcp", nil)
		if err != nil {
			return
		}
		buf := make([]byte, 1)
		deadline := time.Now().Add(testkit.Timeout)
		for time.Now().Before(deadline) { // until the urgent byte has come
			if n, err := api.Recv(buf, sockapi.OOB); n == 1 && err == nil {
				c.Write([]byte("urgent " + string(buf) + "\n"))
				break
			}
			time.Sleep(time.Millisecond) // polling the kernel's urgent state with a deadline
		}
		io.Copy(io.Discard, c) // until the client's FIN: closing with unread bytes would reset
		c.Close()
	})
	got, story, err := sendWith(t, ep, client.Options{}, "abc", client.SendOptions{Urgent: []byte("!")})
	if err != nil || got != "urgent !\n" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	testkit.MustContain(t, "narration", story, "send(MSG_OOB) 1 byte")
}

// A descriptor passed with the message arrives usable: the server reads
// the file's first line through it.
func TestSendRights(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "note")
	os.WriteFile(path, []byte("the first line\nthe second\n"), 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("unix", testkit.SockPath(t, "r.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		api, err := sockapi.New(c.(*net.UnixConn), "unix", nil)
		if err != nil {
			served <- err
			return
		}
		m, err := api.RecvMsg(make([]byte, 64), 0)
		if err != nil || len(m.Rights) != 1 {
			served <- errors.Join(err, errors.New("no descriptor"))
			return
		}
		g := os.NewFile(uintptr(m.Rights[0]), "passed")
		defer g.Close()
		line := make([]byte, 14)
		g.Read(line)
		c.Write(line)
		served <- nil
	}()
	ep := endpoint.Endpoint{Scheme: "unix", Addr: ln.Addr().String()}
	got, story, err := sendWith(t, ep, client.Options{}, "hi\n", client.SendOptions{Rights: []*os.File{f}})
	if err != nil || got != "the first line" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if err := testkit.Receive(t, served, "the server"); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "narration", story, "sendmsg 3 bytes (SCM_RIGHTS fd ", "regular file, 26 bytes")
}

// LocalAddr binds the client first: the server sees that address.
func TestLocalAddr(t *testing.T) {
	t.Parallel()
	ep := tcpServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1))
		c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
		c.Close()
	})
	got, story, err := sendWith(t, ep, client.Options{Source: "127.0.0.2"}, "x", client.SendOptions{})
	if err != nil || got != "127.0.0.2" {
		t.Fatalf("Send from 127.0.0.2 = %q, %v", got, err)
	}
	testkit.MustContain(t, "narration", story, "bind 127.0.0.2:0")
}

// Hold keeps the socket open after the reply has ended.
func TestSendHold(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4)
	const hold = 150 * time.Millisecond
	start := time.Now()
	got, _, err := sendWith(t, ep, client.Options{}, "hi\n", client.SendOptions{Hold: hold})
	if err != nil || got != "hi\n" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if d := time.Since(start); d < hold {
		t.Errorf("Send with Hold %v returned after %v", hold, d)
	}
}

// SendFrom streams a long input and then ends it as Send does: the
// urgent data, then the shutdown asked for.
func TestSendFromEndsAsAsked(t *testing.T) {
	t.Parallel()
	_, ep := serveEcho(t, tcp4) // Urgent off: the urgent byte stays apart, unread, and is not echoed
	rec := new(testkit.Recorder)
	c := dial(t, ep, client.Options{Observer: rec})
	in := testkit.Pattern(100<<10, 7)
	var out bytes.Buffer
	err := client.SendFrom(testkit.Context(t), c, bytes.NewReader(in), &out, client.SendOptions{Timeout: testkit.Timeout, Urgent: []byte("!")})
	if err != nil {
		t.Fatalf("SendFrom: %v", err)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Errorf("echo of %d bytes: %d bytes back, or different", len(in), out.Len())
	}
	story := strings.Join(rec.Texts(), "\n")
	oob, shut := strings.Index(story, "send(MSG_OOB) 1 byte"), strings.Index(story, "shutdown(SHUT_WR)")
	if oob < 0 || shut < oob {
		t.Errorf("narration lacks the urgent byte, then the shutdown:\n%s", story)
	}
}
