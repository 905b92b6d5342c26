package engine_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// sockKind is one kind of socket the suite runs against.
type sockKind struct {
	name    string
	network string
	// listenAt returns the address to listen on; it skips the test when the
	// machine lacks what the kind needs.
	listenAt func(t *testing.T) string
	// message is > 0 for sockets that keep message boundaries
	// (unixpacket): each write is one message of at most this many bytes.
	message int
}

// chunk is the largest write a streaming test makes on the kind.
func (k sockKind) chunk() int {
	if k.message > 0 {
		return min(k.message, bufSize)
	}
	return bufSize
}

func streamKinds() []sockKind {
	return []sockKind{
		{name: "tcp4", network: "tcp4", listenAt: func(*testing.T) string { return "127.0.0.1:0" }},
		{name: "tcp6", network: "tcp6", listenAt: func(t *testing.T) string { testkit.NeedIPv6(t); return "[::1]:0" }},
		{name: "unix", network: "unix", listenAt: func(t *testing.T) string { return testkit.SockPath(t, "s") }},
		{name: "unix-abstract", network: "unix", listenAt: abstractName},
		// A unixpacket message must fit the server's read buffer and the
		// sender's SO_SNDBUF (212992 bytes by default on Linux, per unix(7)).
		{name: "unixpacket", network: "unixpacket", listenAt: func(t *testing.T) string { testkit.NeedUnix(t, "unixpacket"); return testkit.SockPath(t, "s") }, message: 64 << 10},
	}
}

func packetKinds() []sockKind {
	return []sockKind{
		{name: "udp4", network: "udp4", listenAt: func(*testing.T) string { return "127.0.0.1:0" }},
		{name: "udp6", network: "udp6", listenAt: func(t *testing.T) string { testkit.NeedIPv6(t); return "[::1]:0" }},
		{name: "unixgram", network: "unixgram", listenAt: func(t *testing.T) string { testkit.NeedUnix(t, "unixgram"); return testkit.SockPath(t, "s") }},
	}
}

var abstractSeq atomic.Int64

// abstractName returns a name in Linux's abstract socket namespace, unique
// to this process.
func abstractName(t *testing.T) string {
	if runtime.GOOS != "linux" {
		t.Skipf("abstract Unix sockets exist only on Linux, not %s", runtime.GOOS)
	}
	return fmt.Sprintf("@sockit-test-%d-%d", os.Getpid(), abstractSeq.Add(1))
}

// echoStream writes total bytes to c in writes of chunk bytes from another
// goroutine, then half-closes, while it reads the echo on the calling
// goroutine until EOF. It fails the test unless the bytes that came back
// have the SHA-256 of those sent.
func echoStream(t *testing.T, c net.Conn, total, chunk int) {
	t.Helper()
	type result struct {
		n   int
		sum []byte
		err error
	}
	sent := make(chan result, 1)
	go func() {
		h := sha256.New()
		var n int
		var err error
		for i := 0; n < total && err == nil; i++ {
			start := i * 4099 % (len(noise) - chunk)
			p := noise[start : start+min(chunk, total-n)]
			var k int
			k, err = c.Write(p)
			h.Write(p[:k])
			n += k
		}
		if err == nil {
			err = closeWrite(c)
		}
		sent <- result{n: n, sum: h.Sum(nil), err: err}
	}()

	h := sha256.New()
	buf := make([]byte, bufSize)
	got := 0
	var rerr error
	for got <= total { // a surplus ends the loop, c's deadline bounds it in time
		n, err := c.Read(buf)
		h.Write(buf[:n])
		got += n
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr != io.EOF {
		c.Close() // unblock the writer
	}
	w := <-sent
	if w.err != nil {
		t.Errorf("writer: %v after %d of %d bytes", w.err, w.n, total)
	}
	if rerr != io.EOF {
		t.Fatalf("reader: got %d of %d bytes, then %v; want every byte, then EOF", got, total, rerr)
	}
	if got != w.n || !bytes.Equal(h.Sum(nil), w.sum) {
		t.Fatalf("echo of %d bytes came back as %d bytes with SHA-256 %x, want %x", w.n, got, h.Sum(nil), w.sum)
	}
}

// streamEnv is what a stream case gets: a server running service.Echo
// at addr.
type streamEnv struct {
	srv  *engine.Server
	addr net.Addr
	kind sockKind
}

var streamCases = []struct {
	name string
	run  func(t *testing.T, e streamEnv)
}{
	{name: "roundtrip", run: testRoundTrip},
	{name: "all-bytes", run: testAllByteValues},
	{name: "stream-64MiB", run: func(t *testing.T, e streamEnv) {
		c := dial(t, e.addr)
		// 64 MiB through the echo can take most of a minute under -race
		// on two cores busy with the other tests: the deadline only
		// bounds a hang.
		if err := c.SetDeadline(time.Now().Add(3 * testkit.Timeout)); err != nil {
			t.Fatal(err)
		}
		echoStream(t, c, 64<<20, e.kind.chunk())
	}},
	{name: "half-close-8MiB", run: testHalfClose},
	{name: "1000-conns", run: testManyConns},
	{name: "peer-reset", run: testPeerReset},
	{name: "messages", run: testMessages},
}

// TestConformance runs service.Echo on every backend and socket kind. A
// backend is done when it passes this suite unchanged.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, b := range testkit.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			for _, k := range streamKinds() {
				t.Run(k.name, func(t *testing.T) {
					t.Parallel()
					for _, tc := range streamCases {
						t.Run(tc.name, func(t *testing.T) {
							t.Parallel()
							srv := newServer(t, b, engine.Config{ReadBuffer: bufSize})
							addr := listen(t, srv, k.network, k.listenAt(t), service.Echo{})
							tc.run(t, streamEnv{srv: srv, addr: addr, kind: k})
						})
					}
				})
			}
			for _, k := range packetKinds() {
				t.Run(k.name, func(t *testing.T) {
					t.Parallel()
					srv := newServer(t, b, engine.Config{ReadBuffer: bufSize})
					addr := listenPacket(t, srv, k.network, k.listenAt(t), service.Echo{})
					testDatagrams(t, srv, addr, k)
				})
			}
		})
	}
}

