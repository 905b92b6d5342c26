package httpsvc

import (
	"os"
	"sync"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/http1"
	"github.com/sockit/sockit/internal/sniff"
	"github.com/sockit/sockit/ws"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBody       = 16 << 20
	DefaultHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	DefaultWebSocketPath = "/ws"
)

// Options configure a Service. The zero value serves the built-in routes
// with the defaults noted on each field, and no files.
type Options struct {
	// Root, if set, is a directory whose files are served (GET and HEAD)
	// at every path the built-in routes do not take, "/" included. Paths
	// that lead out of it are refused.
	Root string
	// MaxHead bounds a request head (request line, fields and the empty
	// line after them): longer ones get 431. 0 = http1.DefaultMaxHead.
	MaxHead int
	// MaxFields bounds the header fields of a request: more get 431.
	// 0 = http1.DefaultMaxFields.
	MaxFields int
	// MaxBody bounds a request body: a longer one gets 413 and the
	// connection closes. 0 = DefaultMaxBody.
	MaxBody int64
	// HeaderTimeout bounds the time from a request head's first byte to
	// its last: a head not whole by then gets 408 and the connection
	// closes. While responses wait for the client to read them, the
	// server may stop reading its requests: that time does not count
	// (IdleTimeout does), and the head's time starts again when the client
	// reads. 0 = DefaultHeaderTimeout, < 0 = no bound.
	HeaderTimeout time.Duration
	// IdleTimeout closes a connection that has no request under way for
	// this long (a keep-alive connection between requests), one whose
	// request body makes no progress for this long, and one whose client
	// reads nothing of its responses (a file, pipelined answers) for this
	// long. A head under way is HeaderTimeout's. 0 = DefaultIdleTimeout,
	// < 0 = never.
	IdleTimeout time.Duration
	// MaxOutput bounds the responses waiting to be written to one
	// connection: past it, the requests a client pipelined wait, unread,
	// until it reads. Keep it at or above the engine's
	// Config.HighWatermark, so that the engine stops reading the
	// connection meanwhile, and well below its Config.MaxPending, which
	// Write refuses to exceed. 0 = engine.DefaultHighWatermark.
	MaxOutput int
	// WebSocket, if set, serves the WebSocket upgrade requests made to
	// WebSocketPath: the connection is handed to it, the request still
	// unread (ws.NewServer reads it with the same parser), and all its
	// callbacks go there from then on. nil = no WebSocket.
	WebSocket engine.Handler
	// WebSocketPath is the path of WebSocket upgrades. "" = "/ws".
	WebSocketPath string
	// Page is what a plain GET of WebSocketPath gets, as HTML: a page
	// that opens the WebSocket. nil = ws.EchoPage(WebSocketPath).
	Page []byte
	// Observer, if set, hears every step of every request
	// (sockit.StepHTTP).
	Observer sockit.Observer
	// Counters, if set, counts this service's requests (shared with
	// others, for a total); nil = counters of its own.
	Counters *Counters
}

// Service is the engine.Handler of the HTTP service. One Service serves
// any number of listeners and connections; it keeps no state but its
// counters and its options.
type Service struct {
	o      Options
	st     *Counters
	obs    sockit.Observer
	dates  http1.DateCache
	limits http1.Limits
	page   []byte
}

var (
	_ engine.Handler         = (*Service)(nil)
	_ engine.Drainer         = (*Service)(nil)
	_ engine.TimerHandler    = (*Service)(nil)
	_ engine.ShutdownHandler = (*Service)(nil)
)

// New returns a Service with o, which it keeps.
func New(o Options) *Service {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.HeaderTimeout == 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = engine.DefaultHighWatermark
	}
	if o.WebSocketPath == "" {
		o.WebSocketPath = DefaultWebSocketPath
	}
	if o.Counters == nil {
		o.Counters = new(Counters)
	}
	s := &Service{o: o, st: o.Counters, obs: o.Observer, limits: http1.Limits{MaxHead: o.MaxHead, MaxFields: o.MaxFields}, page: o.Page}
	if o.WebSocket != nil && s.page == nil {
		s.page = ws.EchoPage(o.WebSocketPath)
	}
	return s
}

// Stats returns a snapshot of the service's counters. Safe from any
// goroutine.
func (s *Service) Stats() Stats { return s.st.Stats() }

// phase is where a connection is in its current request.
type phase uint8

const (
	phaseHead   phase = iota // reading a request head (or waiting for one)
	phaseBody                // reading a request body
	phaseStream              // sending a file as the connection drains
	phaseDone                // the last response is out: closing, input ignored
)

