package bench

import (
	"net"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// handlerFor is the engine handler that carries connection b over the
// endpoint's layers: TLS (tls, wss), WebSocket (ws, wss, one binary message
// per bench message), or nothing.
func (st *streamRun) handlerFor(b *bconn) engine.Handler {
	ep := st.o.Endpoint
	var h engine.Handler = b
	if ep.IsWebSocket() {
		h = ws.NewClient(wsLoad{b}, ws.ClientOptions{Host: ep.Addr, Path: ep.Path, MaxMessage: max(ws.DefaultMaxMessage, 2*st.o.Size)})
	}
	if ep.IsTLS() {
		h = tlslayer.Client(h, st.tls, tlslayer.Options{HandshakeTimeout: st.o.ConnectTimeout, MaxInput: engineConfig(st.o).MaxInput})
	}
	return h
}

// serverName is the name a TLS client checks the certificate against: the
// endpoint's host (SplitHostPort already drops an IPv6 address's brackets).
func serverName(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// wsLoad runs a bench connection over WebSocket: each message the bench
// writes is one binary message, and each echoed message's payload is fed
// to the same verification as a stream's bytes.
type wsLoad struct{ b *bconn }

func (w wsLoad) OnOpen(c *ws.Conn) {
	wc := &wsConn{c: c}
	c.SetContext(wc)
	w.b.OnOpen(wc)
}

func (w wsLoad) OnMessage(c *ws.Conn, op ws.Opcode, data []byte) {
	w.b.OnData(c.Context().(*wsConn), data)
}

func (w wsLoad) OnTimer(c *ws.Conn) { w.b.OnTimer(c.Context().(*wsConn)) }

func (w wsLoad) OnClose(c *ws.Conn, code ws.CloseCode, reason string, err error) {
	wc, _ := c.Context().(*wsConn)
	if wc == nil { // the connect or the upgrade failed
		w.b.OnClose(nil, err)
		return
	}
	w.b.OnClose(wc, err)
}

// wsConn is the engine.Conn a bench connection sees over WebSocket.
type wsConn struct {
	c     *ws.Conn
	value any
}

func (w *wsConn) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(ws.OpBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsConn) AsyncWrite(p []byte) error {
	return w.c.AsyncWriteMessage(ws.OpBinary, p)
}

// CloseWrite starts the close handshake: WebSocket has no half-close, but
// a server answers the messages before our close frame first, then its own
// close frame, which is what a half-close gives a stream.
func (w *wsConn) CloseWrite() error { return w.c.Close(ws.CloseNormal, "") }
func (w *wsConn) Close() error      { return w.c.Close(ws.CloseNormal, "") }
func (w *wsConn) Abort() error      { return w.c.Close(ws.CloseGoingAway, "") }

func (w *wsConn) LocalAddr() net.Addr   { return w.c.LocalAddr() }
func (w *wsConn) RemoteAddr() net.Addr  { return w.c.RemoteAddr() }
func (w *wsConn) Pending() int          { return w.c.Pending() }
func (w *wsConn) Context() any          { return w.value }
func (w *wsConn) SetContext(v any)      { w.value = v }
func (w *wsConn) SetTimer(at time.Time) { w.c.SetTimer(at) }
func (w *wsConn) Wake() error           { return w.c.Wake() }