func testRoundTrip(t *testing.T, e streamEnv) {
	c := dial(t, e.addr)
	msg := []byte("hello, sockit")
	if err := testkit.RoundTrip(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := testkit.RoundTrip(c, []byte("and again")); err != nil {
		t.Fatal(err)
	}
	if err := closeWrite(c); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	readEOF(t, c)
	c.Close()
	waitIdle(t, e.srv)
	want := uint64(len(msg) + len("and again"))
	if st := e.srv.Stats(); st.Accepted != 1 || st.BytesIn != want || st.BytesOut != want {
		t.Errorf("Stats = %+v; want Accepted 1, BytesIn and BytesOut %d", st, want)
	}
}

func testAllByteValues(t *testing.T, e streamEnv) {
	msg := make([]byte, 0, 512)
	for i := range 256 {
		msg = append(msg, byte(i))
	}
	for i := range 256 {
		msg = append(msg, byte(255-i))
	}
	if err := testkit.RoundTrip(dial(t, e.addr), msg); err != nil {
		t.Fatal(err)
	}
}

// testHalfClose writes 8 MiB and half-closes at once, while reading: the
// echo must send every byte and then FIN.
func testHalfClose(t *testing.T, e streamEnv) {
	c := dial(t, e.addr)
	echoStream(t, c, 8<<20, e.kind.chunk())
	readEOF(t, c) // FIN stays FIN
	// The server closed its side after its FIN: the connection is gone
	// once we close ours.
	c.Close()
	waitIdle(t, e.srv)
}

// heavy lets one many-connection test run at a time: -race allows 8128
// live goroutines, and each std connection has two on the server.
var heavy = make(chan struct{}, 1)

func testManyConns(t *testing.T, e streamEnv) {
	const conns, workers = 1000, 50
	heavy <- struct{}{}
	defer func() { <-heavy }()

	cs := make([]net.Conn, conns)
	errs := make([]error, conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < conns; i = int(next.Add(1) - 1) {
				c, err := dialConn(e.addr)
				if err != nil {
					errs[i] = err
					continue
				}
				cs[i] = c
				errs[i] = testkit.RoundTrip(c, fmt.Appendf(nil, "conn %d of %d", i, conns))
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("round trips on %d concurrent connections: %v", conns, err)
	}
	if st := e.srv.Stats(); st.Accepted != conns || st.Active != conns {
		t.Errorf("with %d connections open: Stats Accepted %d, Active %d; want %d and %d", conns, st.Accepted, st.Active, conns, conns)
	}
	for _, c := range cs {
		c.Close()
	}
	waitIdle(t, e.srv)
}

// testPeerReset resets a connection while the echo has input and output
// in flight; the server must drop it and go on serving.
func testPeerReset(t *testing.T, e streamEnv) {
	c := dial(t, e.addr)
	if tc, ok := c.(*net.TCPConn); ok {
		// Per tcp(7) and socket(7): with SO_LINGER 0, close sends RST. A
		// Unix socket closed with unread input resets its peer too.
		if err := tc.SetLinger(0); err != nil {
			t.Fatal(err)
		}
	}
	chunk := e.kind.chunk()
	for i := 0; i < (512<<10)/chunk; i++ {
		if _, err := c.Write(noise[i : i+chunk]); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	buf := make([]byte, bufSize)
	if _, err := c.Read(buf); err != nil { // the echo is under way
		t.Fatalf("read: %v", err)
	}
	c.Close()
	waitIdle(t, e.srv)

	if err := testkit.RoundTrip(dial(t, e.addr), []byte("still serving?")); err != nil {
		t.Fatalf("after a peer reset: %v", err)
	}
	if st := e.srv.Stats(); st.Accepted != 2 {
		t.Errorf("Stats Accepted = %d, want 2", st.Accepted)
	}
}

// testMessages checks that unixpacket keeps message boundaries: each write
// comes back as one message of the same size and bytes.
func testMessages(t *testing.T, e streamEnv) {
	if e.kind.message == 0 {
		t.Skipf("%s is a byte stream: it has no message boundaries", e.kind.network)
	}
	sizes := []int{1, 2, 3, 100, 1000, 4096, 9000, 32 << 10, e.kind.message}
	c := dial(t, e.addr)
	buf := make([]byte, bufSize)
	for round := range 20 {
		for i, n := range sizes {
			if _, err := c.Write(bytes.Repeat([]byte{byte(round*len(sizes) + i)}, n)); err != nil {
				t.Fatalf("round %d: write message %d (%d bytes): %v", round, i, n, err)
			}
		}
		for i, n := range sizes {
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("round %d: read message %d: %v", round, i, err)
			}
			want := bytes.Repeat([]byte{byte(round*len(sizes) + i)}, n)
			if !bytes.Equal(buf[:k], want) {
				t.Fatalf("round %d: message %d came back as %d bytes starting %q; want %d bytes of %q",
					round, i, k, truncate(buf[:k]), n, want[:1])
			}
		}
	}
}

// packetClient opens the client side of a datagram test, bound to an
// address of its own so that the server can answer.
func packetClient(t *testing.T, k sockKind) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	var err error
	switch k.network {
	case "unixgram":
		pc, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: testkit.SockPath(t, "c"), Net: "unixgram"})
	case "udp6":
		pc, err = net.ListenPacket(k.network, "[::1]:0")
	default:
		pc, err = net.ListenPacket(k.network, "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	if err := pc.SetDeadline(time.Now().Add(testkit.Timeout)); err != nil {
		t.Fatal(err)
	}
	return pc
}

