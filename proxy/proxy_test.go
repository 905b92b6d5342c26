package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"testing"

	"github.com/pires/go-proxyproto"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

var (
	src = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	dst = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7007}
)

// headerLen finds the end of a header however little of it has come, and
// refuses what cannot be one.
func TestHeaderLen(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		h, err := Header(v, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		full := append(append([]byte(nil), h...), "data"...)
		for i := 0; i < len(h); i++ {
			if n, err := headerLen(full[:i]); n != 0 || err != nil {
				t.Fatalf("v%d: %d of %d bytes: headerLen = %d, %v; want 0 (wait)", v, i, len(h), n, err)
			}
		}
		if n, err := headerLen(full); n != len(h) || err != nil {
			t.Errorf("v%d: headerLen = %d, %v; want %d", v, n, err, len(h))
		}
		back, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(h)))
		if err != nil || back.SourceAddr.String() != src.String() || back.DestinationAddr.String() != dst.String() {
			t.Errorf("v%d: header reads back as %v, %v", v, back, err)
		}
	}
	for _, bad := range []string{"GET / HTTP/1.1\r\n", "PROXY " + string(bytes.Repeat([]byte("x"), 120)), "\r\n\r\nnot"} {
		if _, err := headerLen([]byte(bad)); err == nil {
			t.Errorf("headerLen(%q) accepted it", bad)
		}
	}
	if h, _ := Header(2, &net.UnixAddr{Name: "@x", Net: "unix"}, dst); len(h) != 16 {
		t.Errorf("a Unix client gives a %d-byte v2 header, want the 16-byte LOCAL one", len(h))
	}
}

type seen struct {
	peers chan net.Addr
	data  chan []byte
}

func (s seen) OnOpen(c engine.Conn) { s.peers <- c.RemoteAddr() }
func (s seen) OnData(c engine.Conn, in []byte) int {
	s.data <- append([]byte(nil), in...)
	c.Write(in)
	return len(in)
}
func (s seen) OnPeerClose(c engine.Conn)  { c.CloseWrite() }
func (s seen) OnClose(engine.Conn, error) {}

// On a real server: a header sent a byte at a time is read whole, the
// handler sees the client it names and the data after it; a connection
// without a header is reset and counted.
func TestAcceptOnEngine(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := testkit.NewServer(t, &engine.Config{Backend: b, Loops: 1})
		s := seen{peers: make(chan net.Addr, 4), data: make(chan []byte, 64)}
		var counters Counters
		ep := testkit.Listen(t, srv, endpoint.MustParse("tcp://127.0.0.1:0"), Accept(s, Options{Counters: &counters}))
		c := testkit.Dial(t, "tcp", ep.Addr)
		h, _ := Header(1, src, dst)
		for i := range h {
			c.Write(h[i : i+1])
		}
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hello" {
			t.Errorf("echo %q, %v", got, err)
		}
		if p := testkit.Receive(t, s.peers, "the handler's OnOpen"); p.String() != src.String() {
			t.Errorf("handler saw %v, want %v", p, src)
		}

		bad := testkit.Dial(t, "tcp", ep.Addr)
		bad.Write([]byte("no header here\r\n"))
		if _, err := io.ReadAll(bad); err == nil {
			t.Errorf("a connection without a header ended cleanly; want a reset")
		}
		bad.Close()
		srv.Close()
		if st := counters.Stats(); st.Headers != 1 || st.Rejected != 1 {
			t.Errorf("stats %d headers, %d rejected; want 1 and 1", st.Headers, st.Rejected)
		}
	})
}