// conn is the state of one connection, kept in its engine.Conn's context
// and touched only by its loop.
type conn struct {
	ec   engine.Conn
	s    *Service
	peer string
	req  http1.Request
	n    int // requests begun on this connection

	phase     phase
	keepAlive bool      // the current request lets the connection go on
	headStart time.Time // when the head under way began; zero: none under way
	last      time.Time // last input, or the client's last read of a response
	armed     time.Time // the timer asked for; zero: none

	// The request whose body is being read.
	bodyLeft  int64 // Content-Length: bytes still to come
	chunked   bool
	chunk     http1.Chunked
	bodyBytes int64
	answer    answer // what goes out once the body is read

	stream  *fileStream // the file being sent
	stash   []byte      // requests that came while a file was sent or responses waited
	waiting bool        // serve stopped: MaxOutput of responses wait to be written
	peerFIN bool        // the client half-closed

	sub      engine.Handler // the WebSocket handler the connection went to
	subConn  *subConn
	upgraded bool
}

// maxStash bounds the pipelined input kept while a file is sent or
// responses wait; past it the connection closes once they are out. The
// engine reads a connection whose output waits only as its client reads
// (MaxOutput at or above its HighWatermark), a read at a time, so only a
// client that pipelines about a megabyte of requests ahead of what it
// reads meets it: the engine's own bound (DefaultMaxInput) on input a
// handler leaves unconsumed. What the stash holds is counted (Hold).
const maxStash = 1 << 20

// OnOpen implements engine.Handler.
func (s *Service) OnOpen(ec engine.Conn) {
	c := &conn{ec: ec, s: s, keepAlive: true}
	if a := ec.RemoteAddr(); a != nil {
		c.peer = a.String()
	}
	c.last = time.Now()
	ec.SetContext(c)
	c.arm()
	s.st.conns.Add(1)
}

// OnData implements engine.Handler.
func (s *Service) OnData(ec engine.Conn, in []byte) int {
	c := ec.Context().(*conn)
	if c.upgraded {
		return c.toSub(in)
	}
	now := time.Now()
	c.last = now
	if c.phase == phaseDone {
		return len(in)
	}
	if c.phase == phaseStream || len(c.stash) > 0 {
		c.keep(in)
		if c.phase != phaseStream {
			c.serveStash(now)
		}
		return len(in)
	}
	b := getBuf()
	n, out := c.serve(in, (*b)[:0], now)
	c.flush(b, out)
	if n < len(in) && (c.phase == phaseStream || c.waiting) {
		c.keep(in[n:]) // pipelined behind a file or waiting responses: served once they are out
		n = len(in)
	}
	c.arm()
	return n
}

// toSub gives input to the handler the connection went to, after what
// was kept for it.
func (c *conn) toSub(in []byte) int {
	if len(c.stash) == 0 {
		return c.sub.OnData(c.subConn, in)
	}
	c.ec.Hold(len(in))
	c.stash = append(c.stash, in...)
	n := c.sub.OnData(c.subConn, c.stash)
	c.ec.Hold(-n)
	if c.stash = c.stash[n:]; len(c.stash) == 0 {
		c.stash = nil
	}
	return len(in)
}

// keep adds in to the stash, within maxStash.
func (c *conn) keep(in []byte) {
	if len(c.stash)+len(in) > maxStash {
		c.note("more than %d bytes of pipelined requests wait for earlier responses: closing once those are out", maxStash)
		c.keepAlive = false
		c.ec.Hold(-len(c.stash))
		c.stash = nil
		return
	}
	if !c.keepAlive {
		return
	}
	c.ec.Hold(len(in))
	c.stash = append(c.stash, in...)
}

// serveStash serves the requests kept while a file was sent.
func (c *conn) serveStash(now time.Time) {
	b := getBuf()
	n, out := c.serve(c.stash, (*b)[:0], now)
	c.flush(b, out)
	if c.phase == phaseDone {
		n = len(c.stash)
	}
	c.ec.Hold(-n)
	c.stash = c.stash[n:]
	if len(c.stash) == 0 {
		c.stash = nil
	}
	c.arm()
}

// flush writes the responses of one call and gives the buffer back.
func (c *conn) flush(b *[]byte, out []byte) {
	if len(out) > 0 {
		if _, err := c.ec.Write(out); err != nil {
			c.note("the client does not read its responses (%v): reset", err)
			c.ec.Abort()
			c.phase = phaseDone
		}
	}
	putBuf(b, out)
	if c.upgraded {
		return
	}
	if c.phase == phaseHead && !c.keepAlive {
		c.phase = phaseDone
	}
	if c.phase == phaseDone && !c.upgraded {
		c.ec.Close()
	}
}

