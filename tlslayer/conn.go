package tlslayer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/sniff"
)

type state uint8

const (
	stateHandshake state = iota // the handshake goroutine runs
	stateOpen                   // handshake done, records processed on the loop
	stateFailed                 // handshake failed; the connection is closing
	stateClosed                 // OnClose has run
)

// Requests queued for the loop by Close and CloseWrite.
const (
	reqCloseWrite uint8 = 1 << iota
	reqClose
)

// maxHandshakeInput bounds the ciphertext held for the handshake goroutine:
// more than the largest handshake flight crypto/tls accepts (a certificate
// message of up to 256 KiB, maxHandshakeCertificateMsg).
const maxHandshakeInput = 512 << 10

// readChunk is the room kept for one tls.Conn.Read: a full record's
// plaintext (2^14 bytes, RFC 8446 section 5.1).
const readChunk = 16 << 10

// plainPool recycles plaintext buffers, so that an idle connection holds
// none.
var plainPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// conn is one TLS connection: the layer's state for it, and the
// engine.Conn the inner handler sees.
//
// Fields without a comment on their owner belong to the connection's
// callbacks (its loop on the epoll backend).
type conn struct {
	l     *layer
	outer engine.Conn
	mc    *memconn
	tc    *tls.Conn

	// The handshake goroutine sets hsErr and hsDone under mc.mu, calls
	// Wake, and closes done as its very last step.
	hsErr  error
	hsDone bool
	done   chan struct{}

	state    state
	deadline time.Time // the handshake's; zero = none
	value    any       // the inner handler's Context
	plain    []byte    // plaintext left unconsumed by the inner handler, or nil
	plainp   *[]byte   // the plainPool entry plain lives in, while pump runs or plain is kept
	readEnd  bool      // tls.Conn.Read has returned EOF or an error: nothing more to read
	told     bool      // the inner handler has had OnPeerClose
	closing  bool      // Close asked for: input is dropped
	notified bool      // close_notify sent
	err      error     // why the layer ended the connection, for the inner OnClose
	herr     *HandshakeError
	first    []byte    // client: the server's first bytes (up to sniff.Keep), to say what it spoke if not TLS
	innerAt  time.Time // the inner handler's SetTimer; zero = none
	held     int       // the bytes last reported to the engine with Hold

	shut      atomic.Bool // CloseWrite, Close or Abort asked for: writes are refused
	aborted   atomic.Bool // Abort asked for: input is dropped too
	innerWake atomic.Bool // the inner handler called Wake
	queued    atomic.Bool // aq or areq hold work

	// Work from AsyncWrite, Close and CloseWrite, for the loop to do in
	// order: encrypting must happen on the loop, where records are numbered
	// and written.
	amu     sync.Mutex
	aq      [][]byte
	aqBytes int
	areq    uint8
}

// handshake runs on a goroutine of its own while the handshake lasts.
func (t *conn) handshake() {
	err := t.tc.Handshake()
	t.mc.mu.Lock()
	t.hsErr, t.hsDone = err, true
	t.mc.mu.Unlock()
	t.outer.Wake() // ErrClosed if the connection is gone: OnClose waits for done
	close(t.done)
}

func (t *conn) onData(in []byte) {
	defer t.account()
	switch t.state {
	case stateHandshake:
		if t.l.client {
			t.first = sniff.KeepFirst(t.first, in)
		}
		held := t.mc.feed(in)
		if t.checkHandshake() {
			return // opened, and read what was held; or failed
		}
		// TLS 1.3 lets a client send data right after its Finished, before
		// the server's goroutine has read it: allow for MaxInput of that.
		if held > maxHandshakeInput+t.l.opts.MaxInput {
			t.failHandshake(ReasonProtocol, fmt.Errorf("more than %d bytes of handshake input unread", held))
		}
	case stateOpen:
		if t.readEnd || t.stopped() {
			return
		}
		t.mc.lend(in)
		t.pump()
		t.mc.keep()
		t.settle()
	}
}

func (t *conn) onPeerClose() {
	t.mc.setEOF()
	if t.state == stateHandshake {
		t.checkHandshake()
		return // open read to the EOF; a handshake still running fails
	}
	if t.state == stateOpen {
		t.pump()
		t.settle()
	}
}

