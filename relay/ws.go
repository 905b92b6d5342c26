package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// A WebSocket listening side (ws://, wss://) runs on the engine: the
// upgrade and the framing are done in its loops, and each connection gets
// a goroutine pair to its target, like a stream. Each message received is
// written to the target as bytes; what the target sends comes back as
// binary messages. The client's close frame plays the half-close: the
// target gets FIN, its answer still comes back as messages, and our close
// frame follows the target's end of data (ws.CloseFrameHandler).

// wsQueue bounds the messages waiting for the target per connection; when
// it is full the loop waits for the target to take them (backpressure the
// only way an event loop without per-connection reads paused can give it).
const wsQueue = 64

// wsMaxPending bounds what waits to be written to a slow WebSocket client;
// beyond it the connection is closed (1013, try again later).
const wsMaxPending = 16 << 20

// closeTryAgainLater is close code 1013 (IANA registry: Try Again Later).
const closeTryAgainLater ws.CloseCode = 1013

func (r *Relay) listenWS(cfg *tls.Config) error {
	// Half the processors for loops: a busy loop keeps its processor, and
	// the bridges' goroutines need the others.
	loops := max(1, runtime.GOMAXPROCS(0)/2)
	srv, err := engine.NewServer(&engine.Config{Loops: loops, MaxPending: wsMaxPending, HighWatermark: wsMaxPending / 4, Observer: r.o.Observer})
	if err != nil {
		return err
	}
	var h engine.Handler = ws.NewServer(wsBridge{r}, ws.ServerOptions{Path: r.o.From.Path})
	if r.o.From.IsTLS() {
		if cfg == nil {
			srv.Close()
			return errors.New("relay: wss:// needs a TLS certificate")
		}
		h = tlslayer.Server(h, cfg, tlslayer.Options{})
	}
	addr, err := srv.Listen(r.o.From, h)
	if err != nil {
		srv.Close()
		return err
	}
	r.eng, r.addr = srv, addr
	return nil
}

// serveWS waits for ctx, then stops accepting; the connections finish
// through Serve's grace.
func (r *Relay) serveWS(ctx context.Context) {
	<-ctx.Done()
}

// shutdownWS ends the engine: it waits for the WebSocket connections until
// grace ends, then closes them.
func (r *Relay) shutdownWS(grace context.Context) {
	r.eng.Shutdown(grace)
}

type wsBridge struct{ r *Relay }

// bridge is one WebSocket client and its target.
type bridge struct {
	r    *Relay
	c    *ws.Conn
	q    chan []byte
	once sync.Once
	up   int64
}

func (w wsBridge) OnOpen(c *ws.Conn) {
	b := &bridge{r: w.r, c: c, q: make(chan []byte, wsQueue)}
	c.SetContext(b)
	w.r.wg.Add(1)
	w.r.active.Add(1)
	go b.run()
}

func (w wsBridge) OnMessage(c *ws.Conn, op ws.Opcode, data []byte) {
	b := c.Context().(*bridge)
	b.q <- append([]byte(nil), data...) // blocks the loop only while the target is slower than the client
}

// OnCloseFrame: the client has no more to send. The target gets FIN and
// its answer still comes back; our close frame follows its end of data.
func (w wsBridge) OnCloseFrame(c *ws.Conn, code ws.CloseCode, reason string) {
	b := c.Context().(*bridge)
	b.once.Do(func() { close(b.q) })
}

func (w wsBridge) OnClose(c *ws.Conn, code ws.CloseCode, reason string, err error) {
	if b, ok := c.Context().(*bridge); ok {
		b.once.Do(func() { close(b.q) })
	}
}

// run connects to the target and copies both ways until both ends are
// done.
func (b *bridge) run() {
	r := b.r
	defer r.wg.Done()
	defer r.active.Add(-1)
	client := b.c.RemoteAddr()
	ctx, cancel := context.WithTimeout(context.Background(), r.o.ConnectTimeout)
	t, err := r.dialTarget(ctx)
	cancel()
	if err != nil {
		r.failed.Add(1)
		b.c.Close(ws.CloseInternalError, "the relay's target is unreachable")
		for range b.q { // let the loop go on until the connection ends
		}
		r.report(Report{Client: client, Err: err})
		return
	}
	r.track(t)
	defer r.untrack(t)
	defer t.Close()
	r.conns.Add(1)
	var down int64
	var downErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		down, downErr = b.fromTarget(t)
	}()
	upErr := b.toTarget(t)
	<-done
	r.report(Report{Client: client, Up: b.up, Down: down, Err: errors.Join(upErr, downErr)})
}

// toTarget writes the client's messages to the target; the end of the
// client's messages half-closes the target.
func (b *bridge) toTarget(t net.Conn) error {
	for msg := range b.q {
		if _, err := t.Write(msg); err != nil {
			resetConn(t)
			for range b.q {
			}
			return err
		}
		b.up += int64(len(msg))
		b.r.up.Add(uint64(len(msg)))
	}
	if err := closeWrite(t); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// fromTarget sends what the target writes as binary messages; the
// target's end of data closes the WebSocket (1000).
func (b *bridge) fromTarget(t net.Conn) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := t.Read(buf)
		if k > 0 {
			if werr := b.c.AsyncWriteMessage(ws.OpBinary, buf[:k]); werr != nil {
				if errors.Is(werr, engine.ErrOutputFull) {
					b.c.Close(closeTryAgainLater, "the client reads too slowly")
				}
				resetConn(t)
				return n, werr
			}
			n += int64(k)
			b.r.down.Add(uint64(k))
		}
		if err != nil {
			if isEOF(err) {
				b.c.Close(ws.CloseNormal, "")
				return n, nil
			}
			b.c.Close(ws.CloseGoingAway, "the target failed")
			return n, err
		}
	}
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
