package service_test

import (
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

// labServer serves echo behind lab on tcp and udp, with backend b, and
// returns the two endpoints.
func labServer(t *testing.T, b engine.Backend, lab *service.Lab) (tcp, udp endpoint.Endpoint) {
	t.Helper()
	srv := testkit.NewServer(t, &engine.Config{Backend: b})
	tcp = testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, lab.Wrap(service.Echo{}))
	udp = testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "udp", Addr: "127.0.0.1:0"}, lab.WrapPacket(service.Echo{}))
	return tcp, udp
}

// The exit word, alone on a line or as a whole datagram, stops the server
// (Stop is called with the client's address) after the client has its
// answer; other words, and the word inside a line, do not.
func TestExitWord(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		tests := []struct {
			name  string
			net   string
			sends []string
			stops bool
		}{
			{name: "a line", net: "tcp", sends: []string{"hello\n", "ex", "it\n"}, stops: true},
			{name: "a CRLF line", net: "tcp", sends: []string{"exit\r\n"}, stops: true},
			{name: "the last bytes before FIN", net: "tcp", sends: []string{"exit"}, stops: true},
			{name: "inside a line", net: "tcp", sends: []string{"do not exit\n", "exit now\n"}},
			{name: "a long line", net: "tcp", sends: []string{strings.Repeat("x", 100) + "exit\n"}},
			{name: "a datagram", net: "udp", sends: []string{"hello", "exit"}, stops: true},
			{name: "a datagram with a newline", net: "udp", sends: []string{"exit\n"}, stops: true},
			{name: "another datagram", net: "udp", sends: []string{"exits"}},
		}
		for _, tt := range tests {
			stopped := make(chan net.Addr, 1)
			lab := &service.Lab{ExitWord: "exit", Stop: func(from net.Addr) { stopped <- from }}
			tcp, udp := labServer(t, b, lab)
			ep := tcp
			if tt.net == "udp" {
				ep = udp
			}
			c := testkit.Dial(t, tt.net, ep.Addr)
			var want strings.Builder
			for _, s := range tt.sends {
				want.WriteString(s)
				if err := testkit.RoundTrip(c, []byte(s)); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
			}
			if tt.net == "tcp" {
				c.(*net.TCPConn).CloseWrite()
				if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
					t.Errorf("%s: after the echoes: %q, %v; want EOF", tt.name, rest, err)
				}
			}
			if tt.stops {
				if from := testkit.Receive(t, stopped, tt.name+": Stop"); from.String() != c.LocalAddr().String() {
					t.Errorf("%s: Stop(%v), want the client %v", tt.name, from, c.LocalAddr())
				}
				continue
			}
			select { // the answers have come back: a Stop would have been called
			case <-stopped:
				t.Errorf("%s: stopped", tt.name)
			default:
			}
		}
	})
}

// CloseDelay holds the client's FIN: the server sits in CLOSE_WAIT, and
// its own FIN comes after the delay.
func TestCloseDelayHoldsTheFIN(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		// Long enough that a poll sees CLOSE_WAIT before it ends: with
		// 300 ms, CI's race run on a loaded machine once missed the whole
		// window (the server was already CLOSED) and waited out 30 s.
		const delay = time.Second
		tcp, _ := labServer(t, b, &service.Lab{CloseDelay: delay})
		c := testkit.Dial(t, "tcp", tcp.Addr)
		if err := testkit.RoundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.(*net.TCPConn).CloseWrite()
		server := c.LocalAddr().(*net.TCPAddr).AddrPort()
		testkit.Eventually(t, "the server's socket in CLOSE_WAIT", func() bool {
			socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: server.Port(), Addr: netip.MustParseAddr("127.0.0.1")})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range socks {
				if s.Remote.Port() == server.Port() && s.State == tcpstate.CloseWait {
					return true
				}
			}
			return false
		})
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
			t.Errorf("after the FIN: %q, %v", rest, err)
		}
		if d := time.Since(start); d < delay {
			t.Errorf("the server's FIN came %v after ours, want at least %v", d, delay)
		}
	})
}

// Echo answers a passed regular file with its first line, read through
// the descriptor it received.
func TestEchoAnswersAPassedFile(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		if !engine.LabSupportOf(b).Rights {
			t.Skipf("the %s backend refuses Rights (engine.LabSupportOf)", b)
		}
		path := filepath.Join(t.TempDir(), "hostname")
		os.WriteFile(path, []byte("myhost\n"), 0o600)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		srv := testkit.NewServer(t, &engine.Config{Backend: b, Rights: true})
		ep := testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "unix", Addr: testkit.SockPath(t, "e.sock")}, service.Echo{})
		c := testkit.Dial(t, "unix", ep.Addr)
		api, err := sockapi.New(c.(*net.UnixConn), "unix", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.SendMsg([]byte("hi\n"), sockapi.Ancillary{Rights: []int{int(f.Fd())}}, 0, nil); err != nil {
			t.Fatal(err)
		}
		c.(*net.UnixConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(got), "hi\npassed fd ") || !strings.HasSuffix(string(got), ", first line: myhost\n") {
			t.Errorf("echo %q, want hi and the file's first line", got)
		}
	})
}