// checkHandshake acts on the handshake's result if it is there, and
// reports whether it was.
func (t *conn) checkHandshake() bool {
	t.mc.mu.Lock()
	done, err := t.hsDone, t.hsErr
	t.mc.mu.Unlock()
	switch {
	case !done:
		return false
	case err == nil:
		t.open()
	default:
		t.failHandshake(reasonOf(err), err)
	}
	return true
}

func (t *conn) onTimer() {
	switch t.state {
	case stateHandshake:
		switch {
		case t.checkHandshake():
		case !t.deadline.IsZero() && !time.Now().Before(t.deadline):
			t.failHandshake(ReasonTimeout, fmt.Errorf("no handshake within %v: %w", t.l.opts.HandshakeTimeout, os.ErrDeadlineExceeded))
		case !t.deadline.IsZero():
			t.outer.SetTimer(t.deadline) // early: keep the deadline armed
		}
	case stateOpen:
		t.settle()
		fire := t.innerWake.Swap(false)
		if !t.innerAt.IsZero() {
			if !time.Now().Before(t.innerAt) {
				t.innerAt, fire = time.Time{}, true
			} else {
				t.outer.SetTimer(t.innerAt) // woken early: keep the inner timer armed
			}
		}
		if fire && t.l.timer != nil {
			t.l.timer.OnTimer(t)
			t.settle()
		}
	}
}

// open switches to loop mode and opens the inner handler.
func (t *conn) open() {
	t.state, t.first = stateOpen, nil
	t.mc.setLoop()
	t.outer.SetTimer(time.Time{}) // the handshake's deadline
	t.l.opts.Counters.succeeded()
	t.l.inner.OnOpen(t)
	if t.l.drainer != nil && t.state == stateOpen && !t.shut.Load() {
		t.l.drainer.OnDrain(t) // as the engine does after OnOpen
	}
	// Records that came with the handshake's last flight, or a FIN that
	// came during it, wait in the memconn or in the tls.Conn's buffer.
	t.pump()
	t.settle()
}

func (t *conn) failHandshake(r Reason, err error) {
	if e := sniff.NotTLS(t.first, err); t.l.client && e != nil && r != ReasonTimeout {
		r, err = ReasonNotTLS, e
	}
	t.first = nil
	t.state = stateFailed
	t.herr = &HandshakeError{Addr: addrText(t.mc.raddr), Reason: r, Err: err}
	t.l.opts.Counters.fail(r)
	t.mc.Close() // ends a handshake still waiting for input
	if r == ReasonTimeout {
		// Reset: nothing is pending that the peer could lose, and a peer
		// that says nothing would hold a Close for its whole linger time,
		// waiting for a FIN.
		t.outer.Abort()
		return
	}
	// crypto/tls has queued its alert, if it sends one, with AsyncWrite;
	// Close sends it before the FIN.
	t.outer.Close()
}

// pump reads plaintext from the tls.Conn until it needs more ciphertext,
// and hands it to the inner handler.
func (t *conn) pump() {
	if t.readEnd || t.closing || t.state != stateOpen {
		return
	}
	p := t.plain
	if t.plainp == nil {
		t.plainp = plainPool.Get().(*[]byte)
		p = (*t.plainp)[:0]
	}
	fresh := false // p holds plaintext the inner handler has not seen
	var err error
	for {
		if cap(p)-len(p) < readChunk {
			if !fresh {
				p = append(p, make([]byte, readChunk)...)[:len(p)]
			} else if p = t.deliver(p); t.stopped() {
				break
			}
			fresh = false
			continue
		}
		var n int
		n, err = t.tc.Read(p[len(p):cap(p)])
		p = p[:len(p)+n]
		fresh = fresh || n > 0
		if err != nil {
			break
		}
	}
	if fresh && !t.stopped() {
		p = t.deliver(p)
	}
	t.keepPlain(p)
	t.mc.flush() // alerts and key updates crypto/tls wrote while reading
	switch {
	case err == nil || err == errWouldBlock || t.state != stateOpen:
	case err == io.EOF: // close_notify, or FIN at a record boundary
		t.readEnd = true
		if !t.told && !t.closing {
			t.told = true
			t.l.inner.OnPeerClose(t)
		}
	default: // a bad record, an alert, FIN inside a record
		t.readEnd = true
		t.fail(err)
	}
}