// serve reads requests from in and appends their responses to out, until
// in runs out, a request is incomplete, or the connection is done. It
// returns how much of in it consumed.
func (c *conn) serve(in, out []byte, now time.Time) (int, []byte) {
	off := 0
	c.waiting = false
	for off < len(in) {
		switch c.phase {
		case phaseHead:
			if !c.keepAlive {
				return len(in), out // after Connection: close, nothing more is read
			}
			if c.ec.Pending()+len(out) >= c.s.o.MaxOutput {
				c.waiting = true // the rest is read as the client reads
				return off, out
			}
			n, o, ok := c.head(in[off:], out, now)
			out = o
			if !ok {
				return off + n, out
			}
			off += n
		case phaseBody:
			n, o := c.body(in[off:], out)
			off, out = off+n, o
			if n == 0 {
				return off, out
			}
		default: // streaming a file, or done: keep the rest for later
			return off, out
		}
		if c.upgraded {
			return off, out
		}
	}
	return off, out
}

// head parses a request head at the start of in and starts its answer.
// ok is false when there is no whole head (n is then what to consume:
// all of in once the connection is done).
func (c *conn) head(in, out []byte, now time.Time) (n int, o []byte, ok bool) {
	s := c.s
	n, err := http1.ParseRequest(&c.req, in, s.limits)
	first := c.n == 0 || c.n == 1 && !c.headStart.IsZero()
	if (err != nil || n == 0) && first && sniff.Of(in) == sniff.TLSClientHello {
		// A TLS client, which may never end a line and waits for an
		// answer: say what it is.
		err = &http1.Error{Status: 400, Reason: "a TLS ClientHello: this endpoint speaks plain HTTP (http://), not HTTPS"}
	}
	if err != nil {
		he := err.(*http1.Error)
		if c.headStart.IsZero() {
			c.n++
		}
		c.headStart = time.Time{}
		s.st.malformed.Add(1)
		c.note("refused: %d %s: %s; closing", he.Status, http1.StatusText(he.Status), he.Reason)
		c.keepAlive = false
		return len(in), c.plain(out, he.Status, he.Reason+"\n", nil), false
	}
	if n == 0 {
		if c.headStart.IsZero() && len(in) > 0 {
			c.headStart = now
			c.n++
		}
		return 0, out, false
	}
	if c.headStart.IsZero() {
		c.n++
	}
	c.headStart = time.Time{}
	s.st.requests.Add(1)
	r := &c.req
	c.keepAlive = r.KeepAlive
	if c.s.obs != nil {
		c.tellHead(n)
	}
	if s.o.WebSocket != nil && r.Upgrade && string(r.Path) == s.o.WebSocketPath {
		k, o := c.upgrade(in, out)
		return k, o, true
	}
	if r.ContentLength > s.o.MaxBody {
		c.keepAlive = false
		return len(in), c.plain(out, 413, "the body is longer than this server takes ("+itoa(s.o.MaxBody)+" bytes)\n", nil), false
	}
	c.answer = c.route(r, now)
	if !r.HasBody() {
		return n, c.respond(out), true
	}
	if r.Expect100 && c.answer.status < 300 {
		out = append(out, "HTTP/1.1 100 Continue\r\n\r\n"...)
		c.note("100 Continue: the client may send its body")
	}
	c.phase, c.bodyBytes, c.bodyLeft, c.chunked = phaseBody, 0, r.ContentLength, r.Chunked
	c.chunk.Reset()
	return n, out, true
}

