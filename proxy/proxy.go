// Package proxy speaks the PROXY protocol (versions 1 and 2, as HAProxy
// defines it) on both sides: Accept wraps an engine.Handler so that a
// server behind a load balancer sees the real client's address, and Header
// builds the header a relay sends in front of a connection it forwards.
// Encoding and decoding are github.com/pires/go-proxyproto's; this package
// fits them to the engine, where bytes arrive in pieces inside a callback.
package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
)

// v2sig starts every version 2 header.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1 is the longest version 1 header, CRLF included.
const maxV1 = 107

// ErrNoHeader is the error a connection that did not start with a PROXY
// header closes with.
var ErrNoHeader = errors.New("proxy: the connection did not start with a PROXY protocol header")

// DefaultHeaderTimeout bounds the wait for a connection's PROXY header
// when Options.HeaderTimeout is 0: as long as the TLS handshake and the
// WebSocket upgrade get (a load balancer sends the header at once, with
// the connection; nginx's proxy_protocol_timeout is 30s).
const DefaultHeaderTimeout = 10 * time.Second

// Counters count what Accept saw; share one among handlers to get a total.
// The zero value is ready to use; it is safe for concurrent use.
type Counters struct {
	headers, rejected, timedOut atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (c *Counters) Stats() Stats {
	return Stats{Headers: c.headers.Load(), Rejected: c.rejected.Load(), TimedOut: c.timedOut.Load()}
}

// Stats are a snapshot of Counters.
type Stats struct {
	Headers  uint64 // connections that began with a valid header
	Rejected uint64 // connections closed for a missing or malformed header
	TimedOut uint64 // connections closed for a header not whole within HeaderTimeout
}

// ErrHeaderTimeout is the error of a connection whose PROXY header was not
// whole within Options.HeaderTimeout.
var ErrHeaderTimeout = errors.New("proxy: no whole PROXY protocol header within Options.HeaderTimeout")

// Options configure Accept. The zero value counts nothing, tells no one,
// and waits DefaultHeaderTimeout for a header.
type Options struct {
	Observer sockit.Observer // hears of each header read or rejected; nil = none
	Counters *Counters       // counts them; nil = none
	// HeaderTimeout bounds the wait for the whole header, from accept: a
	// connection that has not sent it by then is reset and counted as
	// timed out, so that clients holding half a header cannot hold
	// connections for ever. 0 = DefaultHeaderTimeout, < 0 = no bound.
	HeaderTimeout time.Duration
}

// Accept returns a handler that expects every connection to begin with a
// PROXY header (version 1 or 2), reads it, and then serves the rest of the
// connection with inner, whose Conn reports the header's source as
// RemoteAddr and its destination as LocalAddr. A connection without a
// valid header is reset, and so is one whose header is not whole within
// Options.HeaderTimeout.
//
// Once the header is read, inner has the connection to itself: its
// SetTimer and Wake reach inner's OnTimer (engine.TimerHandler), and
// OnDrain reaches it when it is an engine.Drainer (called once after its
// OnOpen too, as the engine does), so that TLS (package tlslayer) and
// WebSocket (package ws) run under the PROXY header as on a bare
// connection. The handler Accept returns is a Drainer exactly when inner
// is one.
func Accept(inner engine.Handler, o Options) engine.Handler {
	st := o.Counters
	if st == nil {
		st = new(Counters)
	}
	timeout := o.HeaderTimeout
	if timeout == 0 {
		timeout = DefaultHeaderTimeout
	}
	a := &acceptor{inner: inner, obs: o.Observer, st: st, timeout: timeout}
	a.timer, _ = inner.(engine.TimerHandler)
	if d, ok := inner.(engine.Drainer); ok {
		a.drainer = d
		return &drainingAcceptor{a}
	}
	return a
}

var (
	_ engine.TimerHandler = (*acceptor)(nil)
	_ engine.Drainer      = (*drainingAcceptor)(nil)
)

// drainingAcceptor passes OnDrain on to an inner Drainer (chargen, TLS
// over one); a type of its own so that the engine sees a Drainer exactly
// when inner is one.
type drainingAcceptor struct{ *acceptor }

func (a *drainingAcceptor) OnDrain(c engine.Conn) {
	if s, ok := c.Context().(*state); ok && s.pc != nil {
		a.drainer.OnDrain(s.pc)
	}
}

type acceptor struct {
	inner   engine.Handler
	timer   engine.TimerHandler // inner, if it is one
	drainer engine.Drainer      // inner, if it is one
	obs     sockit.Observer
	st      *Counters
	timeout time.Duration // < 0: none
}

// pconn is the connection inner sees once the header is read.
type pconn struct {
	engine.Conn
	src, dst net.Addr
	value    any
	final    atomic.Bool // inner asked for CloseWrite, Close or Abort
}

func (p *pconn) CloseWrite() error { p.final.Store(true); return p.Conn.CloseWrite() }
func (p *pconn) Close() error      { p.final.Store(true); return p.Conn.Close() }
func (p *pconn) Abort() error      { p.final.Store(true); return p.Conn.Abort() }

func (p *pconn) RemoteAddr() net.Addr {
	if p.src != nil {
		return p.src
	}
	return p.Conn.RemoteAddr()
}

func (p *pconn) LocalAddr() net.Addr {
	if p.dst != nil {
		return p.dst
	}
	return p.Conn.LocalAddr()
}

func (p *pconn) Context() any     { return p.value }
func (p *pconn) SetContext(v any) { p.value = v }

// state is kept in the outer connection's context.
type state struct {
	pc       *pconn    // nil until the header is read
	done     bool      // rejected
	deadline time.Time // for the header; zero = none
}

func (a *acceptor) OnOpen(c engine.Conn) {
	s := &state{}
	c.SetContext(s)
	if a.timeout > 0 {
		s.deadline = time.Now().Add(a.timeout)
		c.SetTimer(s.deadline)
	}
}

// OnTimer ends a connection whose header is late; once the header is
// read, the timer and Wake are inner's.
func (a *acceptor) OnTimer(c engine.Conn) {
	s, ok := c.Context().(*state)
	switch {
	case !ok || s.done:
	case s.pc != nil:
		if a.timer != nil {
			a.timer.OnTimer(s.pc)
		}
	case s.deadline.IsZero():
	case time.Now().Before(s.deadline):
		c.SetTimer(s.deadline) // early: keep the deadline armed
	default:
		a.st.timedOut.Add(1)
		a.fail(c, s, fmt.Errorf("%w (%v)", ErrHeaderTimeout, a.timeout))
	}
}

// OnShutdown passes the server's shutdown on to an inner handler that
// says goodbye (engine.ShutdownHandler), once the header is read.
func (a *acceptor) OnShutdown(c engine.Conn) {
	g, ok := a.inner.(engine.ShutdownHandler)
	if s, read := c.Context().(*state); ok && read && s.pc != nil {
		g.OnShutdown(s.pc)
	}
}

func (a *acceptor) OnData(c engine.Conn, in []byte) int {
	s := c.Context().(*state)
	if s.pc != nil {
		return a.inner.OnData(s.pc, in)
	}
	if s.done {
		return len(in)
	}
	n, err := headerLen(in)
	if err != nil {
		a.reject(c, s, err)
		return len(in)
	}
	if n == 0 {
		return 0 // wait for the rest of the header
	}
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(in[:n]), max(n, 16)))
	if err != nil {
		a.reject(c, s, fmt.Errorf("proxy: malformed header: %w", err))
		return len(in)
	}
	s.pc = &pconn{Conn: c}
	if h.Command == proxyproto.PROXY {
		s.pc.src, s.pc.dst = h.SourceAddr, h.DestinationAddr
	}
	a.st.headers.Add(1)
	if a.obs != nil {
		a.obs.Observe(sockit.Event{Step: sockit.StepProxy, FD: -1, Net: "tcp", Peer: s.pc.RemoteAddr(), Local: s.pc.LocalAddr(),
			Detail: fmt.Sprintf("v%d", h.Version)})
	}
	if !s.deadline.IsZero() {
		s.deadline = time.Time{}
		c.SetTimer(time.Time{}) // the timer is inner's from now on
	}
	a.inner.OnOpen(s.pc)
	if a.drainer != nil && !s.pc.final.Load() {
		// The engine called OnDrain after our OnOpen, before inner had
		// the connection: inner's first call is owed.
		a.drainer.OnDrain(s.pc)
	}
	if n == len(in) {
		return n
	}
	return n + a.inner.OnData(s.pc, in[n:])
}