// stopped reports whether the inner handler is to get no more input: it
// asked for Close or Abort, or the connection failed.
func (t *conn) stopped() bool {
	return t.closing || t.state != stateOpen || t.aborted.Load()
}

// deliver offers p to the inner handler and returns what it left, moved
// to the front of p. A Close it asks for applies at once.
func (t *conn) deliver(p []byte) []byte {
	k := t.l.inner.OnData(t, p)
	t.settle()
	k = min(max(k, 0), len(p))
	p = p[:copy(p, p[k:])]
	if len(p) > t.l.opts.MaxInput {
		t.fail(engine.ErrInputTooLarge)
		return p[:0]
	}
	return p
}

// keepPlain keeps p if it holds unconsumed plaintext, and gives it back to
// the pool otherwise.
func (t *conn) keepPlain(p []byte) {
	if len(p) > 0 {
		t.plain = p
		return
	}
	t.plain = nil
	if t.plainp != nil && cap(p) >= readChunk && cap(p) <= 1<<20 {
		*t.plainp = p[:0]
		plainPool.Put(t.plainp) // the pointer from Get: putting &p would allocate
	}
	t.plainp = nil
}

// fail ends the connection because of err: crypto/tls has queued its alert
// if it sends one, Close sends it and the FIN.
func (t *conn) fail(err error) {
	if t.err == nil {
		t.err = err
	}
	t.shut.Store(true)
	t.closing = true
	t.outer.Close()
}

// account tells the engine's budget what the layer holds for the
// connection's input not yet used: ciphertext not yet decrypted and
// plaintext the inner handler left (crypto/tls's own record buffers are
// not counted).
func (t *conn) account() {
	if t.state == stateClosed {
		return
	}
	h := t.mc.buffered() + len(t.plain)
	if d := h - t.held; d != 0 {
		t.outer.Hold(d)
		t.held = h
	}
}

// settle does the work other goroutines queued (AsyncWrite, Close,
// CloseWrite), in order.
func (t *conn) settle() {
	if !t.queued.Load() || t.state != stateOpen {
		return
	}
	t.amu.Lock()
	q, req := t.aq, t.areq
	t.aq, t.aqBytes, t.areq = nil, 0, 0
	t.queued.Store(false)
	t.amu.Unlock()
	for _, p := range q {
		if _, err := t.encrypt(p); err != nil {
			break
		}
	}
	if req != 0 && !t.notified && t.err == nil {
		t.notified = true
		t.tc.CloseWrite() // close_notify (RFC 8446 section 6.1)
		t.mc.flush()
	}
	switch {
	case req&reqClose != 0:
		t.closing = true
		t.outer.Close()
	case req&reqCloseWrite != 0:
		t.outer.CloseWrite()
	}
}