// body consumes request body from in; once it is whole, the answer goes
// out. It returns 0 when it needs more bytes.
func (c *conn) body(in, out []byte) (int, []byte) {
	off := 0
	if !c.chunked {
		k := int(min(int64(len(in)), c.bodyLeft))
		c.bodyLeft -= int64(k)
		c.bodyBytes += int64(k)
		c.s.st.bodyBytes.Add(uint64(k))
		off = k
		if c.s.obs != nil && k > 0 {
			c.note("body: %d bytes (%d of %d)", k, c.bodyBytes, c.bodyBytes+c.bodyLeft)
		}
	} else {
		for !c.chunk.Done() {
			n, data, err := c.chunk.Next(in[off:])
			if err != nil {
				he := err.(*http1.Error)
				c.s.st.malformed.Add(1)
				c.note("refused: %d %s in the chunked body: %s; closing", he.Status, http1.StatusText(he.Status), he.Reason)
				c.keepAlive, c.phase = false, phaseDone
				c.answer.release(c)
				return len(in), c.plain(out, he.Status, he.Reason+"\n", nil)
			}
			if n == 0 {
				break
			}
			off += n
			c.bodyBytes += int64(len(data))
			c.s.st.bodyBytes.Add(uint64(len(data)))
			if c.s.obs != nil && len(data) > 0 {
				c.note("body: chunk data, %d bytes (%d so far)", len(data), c.bodyBytes)
			}
		}
		if c.bodyBytes > c.s.o.MaxBody {
			c.keepAlive, c.phase = false, phaseDone
			c.answer.release(c)
			return len(in), c.plain(out, 413, "the body is longer than this server takes ("+itoa(c.s.o.MaxBody)+" bytes)\n", nil)
		}
	}
	if c.chunked && !c.chunk.Done() || !c.chunked && c.bodyLeft > 0 {
		return off, out
	}
	if c.chunked {
		c.note("body: last chunk; %d bytes in all", c.bodyBytes)
	}
	c.phase = phaseHead
	return off, c.respond(out)
}

// upgrade hands the connection to the WebSocket handler, with the request
// unread (in starts with it); what earlier requests got goes out first.
// It returns how much of in the handler consumed.
func (c *conn) upgrade(in, out []byte) (int, []byte) {
	c.note("Upgrade: websocket on %s: the connection goes to the WebSocket handler", c.s.o.WebSocketPath)
	c.s.st.upgrades.Add(1)
	if len(out) > 0 {
		c.ec.Write(out)
		out = out[:0]
	}
	c.upgraded, c.sub, c.subConn = true, c.s.o.WebSocket, &subConn{Conn: c.ec}
	c.sub.OnOpen(c.subConn)
	return c.sub.OnData(c.subConn, in), out
}

// OnPeerClose implements engine.Handler: the client sent FIN. What it
// asked for before is answered; then the connection closes.
func (s *Service) OnPeerClose(ec engine.Conn) {
	c := ec.Context().(*conn)
	if c.upgraded {
		c.sub.OnPeerClose(c.subConn)
		return
	}
	c.peerFIN = true
	if c.phase == phaseStream || len(c.stash) > 0 && c.phase != phaseDone {
		return // closes once the file and the stash are served
	}
	if c.phase == phaseBody {
		c.note("the client closed before its body was whole: closing")
	} else if !c.headStart.IsZero() {
		c.note("the client closed with half a request head: closing")
	} else {
		c.note("the client closed (FIN): closing")
	}
	c.phase = phaseDone
	ec.Close()
}

// OnClose implements engine.Handler.
func (s *Service) OnClose(ec engine.Conn, err error) {
	c, ok := ec.Context().(*conn)
	if !ok {
		return
	}
	if c.upgraded {
		c.sub.OnClose(c.subConn, err)
		return
	}
	c.answer.release(c)
	if c.stream != nil {
		c.stream.close()
		c.stream = nil
	}
	c.stash = nil
}

// OnDrain implements engine.Drainer: a file being sent gets its next
// pieces, and once it is out, the requests kept meanwhile are served.
func (s *Service) OnDrain(ec engine.Conn) {
	c, ok := ec.Context().(*conn)
	if !ok {
		return
	}
	if c.upgraded {
		if d, ok := c.sub.(engine.Drainer); ok {
			d.OnDrain(c.subConn)
		}
		return
	}
	now := time.Now()
	if c.phase == phaseStream || c.waiting || ec.Pending() > 0 {
		c.last = now // the client reads: not idle
	}
	if !c.headStart.IsZero() {
		// The client has read output that waited for it: the head's time
		// starts again (see heldBack).
		c.headStart = now
		c.arm()
	}
	if c.phase != phaseStream {
		if c.phase == phaseHead && len(c.stash) > 0 {
			c.serveStash(now)
			c.closeIfDone()
		}
		return
	}
	if !c.pump() {
		return
	}
	c.phase = phaseHead
	c.last = time.Now()
	switch {
	case !c.keepAlive:
		c.phase = phaseDone
		ec.Close()
	case len(c.stash) > 0:
		c.serveStash(c.last)
		c.closeIfDone()
	case c.peerFIN:
		c.phase = phaseDone
		ec.Close()
	}
	c.arm()
}

// closeIfDone closes a connection whose client half-closed once the
// requests kept for it are all answered.
func (c *conn) closeIfDone() {
	if c.peerFIN && len(c.stash) == 0 && c.phase == phaseHead {
		c.phase = phaseDone
		c.ec.Close()
	}
}

