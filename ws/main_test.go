package ws_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// TestMain fails the package if a test leaves a goroutine or a descriptor
// behind.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// newEngine starts an engine server on backend b, closed when the test
// ends.
func newEngine(t *testing.T, b engine.Backend) *engine.Server {
	t.Helper()
	return testkit.NewServer(t, &engine.Config{Backend: b, Loops: 2})
}

// serve listens on a loopback TCP port with a ws.Server for h and returns
// it with its address.
func serve(t *testing.T, b engine.Backend, h ws.MessageHandler, opts ws.ServerOptions) (*ws.Server, string) {
	t.Helper()
	srv := newEngine(t, b)
	wsrv := ws.NewServer(h, opts)
	return wsrv, testkit.Listen(t, srv, endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:0"}, wsrv).Addr
}

// dialTCP connects to addr with a deadline of testkit.Timeout on all I/O.
func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	return testkit.Dial(t, "tcp4", addr)
}

// rawClient is a WebSocket client written apart from the package, for
// sending what the package would never send.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// sampleKey and sampleAccept are the example of RFC 6455, 1.3.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func upgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// dialWS connects and upgrades, failing the test unless the answer is 101
// with the right accept key.
func dialWS(t *testing.T, addr, path string) *rawClient {
	t.Helper()
	rc := &rawClient{t: t, c: dialTCP(t, addr)}
	rc.br = bufio.NewReader(rc.c)
	rc.write([]byte(upgradeRequest(path)))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("read the upgrade response: %v", err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != sampleAccept {
		t.Fatalf("upgrade answered %s, Accept %q; want 101, %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), sampleAccept)
	}
	return rc
}

func (rc *rawClient) write(p []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(p); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// frame encodes one frame: b0 is FIN, RSV and opcode as sent; the payload
// is masked with a random key if masked.
func frame(b0 byte, masked bool, payload []byte) []byte {
	var out []byte
	var mbit byte
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, b0, mbit|byte(n))
	case n < 1<<16:
		out = append(out, b0, mbit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, b0, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{byte(rand.Uint32()), byte(rand.Uint32()), byte(rand.Uint32()), byte(rand.Uint32())}
	out = append(out, key[:]...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

const (
	fin     = 0x80
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// send writes one masked frame.
func (rc *rawClient) send(b0 byte, payload []byte) {
	rc.t.Helper()
	rc.write(frame(b0, true, payload))
}

// readFrame reads one server frame, which must be unmasked.
func (rc *rawClient) readFrame() (b0 byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("masked server frame %#x %#x", h[0], h[1])
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(rc.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(rc.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(rc.br, payload)
	return h[0], payload, err
}

// expect reads one frame and checks it.
func (rc *rawClient) expect(b0 byte, payload []byte) {
	rc.t.Helper()
	got0, got, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read frame: %v", err)
	}
	if got0 != b0 || !bytes.Equal(got, payload) {
		rc.t.Fatalf("frame %#x with %d bytes %.40q; want %#x with %d bytes %.40q", got0, len(got), got, b0, len(payload), payload)
	}
}

// expectClose reads frames until a close frame, checks its code, and then
// expects the server to close the TCP connection.
func (rc *rawClient) expectClose(code ws.CloseCode) {
	rc.t.Helper()
	for {
		b0, p, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("read frame before the close frame: %v", err)
		}
		if b0&0x0F != opClose {
			continue
		}
		if b0 != fin|opClose {
			rc.t.Fatalf("close frame with first byte %#x", b0)
		}
		var got ws.CloseCode
		if len(p) >= 2 {
			got = ws.CloseCode(binary.BigEndian.Uint16(p))
		}
		if got != code {
			rc.t.Fatalf("close code %v (reason %q), want %v", got, p[min(2, len(p)):], code)
		}
		break
	}
	rc.expectEOF()
}

// expectEOF checks that the server closes the connection without sending
// anything more, and closes the client's end.
func (rc *rawClient) expectEOF() {
	rc.t.Helper()
	if n, err := io.Copy(io.Discard, rc.br); n != 0 || err != nil {
		rc.t.Fatalf("after the close: %d more bytes, %v; want EOF", n, err)
	}
	rc.c.Close()
}

// closePayload is a close frame's payload.
func closePayload(code ws.CloseCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// closeEvent is one OnClose.
type closeEvent struct {
	code   ws.CloseCode
	reason string
	err    error
}

// recorder is a MessageHandler that echoes like ws.Echo and records
// closes; onMessage, if set, runs instead of the echo.
type recorder struct {
	onMessage func(c *ws.Conn, op ws.Opcode, data []byte)
	opens     chan *ws.Conn
	closes    chan closeEvent
}

func newRecorder() *recorder {
	return &recorder{opens: make(chan *ws.Conn, 100), closes: make(chan closeEvent, 100)}
}

func (r *recorder) OnOpen(c *ws.Conn) { r.opens <- c }
func (r *recorder) OnMessage(c *ws.Conn, op ws.Opcode, data []byte) {
	if r.onMessage != nil {
		r.onMessage(c, op, data)
		return
	}
	ws.Echo{}.OnMessage(c, op, data)
}
func (r *recorder) OnClose(_ *ws.Conn, code ws.CloseCode, reason string, err error) {
	r.closes <- closeEvent{code, reason, err}
}