// encrypt writes p as records and hands them to the engine.
func (t *conn) encrypt(p []byte) (int, error) {
	if t.state != stateOpen || t.err != nil {
		return 0, engine.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := t.tc.Write(p); err != nil {
		t.mc.flush()
		return 0, engine.ErrClosed // only after close_notify: memconn writes never fail
	}
	if err := t.mc.flush(); err != nil {
		if errors.Is(err, engine.ErrOutputFull) {
			// The records are numbered (RFC 8446 section 5.3): one that
			// was encrypted and not sent breaks the stream for good.
			t.fail(fmt.Errorf("tlslayer: output dropped, the TLS stream cannot go on: %w", err))
			t.outer.Abort()
		}
		return 0, err
	}
	return len(p), nil
}

func (t *conn) drain() {
	if t.state == stateOpen && !t.shut.Load() && t.err == nil {
		t.l.drainer.OnDrain(t)
		t.settle()
	}
}

func (t *conn) onClose(err error) {
	prev := t.state
	t.state = stateClosed
	t.shut.Store(true)
	// Let a handshake still running read what came before the end (a
	// peer's alert, then its reset), then end: with EOF set, its reads no
	// longer block, and its writes fail.
	t.mc.setEOF()
	<-t.done
	t.mc.Close()
	t.keepPlain(nil)
	switch prev {
	case stateOpen:
		if err == nil {
			err = t.err
		}
		t.l.inner.OnClose(t, err)
	case stateHandshake: // the connection ended first
		if t.hsErr == nil {
			t.l.opts.Counters.succeeded()
			if err == nil {
				err = net.ErrClosed
			}
		} else {
			r := reasonOf(t.hsErr)
			t.l.opts.Counters.fail(r)
			err = &HandshakeError{Addr: addrText(t.mc.raddr), Reason: r, Err: t.hsErr}
		}
		if t.l.client {
			t.l.inner.OnClose(t, err)
		}
	case stateFailed:
		if t.l.client {
			t.l.inner.OnClose(t, t.herr)
		}
	}
}

// The engine.Conn the inner handler sees. Write, AsyncWrite, CloseWrite and
// Close go through TLS; the rest passes through to the engine's connection.

// Write encrypts p and queues the records; engine.Conn.Write's contract
// holds, except that ErrOutputFull also ends the connection (see encrypt).
func (t *conn) Write(p []byte) (int, error) {
	if t.shut.Load() {
		return 0, engine.ErrClosed
	}
	return t.encrypt(p)
}

// AsyncWrite queues a copy of p for the loop to encrypt and write.
func (t *conn) AsyncWrite(p []byte) error {
	if t.shut.Load() {
		return engine.ErrClosed
	}
	t.amu.Lock()
	if t.aqBytes+len(p) > t.l.opts.MaxAsync {
		t.amu.Unlock()
		return engine.ErrOutputFull
	}
	t.aq = append(t.aq, append([]byte(nil), p...))
	t.aqBytes += len(p)
	first := !t.queued.Swap(true)
	t.amu.Unlock()
	if first {
		return t.outer.Wake()
	}
	return nil
}

func (t *conn) request(r uint8) error {
	t.shut.Store(true)
	t.amu.Lock()
	t.areq |= r
	first := !t.queued.Swap(true)
	t.amu.Unlock()
	if first {
		if err := t.outer.Wake(); err != nil {
			return nil // gone already, as the engine's Close of a gone connection
		}
	}
	return nil
}

// CloseWrite sends close_notify after the output written so far, then FIN.
// Safe from any goroutine.
func (t *conn) CloseWrite() error { return t.request(reqCloseWrite) }

// Close sends close_notify after the output written so far, then closes as
// the engine's Close does. Safe from any goroutine.
func (t *conn) Close() error { return t.request(reqClose) }

// Abort resets the connection at once; nothing queued is sent. Safe from
// any goroutine.
func (t *conn) Abort() error {
	t.shut.Store(true)
	t.aborted.Store(true)
	return t.outer.Abort()
}

func (t *conn) LocalAddr() net.Addr  { return t.outer.LocalAddr() }
func (t *conn) RemoteAddr() net.Addr { return t.outer.RemoteAddr() }

// Pending is the ciphertext queued in the engine (the plaintext plus the
// records' overhead).
func (t *conn) Pending() int     { return t.outer.Pending() }
func (t *conn) Hold(n int)       { t.outer.Hold(n) }
func (t *conn) Context() any     { return t.value }
func (t *conn) SetContext(v any) { t.value = v }

// PauseReading pauses the reading of ciphertext: what was read already
// still comes to the inner handler, decrypted.
func (t *conn) PauseReading(pause bool) { t.outer.PauseReading(pause) }

// SetTimer shares the engine connection's timer with the layer, which uses
// it only during the handshake, before the inner handler has the
// connection.
func (t *conn) SetTimer(at time.Time) {
	t.innerAt = at
	if t.state == stateOpen {
		t.outer.SetTimer(at)
	}
}

func (t *conn) Wake() error {
	t.innerWake.Store(true)
	return t.outer.Wake()
}

// ConnectionState returns the TLS details of the connection (version,
// cipher suite, the peer's certificates, ALPN). Call it only from the
// connection's callbacks.
func (t *conn) ConnectionState() tls.ConnectionState { return t.tc.ConnectionState() }

func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
