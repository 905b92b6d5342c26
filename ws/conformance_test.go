package ws_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// The conformance suite: each case of confCases, played by a scripted peer
// on a raw loopback socket, against every side sockit has:
//
//	server-engine-<backend>  ws.NewServer(ws.Echo{}) on engine.Server, each backend
//	server-blocking          ws.Accept and an echo loop over BlockingConn
//	client-blocking          ws.Dial and the same echo loop
//	client-engine-<backend>  ws.NewClient(ws.Echo{}) dialed by engine.Server.Dial
//
// Against a server the peer is the client (it masks); against a client it
// is the server (it does not), and answers the upgrade itself. Run it with
//
//	go test -run '^TestConformance$' -v ./ws
//
// and the last lines of the log count the cases passed per group and side.

// confTimeout bounds each case: its connection's deadline, and every wait.
const confTimeout = 10 * time.Second

// confSide is one implementation under test.
type confSide struct {
	name     string
	client   bool         // the side is a client; the peer plays the server
	counters *ws.Counters // the side's; its protocol errors are checked at the end
	// connect gives the peer an upgraded connection to a fresh connection
	// of the side, with a reader over it, and a wait for the side's end to
	// be over (nil when the side's own cleanup waits).
	connect func(t *testing.T) (nc net.Conn, br *bufio.Reader, wait func())
}

// TestConformance plays every case against every side, each case on a
// connection of its own, and logs the tally when all are done.
func TestConformance(t *testing.T) {
	t.Parallel()
	cases := confCases()
	tl := &tally{passed: map[string]map[string]int{}}
	t.Cleanup(func() { t.Log("\n" + tl.summary(cases)) })
	for _, b := range testkit.Backends() {
		t.Run("server-engine-"+string(b), func(t *testing.T) {
			t.Parallel()
			runSide(t, engineServerSide(t, b), cases, tl)
		})
	}
	t.Run("server-blocking", func(t *testing.T) {
		t.Parallel()
		runSide(t, blockingServerSide(t), cases, tl)
	})
	t.Run("client-blocking", func(t *testing.T) {
		t.Parallel()
		runSide(t, blockingClientSide(t), cases, tl)
	})
	for _, b := range testkit.Backends() {
		t.Run("client-engine-"+string(b), func(t *testing.T) {
			t.Parallel()
			runSide(t, engineClientSide(t, b), cases, tl)
		})
	}
}

// runSide plays every case against s, each in a parallel subtest named by
// its id, and checks at the end that s counted each connection it failed.
func runSide(t *testing.T, s confSide, cases []confCase, tl *tally) {
	want := map[ws.CloseCode]uint64{}
	for _, c := range cases {
		for _, r := range c.want {
			if r.fails {
				want[r.code]++
			}
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // the counts would only repeat what failed
		}
		got := s.counters.Stats().ProtocolErrors
		for _, code := range []ws.CloseCode{ws.CloseProtocolError, ws.CloseInvalidPayload, ws.CloseMessageTooBig} {
			if got[code] != want[code] {
				t.Errorf("Stats.ProtocolErrors[%v] = %d, want %d, one per case that fails the connection so", code, got[code], want[code])
			}
		}
	})
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			t.Parallel()
			defer func() {
				tl.record(s.name, c.id, !t.Failed())
				if t.Failed() {
					t.Logf("case %s: %s", c.id, c.name)
				}
			}()
			nc, br, wait := s.connect(t)
			play(t, s, c, nc, br)
			if wait != nil {
				wait()
			}
		})
	}
}

// play sends c's bytes on nc and checks every frame the side answers,
// then that the side ends the TCP connection with FIN after its close
// frame.
func play(t *testing.T, s confSide, c confCase, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(confTimeout))
	wire, want := c.wire(!s.client), c.want
	if len(want) == 0 || !want[len(want)-1].isClose() {
		// A case that leaves the connection open ends with a clean
		// closing handshake, which also shows nothing else was sent.
		wire = append(wire, closeOut(ws.CloseNormal, "").encode(!s.client)...)
		want = append(slices.Clip(want), closed(ws.CloseNormal))
	}
	werr := make(chan error, 1)
	go func() { werr <- writeChopped(nc, wire, c.chop) }()
	written := false
	defer func() {
		if !written {
			nc.Close() // ends a write still blocked
			<-werr
		}
	}()

	for i, w := range want {
		b0, p, err := readConfFrame(br, s.client)
		if err != nil {
			t.Fatalf("reply %d of %d: %v; want %s", i+1, len(want), err, w)
		}
		if msg := w.check(b0, p); msg != "" {
			t.Fatalf("reply %d of %d: %s", i+1, len(want), msg)
		}
	}
	if s.client {
		// The server ends TCP first (RFC 6455, 7.1.1): the peer, playing
		// it, sends FIN, and the client must follow.
		if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
	}
	if n, err := io.Copy(io.Discard, br); n != 0 || err != nil {
		t.Fatalf("after the close frame: %d more bytes and %v; want FIN (EOF)", n, err)
	}
	// A side that fails the connection need not read what follows the
	// violation, so writing it may fail.
	written = true
	if err := <-werr; err != nil && !want[len(want)-1].fails {
		t.Errorf("writing the case: %v", err)
	}
}