func (a *acceptor) reject(c engine.Conn, s *state, err error) {
	a.st.rejected.Add(1)
	a.fail(c, s, err)
}

// fail resets a connection that brought no valid header in time.
func (a *acceptor) fail(c engine.Conn, s *state, err error) {
	s.done = true
	if a.obs != nil {
		a.obs.Observe(sockit.Event{Step: sockit.StepProxy, FD: -1, Net: "tcp", Detail: "rejected from " + c.RemoteAddr().String(), Err: err})
	}
	c.Abort()
}

func (a *acceptor) OnPeerClose(c engine.Conn) {
	s := c.Context().(*state)
	if s.pc == nil {
		if !s.done {
			a.reject(c, s, ErrNoHeader)
		}
		return
	}
	a.inner.OnPeerClose(s.pc)
}

func (a *acceptor) OnClose(c engine.Conn, err error) {
	if s, ok := c.Context().(*state); ok && s.pc != nil {
		a.inner.OnClose(s.pc, err)
	}
}

// headerLen returns the length of the PROXY header at the start of b, 0
// if b holds only part of one, or an error if b does not start with one.
func headerLen(b []byte) (int, error) {
	switch {
	case len(b) >= len(v2sig) && bytes.Equal(b[:len(v2sig)], v2sig):
		if len(b) < 16 {
			return 0, nil
		}
		n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if len(b) < n {
			return 0, nil
		}
		return n, nil
	case len(b) < len(v2sig) && bytes.HasPrefix(v2sig, b):
		return 0, nil // could still be a version 2 signature
	case bytes.HasPrefix(b, []byte("PROXY ")):
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			if i+2 > maxV1 {
				return 0, errors.New("proxy: version 1 header longer than 107 bytes")
			}
			return i + 2, nil
		}
		if len(b) >= maxV1 {
			return 0, errors.New("proxy: version 1 header without CRLF in 107 bytes")
		}
		return 0, nil
	case len(b) < 6 && bytes.HasPrefix([]byte("PROXY "), b):
		return 0, nil
	}
	return 0, ErrNoHeader
}

