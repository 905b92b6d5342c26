package engine_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

// labHandler echoes, and keeps what comes apart from the stream: urgent
// bytes and the first line of each passed file, which it also answers.
type labHandler struct {
	testkit.Funcs
	mu     sync.Mutex
	urgent []byte
}

func (h *labHandler) OnUrgent(c engine.Conn, b byte) {
	h.mu.Lock()
	h.urgent = append(h.urgent, b)
	h.mu.Unlock()
}

func (h *labHandler) OnRights(c engine.Conn, fds []int) {
	for _, fd := range fds {
		if line, err := sock.FirstLine(fd, 64); err == nil {
			c.Write(append([]byte("passed: "), line...))
		}
	}
}

func (h *labHandler) urgentBytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]byte(nil), h.urgent...)
}

// sendUrgent sends abc, then ! as urgent data, then def, half-closes and
// returns what comes back.
func sendUrgent(t *testing.T, addr net.Addr) string {
	t.Helper()
	c, err := dialConn(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	api, err := sockapi.New(c.(*net.TCPConn), "tcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("abc"))
	if _, err := api.Send([]byte("!"), sockapi.OOB); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("def"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// UrgentReceive: the urgent byte is taken apart, told to the observer and
// the handler, and the stream goes on without it.
func TestUrgentReceive(t *testing.T) {
	t.Parallel()
	rec := new(testkit.Recorder)
	srv := newServer(t, engine.BackendEpoll, engine.Config{Urgent: engine.UrgentReceive, Observer: rec})
	h := &labHandler{}
	addr := listen(t, srv, "tcp", "127.0.0.1:0", h)
	if got := sendUrgent(t, addr); got != "abcdef" {
		t.Errorf("echo %q, want abcdef (the urgent byte apart)", got)
	}
	if got := h.urgentBytes(); string(got) != "!" {
		t.Errorf("OnUrgent got %q, want !", got)
	}
	testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), `urgent data: recv(MSG_OOB) 1 byte ('!', out of the stream (EPOLLPRI))`)
	if n := srv.Stats().UrgentIn; n != 1 {
		t.Errorf("Stats().UrgentIn = %d, want 1", n)
	}
}

// An urgent byte that is all the peer sent before its FIN, both queued
// when the connection is accepted (AcceptDelay holds it in the backlog):
// the first read(2) already returns 0, and the byte must be taken before
// it ends the input, never lost unread.
func TestUrgentReceiveWithTheFIN(t *testing.T) {
	t.Parallel()
	srv := newServer(t, engine.BackendEpoll, engine.Config{Urgent: engine.UrgentReceive, AcceptDelay: 100 * time.Millisecond})
	h := &labHandler{}
	addr := listen(t, srv, "tcp", "127.0.0.1:0", h)
	c, err := dialConn(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	api, err := sockapi.New(c.(*net.TCPConn), "tcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Send([]byte("!"), sockapi.OOB); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if rest, err := testkit.ReadAll(c, 16); err != nil || len(rest) != 0 {
		t.Errorf("echo %q, %v; want nothing and EOF (the urgent byte is apart)", rest, err)
	}
	if got := h.urgentBytes(); string(got) != "!" {
		t.Errorf("OnUrgent got %q, want !", got)
	}
}

func TestUrgentInline(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		if !engine.LabSupportOf(b).UrgentInline {
			t.Skipf("the %s backend refuses it (engine.LabSupportOf; TestLabSupportIsEnforced checks the refusal)", b)
		}
		rec := new(testkit.Recorder)
		srv := newServer(t, b, engine.Config{Urgent: engine.UrgentInline, Observer: rec})
		addr := listen(t, srv, "tcp", "127.0.0.1:0", &labHandler{})
		if got := sendUrgent(t, addr); got != "abc!def" {
			t.Errorf("echo %q, want abc!def (the urgent byte inline)", got)
		}
		testkit.MustContain(t, "narration", strings.Join(rec.Texts(), "\n"), "setsockopt(SO_OOBINLINE=1)")
	})
}

// The default leaves urgent data to the kernel; the std backend cannot
// watch for it apart, and says so.
func TestUrgentModes(t *testing.T) {
	t.Parallel()
	_, err := engine.NewServer(&engine.Config{Backend: engine.BackendStd, Urgent: engine.UrgentReceive})
	var oe *sockit.OptionError
	if !errors.As(err, &oe) || oe.Fields[0] != "Urgent" {
		t.Errorf("std with UrgentReceive: %v, want an OptionError on Urgent", err)
	}
	_, err = engine.NewServer(&engine.Config{Urgent: "sometimes"})
	if !errors.As(err, &oe) || oe.Fields[0] != "Urgent" {
		t.Errorf("an unknown mode: %v, want an OptionError on Urgent", err)
	}
	srv := newServer(t, engine.BackendEpoll, engine.Config{})
	addr := listen(t, srv, "tcp", "127.0.0.1:0", &labHandler{})
	if got := sendUrgent(t, addr); got != "abcdef" {
		t.Errorf("echo %q, want abcdef", got)
	}
	if n := srv.Stats().UrgentIn; n != 0 {
		t.Errorf("Stats().UrgentIn = %d without UrgentReceive", n)
	}
}

// Rights: a descriptor passed over a Unix socket reaches the handler open
// and usable, is told to the observer, and is closed after (the leak
// check of TestMain sees one left open).
func TestRightsPassed(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		if !engine.LabSupportOf(b).Rights {
			t.Skipf("the %s backend refuses it (engine.LabSupportOf; TestLabSupportIsEnforced checks the refusal)", b)
		}
		path := filepath.Join(t.TempDir(), "note")
		os.WriteFile(path, []byte("line one\nline two\n"), 0o600)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, network := range []string{"unix", "unixpacket"} {
			rec := new(testkit.Recorder)
			srv := newServer(t, b, engine.Config{Rights: true, Observer: rec})
			addr := listen(t, srv, network, testkit.SockPath(t, network+".sock"), &labHandler{})
			c, err := dialConn(addr)
			if err != nil {
				t.Fatal(err)
			}
			api, err := sockapi.New(c.(*net.UnixConn), network, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := api.SendMsg([]byte("hi\n"), sockapi.Ancillary{Rights: []int{int(f.Fd())}}, 0, nil); err != nil {
				t.Fatal(err)
			}
			want := "hi\npassed: line one"
			got := make([]byte, 0, len(want))
			for len(got) < len(want) {
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("%s: read after %q: %v", network, got, err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != want {
				t.Errorf("%s: answer %q, want %q", network, got, want)
			}
			c.Close()
			testkit.MustContain(t, network+" narration", strings.Join(rec.Texts(), "\n"), "recvmsg 3 bytes", "ancillary data: SCM_RIGHTS fd ", "(regular file, 18 bytes)", "peer pid ")
			if n := srv.Stats().RightsIn; n != 1 {
				t.Errorf("%s: Stats().RightsIn = %d, want 1", network, n)
			}
		}
	})
}

// AcceptDelay: connections wait in the backlog; the listener's accept
// queue (sock_diag's Recv-Q) fills while accept(2) waits.
func TestAcceptDelay(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		if !engine.LabSupportOf(b).AcceptDelay {
			t.Skipf("the %s backend refuses it (engine.LabSupportOf; TestLabSupportIsEnforced checks the refusal)", b)
		}
		const delay = 300 * time.Millisecond
		srv := newServer(t, b, engine.Config{AcceptDelay: delay, Backlog: 8})
		start := time.Now()
		addr := listen(t, srv, "tcp", "127.0.0.1:0", testkit.Funcs{})
		var conns []net.Conn
		for i := 0; i < 3; i++ {
			c, err := dialConn(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		port := addr.(*net.TCPAddr).AddrPort()
		queued := func() uint32 {
			socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: port.Port(), Addr: netip.MustParseAddr("127.0.0.1")})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range socks {
				if s.State == tcpstate.Listen {
					return s.RecvQ
				}
			}
			return 0
		}
		if q := queued(); q < 2 && time.Since(start) < delay {
			t.Errorf("accept queue %d with three connections waiting, want at least 2", q)
		}
		for _, c := range conns { // each is accepted in its turn and echoes
			if err := testkit.RoundTrip(c, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < 3*delay {
			t.Errorf("three connections served after %v, want at least 3 × %v", d, delay)
		}
		if st := srv.Stats(); st.Accepted != 3 {
			t.Errorf("accepted %d, want 3", st.Accepted)
		}
	})
}

// Narration says what the kernel was asked: the family a tcp://:0
// listener really has, the options set on it, the recvmmsg and sendmmsg
// of datagrams, the bytes, and a failing read with its errno.
func TestNarrationNamesTheCalls(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		rec := new(testkit.Recorder)
		srv := newServer(t, b, engine.Config{Observer: rec})
		addr := listen(t, srv, "tcp", ":0", testkit.Funcs{})
		port := addr.(*net.TCPAddr).Port
		c, err := dialConn(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		if err := testkit.RoundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Write([]byte("more"))
		c.Close() // with the echo of "more" unread: RST
		udp := testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "udp", Addr: "127.0.0.1:0"}, service.Echo{})
		u := testkit.Dial(t, "udp", udp.Addr)
		if err := testkit.RoundTrip(u, []byte("dgram")); err != nil {
			t.Fatal(err)
		}
		opt := "setsockopt(IPV6_V6ONLY=0)"
		if b == engine.BackendStd {
			opt = "setsockopt(IPV6_V6ONLY=0, by package net)"
		}
		want := []string{"socket(AF_INET6, SOCK_STREAM)", opt, " = -1 ECONNRESET: connection reset by peer"}
		if b == engine.BackendEpoll {
			want = append(want, "recvmmsg 5 bytes from "+u.LocalAddr().String()+" (datagram 1 of 1)", "sendmmsg 5 bytes to "+u.LocalAddr().String())
		}
		// A step is narrated once its call has returned: the peer may
		// have the echo, or the reset may be on its way, before that.
		last := want[len(want)-1]
		testkit.Eventually(t, "the reset and the last call to be narrated", func() bool {
			story := strings.Join(rec.Texts(), "\n")
			return strings.Contains(story, "= -1 ECONNRESET") && strings.Contains(story, last)
		})
		story := strings.Join(rec.Texts(), "\n")
		testkit.MustContain(t, "narration", story, want...)
		var sawData bool
		for _, e := range rec.Events() {
			if e.Step == sockit.StepRead && bytes.Equal(e.Data, []byte("hello")) {
				sawData = true
			}
		}
		if !sawData {
			t.Error("no read event carried the bytes read")
		}
	})
}

// With ObserveWaits the observer is told of each epoll_wait that returned
// sockets: how many, and which with which events.
func TestObserveWaits(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		if !engine.LabSupportOf(b).Waits {
			t.Skipf("the %s backend refuses it (engine.LabSupportOf; TestLabSupportIsEnforced checks the refusal)", b)
		}
		rec := &testkit.Recorder{}
		srv := newServer(t, b, engine.Config{ObserveWaits: true, Observer: rec, Loops: 1})
		addr := listen(t, srv, "tcp", "127.0.0.1:0", testkit.Funcs{})
		c, err := dialConn(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := testkit.RoundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		var polls []string
		for _, e := range rec.Events() {
			if e.Step == sockit.StepPoll {
				if e.N < 1 {
					t.Errorf("a wait reported with %d ready", e.N)
				}
				polls = append(polls, e.String())
			}
		}
		// The listener's readiness, then the connection's data.
		if len(polls) < 2 {
			t.Fatalf("waits told: %q, want at least the accept's and the read's", polls)
		}
		testkit.MustContain(t, "waits", strings.Join(polls, "\n"), "epoll_wait = 1 ready: fd ", " EPOLLIN")
	})
}