// String describes a reply for failure messages.
func (r reply) String() string {
	switch {
	case r.isClose() && r.code == ws.CloseNoStatus:
		return "a close frame without payload"
	case r.isClose():
		return fmt.Sprintf("a close frame with code %d", r.code)
	}
	return fmt.Sprintf("frame %#x with %d bytes %.40q", r.b0, len(r.payload), r.payload)
}

// check compares a frame the side sent with r, and says how it differs
// ("" if it does not).
func (r reply) check(b0 byte, p []byte) string {
	if b0 != r.b0 {
		return fmt.Sprintf("frame %#x with %d bytes %.40q; want %s", b0, len(p), p, r)
	}
	if !r.isClose() {
		if string(p) != string(r.payload) {
			return fmt.Sprintf("frame %#x with %d bytes %.40q; want %s", b0, len(p), p, r)
		}
		return ""
	}
	switch {
	case r.code == ws.CloseNoStatus && len(p) != 0:
		return fmt.Sprintf("close frame with payload %q; want %s", p, r)
	case r.code == ws.CloseNoStatus:
		return ""
	case len(p) < 2:
		return fmt.Sprintf("close frame with payload %q; want %s", p, r)
	case ws.CloseCode(binary.BigEndian.Uint16(p)) != r.code:
		return fmt.Sprintf("close frame with code %d (reason %q); want %s", binary.BigEndian.Uint16(p), p[2:], r)
	case !utf8.Valid(p[2:]):
		return fmt.Sprintf("close reason %q is not UTF-8", p[2:])
	}
	return ""
}

// writeChopped writes b in pieces of chop bytes (all at once if chop is
// 0), one write each.
func writeChopped(nc net.Conn, b []byte, chop int) error {
	if chop <= 0 {
		chop = len(b)
	}
	for len(b) > 0 {
		k := min(chop, len(b))
		if _, err := nc.Write(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// readConfFrame reads one frame the side sent: masked if it is a client
// (then unmasked here), else not; no RSV bits are checked here (the reply
// compares the whole first byte).
func readConfFrame(br *bufio.Reader, masked bool) (b0 byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if got := h[1]&0x80 != 0; got != masked {
		return 0, nil, fmt.Errorf("frame %#x %#x: masked %v, want %v", h[0], h[1], got, masked)
	}
	n := uint64(h[1] & 0x7F)
	var ext []byte
	switch n {
	case 126:
		ext = make([]byte, 2)
	case 127:
		ext = make([]byte, 8)
	}
	if _, err := io.ReadFull(br, ext); err != nil {
		return 0, nil, err
	}
	switch len(ext) {
	case 2:
		n = uint64(binary.BigEndian.Uint16(ext))
	case 8:
		n = binary.BigEndian.Uint64(ext)
	}
	if n > confMax+1024 {
		return 0, nil, fmt.Errorf("frame %#x of %d bytes, more than any case sends", h[0], n)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= key[i%4]
	}
	return h[0], payload, nil
}

// confAccept is Sec-WebSocket-Accept for key (RFC 6455, 4.2.2).
func confAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// upgradeTo dials a server side at addr and performs the client's half of
// the opening handshake.
func upgradeTo(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp4", addr, confTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(confTimeout))
	const key = "c29ja2l0IGNvbmZvcm1hbg=="
	fmt.Fprintf(nc, "GET /conformance HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, key)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != confAccept(key) {
		t.Fatalf("upgrade answered %s with Accept %q; want 101 with %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), confAccept(key))
	}
	return nc, br
}

// upgradeFrom accepts one connection on ln, closes ln, and performs the
// server's half of the opening handshake.
func upgradeFrom(t *testing.T, ln *net.TCPListener) (net.Conn, *bufio.Reader) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(confTimeout))
	nc, err := ln.Accept()
	ln.Close()
	if err != nil {
		t.Fatalf("accepting the client: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(confTimeout))
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("reading the upgrade request: %v", err)
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
		t.Fatalf("not an upgrade request: %v %v", req.Method, req.Header)
	}
	fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", confAccept(key))
	return nc, br
}

// confListen listens on a loopback port for a client side to dial.
func confListen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// confEngine starts an engine server on backend b, closed when t ends.
func confEngine(t *testing.T, b engine.Backend) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Backend: b, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("engine server Close: %v", err)
		}
	})
	return srv
}

func engineServerSide(t *testing.T, b engine.Backend) confSide {
	st := new(ws.Counters)
	srv := confEngine(t, b)
	addr, err := srv.Listen(endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:0"},
		ws.NewServer(ws.Echo{}, ws.ServerOptions{MaxMessage: confMax, Counters: st}))
	if err != nil {
		t.Fatal(err)
	}
	return confSide{name: "server-engine-" + string(b), counters: st,
		connect: func(t *testing.T) (net.Conn, *bufio.Reader, func()) {
			nc, br := upgradeTo(t, addr.String())
			return nc, br, nil
		}}
}