// testDatagrams checks that each datagram comes back whole and alone,
// from the empty one to the largest UDP payload, 65507 bytes.
func testDatagrams(t *testing.T, srv *engine.Server, addr net.Addr, k sockKind) {
	pc := packetClient(t, k)
	buf := make([]byte, 128<<10)
	var packets, total int
	// One at a time: loopback does not drop datagrams the receiver has
	// room for.
	for i, n := range []int{0, 1, 2, 100, 1472, 9000, 65507} {
		msg := noise[i : i+n]
		if _, err := pc.WriteTo(msg, addr); err != nil {
			t.Fatalf("sendto %d bytes: %v", n, err)
		}
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("recvfrom after sending %d bytes: %v", n, err)
		}
		if !bytes.Equal(buf[:k], msg) {
			t.Fatalf("a %d-byte datagram came back as %d bytes %q", n, k, truncate(buf[:k]))
		}
		if from == nil || from.String() != addr.String() {
			t.Errorf("reply from %v, want %v", from, addr)
		}
		packets++
		total += n
	}
	// A burst: each datagram must come back alone, never merged or split.
	// It stays below the receive queue of a unixgram socket
	// (net.unix.max_dgram_qlen, 10 by default), beyond which a server
	// that must not block may drop replies.
	const burst = 8
	for n := 1; n <= burst; n++ {
		if _, err := pc.WriteTo(bytes.Repeat([]byte{byte(n)}, n), addr); err != nil {
			t.Fatalf("sendto: %v", err)
		}
		packets++
		total += n
	}
	seen := make(map[int]bool)
	for range burst {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("recvfrom in a burst (have %d of %d): %v", len(seen), burst, err)
		}
		if k < 1 || k > burst || seen[k] || !bytes.Equal(buf[:k], bytes.Repeat([]byte{byte(k)}, k)) {
			t.Fatalf("burst: unexpected datagram of %d bytes %q (seen %v)", k, truncate(buf[:k]), seen)
		}
		seen[k] = true
	}
	// Counters move just after the system call the client has seen the
	// result of.
	testkit.Eventually(t, fmt.Sprintf("%d datagrams counted out", packets), func() bool { return srv.Stats().PacketsOut == uint64(packets) })
	st := srv.Stats()
	if st.PacketsIn != uint64(packets) || st.BytesIn != uint64(total) || st.BytesOut != uint64(total) {
		t.Errorf("Stats = %+v; want PacketsIn %d, BytesIn and BytesOut %d", st, packets, total)
	}
}