// OnTimer implements engine.TimerHandler: a head that takes too long gets
// 408, an idle connection is closed.
func (s *Service) OnTimer(ec engine.Conn) {
	c := ec.Context().(*conn)
	if c.upgraded {
		if th, ok := c.sub.(engine.TimerHandler); ok {
			th.OnTimer(c.subConn)
		}
		return
	}
	c.armed = time.Time{}
	now := time.Now()
	head := c.headTimed()
	switch {
	case c.phase == phaseDone:
	case head && !now.Before(c.headStart.Add(s.o.HeaderTimeout)):
		s.st.timeouts.Add(1)
		c.note("no whole request head within %v: 408, closing", s.o.HeaderTimeout)
		c.keepAlive = false
		c.phase = phaseDone
		b := getBuf()
		c.flush(b, c.plain((*b)[:0], 408, "the request head did not arrive within "+s.o.HeaderTimeout.String()+"\n", nil))
		return
	case head:
		// A head under way: HeaderTimeout bounds it, not IdleTimeout.
	case s.o.IdleTimeout > 0 && !now.Before(c.last.Add(s.o.IdleTimeout)):
		switch {
		case c.phase == phaseBody:
			s.st.timeouts.Add(1)
			c.note("the request body made no progress for %v: closing", s.o.IdleTimeout)
		case c.phase == phaseStream || c.waiting || c.ec.Pending() > 0:
			s.st.timeouts.Add(1)
			c.note("the client read nothing of its responses for %v: closing", s.o.IdleTimeout)
		default:
			c.note("idle for %v: closing", s.o.IdleTimeout)
		}
		c.phase = phaseDone
		ec.Close()
		return
	}
	c.arm()
}

// headTimed reports whether HeaderTimeout runs: a head is under way, and
// the server is not holding it back (heldBack).
func (c *conn) headTimed() bool {
	return !c.headStart.IsZero() && c.s.o.HeaderTimeout > 0 && !c.heldBack()
}

// heldBack reports whether responses wait for the client to read them.
// The engine may then have stopped reading the connection (backpressure),
// the rest of a head under way sitting unread in the socket: that time is
// the server's, not the head's. IdleTimeout bounds it instead (a client
// that reads nothing of its responses), and once the client reads, the
// head's time starts again (OnDrain).
func (c *conn) heldBack() bool { return c.waiting || c.ec.Pending() > 0 }

// arm asks for a timer at the connection's next deadline, unless one at
// or before it is already asked for (OnTimer then moves it on): a
// keep-alive request costs no timer operation.
func (c *conn) arm() {
	var at time.Time
	o := &c.s.o
	switch {
	case c.phase == phaseDone || c.upgraded:
		return
	case c.headTimed():
		at = c.headStart.Add(o.HeaderTimeout)
	case o.IdleTimeout > 0:
		at = c.last.Add(o.IdleTimeout)
	default:
		return
	}
	if !c.armed.IsZero() && !c.armed.After(at) {
		return
	}
	c.armed = at
	c.ec.SetTimer(at)
}

// OnShutdown implements engine.ShutdownHandler: a connection between
// requests closes at once; one with a request under way closes after its
// response; a WebSocket connection says goodbye its own way.
func (s *Service) OnShutdown(ec engine.Conn) {
	c := ec.Context().(*conn)
	if c.upgraded {
		if sh, ok := c.sub.(engine.ShutdownHandler); ok {
			sh.OnShutdown(c.subConn)
		}
		return
	}
	c.keepAlive = false
	if c.phase == phaseHead && c.headStart.IsZero() {
		c.phase = phaseDone
		ec.Close()
	}
}

// subConn is the connection as the WebSocket handler sees it: the same
// engine.Conn with a context of its own, so that both handlers keep
// theirs.
type subConn struct {
	engine.Conn
	value any
}

func (s *subConn) Context() any     { return s.value }
func (s *subConn) SetContext(v any) { s.value = v }

// bufPool holds the buffers a call's responses are built in: the engine
// copies what the kernel does not take, so a connection keeps none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf gives b back holding out, the buffer it grew into, unless that
// grew past 256 KiB.
func putBuf(b *[]byte, out []byte) {
	if cap(out) <= 256<<10 {
		*b = out[:0]
		bufPool.Put(b)
	}
}

// fileStream is a file, or a range of it, going out as the connection
// drains.
type fileStream struct {
	f    *os.File
	off  int64
	left int64
}

func (f *fileStream) close() { f.f.Close() }