// echoBlocking echoes messages on c until reading fails (the peer's close
// frame, a violation, the end of the connection), then closes c.
func echoBlocking(c *ws.BlockingConn) {
	for range 1 << 20 { // far more messages than any case sends
		op, data, err := c.ReadMessage()
		if err == nil {
			err = c.WriteMessage(op, data)
		}
		if err != nil {
			break
		}
	}
	c.Close(0, "")
}

func blockingServerSide(t *testing.T) confSide {
	st := new(ws.Counters)
	ln := confListen(t)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return // the listener closed: the side is done
			}
			wg.Go(func() {
				c, err := ws.Accept(ctx, nc, ws.ServerOptions{MaxMessage: confMax, Counters: st})
				if err != nil {
					nc.Close()
					return
				}
				echoBlocking(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait() // each connection's goroutine ends with its case
	})
	return confSide{name: "server-blocking", counters: st,
		connect: func(t *testing.T) (net.Conn, *bufio.Reader, func()) {
			nc, br := upgradeTo(t, ln.Addr().String())
			return nc, br, nil
		}}
}

// waitDone waits for done, failing t after confTimeout.
func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(confTimeout):
		t.Errorf("%s did not end within %v", what, confTimeout)
	}
}

func blockingClientSide(t *testing.T) confSide {
	st := new(ws.Counters)
	return confSide{name: "client-blocking", client: true, counters: st,
		connect: func(t *testing.T) (net.Conn, *bufio.Reader, func()) {
			ln := confListen(t)
			done := make(chan struct{})
			go func() {
				defer close(done)
				nc, err := net.DialTimeout("tcp4", ln.Addr().String(), confTimeout)
				if err != nil {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), confTimeout)
				defer cancel()
				c, err := ws.Dial(ctx, nc, "/conformance", ws.ClientOptions{MaxMessage: confMax, Counters: st})
				if err != nil {
					nc.Close()
					return
				}
				echoBlocking(c)
			}()
			nc, br := upgradeFrom(t, ln)
			return nc, br, func() { waitDone(t, done, "the blocking client") }
		}}
}

// closeNotice is ws.Echo that says when the connection is over.
type closeNotice struct {
	ws.Echo
	done chan struct{}
}

func (h closeNotice) OnClose(*ws.Conn, ws.CloseCode, string, error) { close(h.done) }

func engineClientSide(t *testing.T, b engine.Backend) confSide {
	st := new(ws.Counters)
	srv := confEngine(t, b)
	return confSide{name: "client-engine-" + string(b), client: true, counters: st,
		connect: func(t *testing.T) (net.Conn, *bufio.Reader, func()) {
			ln := confListen(t)
			h := closeNotice{done: make(chan struct{})}
			cl := ws.NewClient(h, ws.ClientOptions{Path: "/conformance", MaxMessage: confMax, Counters: st})
			if err := srv.Dial(endpoint.Endpoint{Scheme: "tcp4", Addr: ln.Addr().String()}, cl, engine.DialOptions{Timeout: confTimeout}); err != nil {
				t.Fatal(err)
			}
			nc, br := upgradeFrom(t, ln)
			return nc, br, func() { waitDone(t, h.done, "the engine client") }
		}}
}

// tally counts the cases passed, per side and case; safe for the parallel
// cases.
type tally struct {
	mu     sync.Mutex
	passed map[string]map[string]int // side → case id → 1 if it passed
	sides  []string                  // in the order they first reported
}

func (tl *tally) record(side, id string, ok bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.passed[side] == nil {
		tl.passed[side] = map[string]int{}
		tl.sides = append(tl.sides, side)
	}
	if ok {
		tl.passed[side][id] = 1
	} else {
		tl.passed[side][id] = 0
	}
}

// summary is a table of cases passed per group (rows) and side (columns),
// and a total line.
func (tl *tally) summary(cases []confCase) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	sides := slices.Clone(tl.sides)
	slices.Sort(sides)
	var groups []string
	perGroup := map[string][]string{}
	for _, c := range cases {
		g := group(c.id)
		if perGroup[g] == nil {
			groups = append(groups, g)
		}
		perGroup[g] = append(perGroup[g], c.id)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s", "group")
	for _, s := range sides {
		fmt.Fprintf(&b, " %20s", s)
	}
	b.WriteString("\n")
	runs, ok := 0, 0
	for _, g := range groups {
		fmt.Fprintf(&b, "%-20s", g+" "+groupNames[g])
		for _, s := range sides {
			n := 0
			for _, id := range perGroup[g] {
				n += tl.passed[s][id]
			}
			runs += len(perGroup[g])
			ok += n
			fmt.Fprintf(&b, " %20s", fmt.Sprintf("%d/%d", n, len(perGroup[g])))
		}
		b.WriteString("\n")
	}
	allSides := 0
	for _, c := range cases {
		every := true
		for _, s := range sides {
			every = every && tl.passed[s][c.id] == 1
		}
		if every {
			allSides++
		}
	}
	fmt.Fprintf(&b, "WebSocket conformance: %d of %d cases pass on all %d sides, server and client (%d of %d runs)",
		allSides, len(cases), len(sides), ok, runs)
	return b.String()
}