// checkVersion refuses a PROXY protocol version other than 1 and 2.
func checkVersion(v int) error {
	if v != 1 && v != 2 {
		return sockit.BadOption("proxy", "version", fmt.Sprintf("%d is not 1 or 2", v))
	}
	return nil
}

// Preamble returns the function that writes a PROXY header of version in
// front of a connection it names by its own addresses (a client testing a
// server behind a load balancer: layer.ClientConfig.Preamble). It refuses
// a version other than 1 and 2 at once.
func Preamble(version int) (func(local, remote net.Addr) ([]byte, error), error) {
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	return func(local, remote net.Addr) ([]byte, error) { return Header(version, local, remote) }, nil
}

// Header returns the PROXY header (version 1 or 2) that tells the next
// hop a connection from src arrived at dst. Addresses that are not TCP
// (Unix sockets) give an UNKNOWN (v1) or LOCAL (v2) header, which passes
// no address, as the protocol says.
func Header(version int, src, dst net.Addr) ([]byte, error) {
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	_, ok1 := src.(*net.TCPAddr)
	_, ok2 := dst.(*net.TCPAddr)
	if !ok1 || !ok2 {
		if version == 1 {
			return []byte("PROXY UNKNOWN\r\n"), nil
		}
		h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
		return h.Format()
	}
	return proxyproto.HeaderProxyFromAddrs(byte(version), src, dst).Format()
}
