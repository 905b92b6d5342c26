package tlslayer

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/sockit/sockit/engine"
)

// errWouldBlock is what memconn's Read returns in loop mode when it holds no
// ciphertext. It is a temporary net.Error, the one kind of read error after
// which a tls.Conn stays usable: readRecordOrCCS stores every other error
// as the connection's permanent read error (crypto/tls/conn.go, the two
// "if e, ok := err.(net.Error); !ok || !e.Temporary()" checks after
// readFromUntil).
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlslayer: no ciphertext yet" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// memconn is the net.Conn a tls.Conn runs on: ciphertext the engine read is
// fed in, records the tls.Conn writes go out to the engine connection.
//
// It has two modes. In handshake mode a goroutine of the layer runs the
// handshake on it: Read blocks until ciphertext is fed, the peer's FIN is
// seen or the memconn is closed, and Write hands each record to the
// engine with AsyncWrite, which is safe from any goroutine. In loop mode
// (after the handshake, on the connection's loop only) Read never blocks:
// it returns errWouldBlock when empty, and Write collects records in out,
// which flush hands to the engine with one Conn.Write.
type memconn struct {
	outer engine.Conn

	mu     sync.Mutex
	cond   sync.Cond // handshake mode: Read waits for input, EOF or close
	buf    []byte    // ciphertext fed and not yet read is buf[head:]
	head   int
	src    []byte // loop mode: ciphertext borrowed from the running OnData, read after buf
	eof    bool   // the peer sent FIN
	closed bool
	loop   bool
	out    []byte  // loop mode: records written, not yet flushed
	outp   *[]byte // the outPool entry out came from; nil while out is nil

	laddr, raddr net.Addr
}

// outPool recycles the buffers records are collected in, so that an idle
// connection holds none.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func newMemconn(outer engine.Conn) *memconn {
	m := &memconn{outer: outer, laddr: outer.LocalAddr(), raddr: outer.RemoteAddr()}
	m.cond.L = &m.mu
	return m
}

// feed appends a copy of p to the input and wakes a blocked Read. It
// returns the number of bytes held.
func (m *memconn) feed(p []byte) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appendLocked(p)
	m.cond.Signal()
	return len(m.buf) - m.head
}

func (m *memconn) appendLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	if m.head == len(m.buf) {
		m.buf, m.head = m.buf[:0], 0
	}
	m.buf = append(m.buf, p...)
}

// buffered is the ciphertext fed and not yet read.
func (m *memconn) buffered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buf) - m.head
}

// lend makes p readable without a copy, until keep; loop mode only.
func (m *memconn) lend(p []byte) {
	m.mu.Lock()
	m.src = p
	m.mu.Unlock()
}

// keep copies what the tls.Conn left of the lent bytes into buf, before
// the OnData that lent them returns. It has nothing to copy unless reading
// stopped early (an error, or a Close by the inner handler).
func (m *memconn) keep() {
	m.mu.Lock()
	m.appendLocked(m.src)
	m.src = nil
	if m.head == len(m.buf) && cap(m.buf) > 64<<10 {
		m.buf, m.head = nil, 0 // do not hold a large buffer while idle
	}
	m.mu.Unlock()
}

// setEOF records the peer's FIN: Read returns io.EOF once the input is
// read.
func (m *memconn) setEOF() {
	m.mu.Lock()
	m.eof = true
	m.cond.Broadcast()
	m.mu.Unlock()
}

// setLoop switches to loop mode. Only the loop touches the memconn after
// this, so the lock is never contended.
func (m *memconn) setLoop() {
	m.mu.Lock()
	m.loop = true
	m.mu.Unlock()
}

// flush hands the records written since the last flush to the engine in
// one Conn.Write, and gives the buffer back; loop mode only.
func (m *memconn) flush() error {
	m.mu.Lock()
	out, outp := m.out, m.outp
	m.out, m.outp = nil, nil
	m.mu.Unlock()
	if outp == nil {
		return nil
	}
	_, err := m.outer.Write(out) // the engine copies what it cannot write at once
	if cap(out) <= 1<<20 {
		*outp = out[:0]
		outPool.Put(outp) // the pointer from Get: putting &out would allocate
	}
	return err
}

func (m *memconn) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for !m.loop && !m.closed && !m.eof && m.head == len(m.buf) {
		m.cond.Wait()
	}
	switch {
	case m.closed:
		return 0, net.ErrClosed
	case m.head < len(m.buf):
		n := copy(p, m.buf[m.head:])
		m.head += n
		return n, nil
	case len(m.src) > 0:
		n := copy(p, m.src)
		m.src = m.src[n:]
		return n, nil
	case m.eof:
		return 0, io.EOF
	}
	return 0, errWouldBlock
}

func (m *memconn) Write(p []byte) (int, error) {
	m.mu.Lock()
	closed, loop := m.closed, m.loop
	if loop && !closed {
		if m.outp == nil {
			m.outp = outPool.Get().(*[]byte)
			m.out = (*m.outp)[:0]
		}
		m.out = append(m.out, p...)
	}
	m.mu.Unlock()
	switch {
	case closed:
		return 0, net.ErrClosed
	case loop:
		return len(p), nil
	}
	if err := m.outer.AsyncWrite(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the memconn: a blocked Read returns net.ErrClosed, and so do
// later reads and writes.
func (m *memconn) Close() error {
	m.mu.Lock()
	m.closed = true
	m.buf, m.head, m.src, m.out, m.outp = nil, 0, nil, nil, nil
	m.cond.Broadcast()
	m.mu.Unlock()
	return nil
}

func (m *memconn) LocalAddr() net.Addr  { return m.laddr }
func (m *memconn) RemoteAddr() net.Addr { return m.raddr }

// Deadlines do not apply: the layer bounds the handshake with its own
// timer, and in loop mode nothing blocks.
func (m *memconn) SetDeadline(time.Time) error      { return nil }
func (m *memconn) SetReadDeadline(time.Time) error  { return nil }
func (m *memconn) SetWriteDeadline(time.Time) error { return nil }
