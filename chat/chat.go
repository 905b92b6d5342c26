// Package chat is a chat room on the engine: every line a client sends
// (over tcp, unix, tls: Room.Stream) or every WebSocket message (ws,
// wss: Room.Messages) goes to every other client in the room, whatever
// endpoint each came in on, with a notice when someone joins, leaves or
// is dropped.
//
// A client that does not read never slows the others: what is to be sent
// to it waits in a queue of its own, bounded by Options.MaxQueue bytes
// beyond what its connection has pending; a client whose queue overflows
// is dropped (its connection reset) and the room told so. A sender's loop
// only appends to the other clients' queues and wakes their loops
// (engine.Conn.Wake); each client's own loop writes its queue, as its
// connection drains. So the memory the room holds for one client is at
// most twice MaxQueue, plus its socket's buffers.
package chat

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/ws"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxQueue = 256 << 10
	DefaultMaxLine  = 4 << 10
)

// Options configure a Room. The zero value gives the defaults.
type Options struct {
	// MaxQueue bounds the bytes waiting for one client beyond what its
	// connection has pending; a client past it is dropped. Keep it well
	// above the engine's Config.ReadBuffer: one read of a fast sender
	// queues that much for everyone before their loops can write it. 0 =
	// DefaultMaxQueue.
	MaxQueue int
	// MaxLine bounds a line from a stream client: a longer one is sent
	// in pieces of MaxLine bytes. 0 = DefaultMaxLine.
	MaxLine int
}

// Room is a chat room. Its methods are safe for concurrent use; its
// handlers may serve any number of endpoints of one or more engine
// servers at once.
type Room struct {
	o       Options
	mu      sync.Mutex
	members map[*member]struct{}

	joined, left, dropped, lines, delivered atomic.Uint64
	ids                                     atomic.Uint64 // names clients without an address
}

// New returns an empty room.
func New(o Options) *Room {
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	return &Room{o: o, members: map[*member]struct{}{}}
}

// Stats are a room's counters.
type Stats struct {
	Here      int    // clients in the room now
	Joined    uint64 // clients that joined
	Left      uint64 // clients that left (dropped ones included)
	Dropped   uint64 // clients dropped for not reading
	Messages  uint64 // lines and messages clients sent
	Delivered uint64 // messages and notices written to clients
}

// Stats returns a snapshot of the room's counters.
func (r *Room) Stats() Stats {
	r.mu.Lock()
	here := len(r.members)
	r.mu.Unlock()
	return Stats{Here: here, Joined: r.joined.Load(), Left: r.left.Load(), Dropped: r.dropped.Load(),
		Messages: r.lines.Load(), Delivered: r.delivered.Load()}
}

// outlet is how a member's own loop writes to it: a line on a stream, a
// text message on WebSocket.
type outlet interface {
	write(msg []byte) error // msg ends with '\n'
	pending() int
	wake() error
	later(at time.Time)
	abort()
}

// member is one client in the room.
type member struct {
	r    *Room
	name string
	out  outlet

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	dropped bool // its queue overflowed: its loop resets it
	gone    bool // it left: nothing more is queued

	partial []byte // stream: a line not yet ended (loop-owned)
}

// join adds m and tells everyone.
func (r *Room) join(m *member) {
	r.mu.Lock()
	names := make([]string, 0, min(len(r.members), 10))
	for o := range r.members {
		if len(names) < 10 {
			names = append(names, o.name)
		}
	}
	others := len(r.members)
	r.members[m] = struct{}{}
	r.mu.Unlock()
	r.joined.Add(1)
	welcome := "* welcome, you are " + m.name + "; " + strconv.Itoa(others) + " other"
	if others != 1 {
		welcome += "s"
	}
	welcome += " here"
	if others > 0 {
		welcome += ": " + strings.Join(names, ", ")
		if others > len(names) {
			welcome += ", …"
		}
	}
	m.enqueue([]byte(welcome + "\n"))
	r.broadcast(m, []byte("* "+m.name+" joined ("+strconv.Itoa(others+1)+" here)\n"))
}

// leave removes m and tells the others why.
func (r *Room) leave(m *member) {
	m.mu.Lock()
	m.gone, m.queue, m.queued = true, nil, 0
	dropped := m.dropped
	m.mu.Unlock()
	r.mu.Lock()
	_, in := r.members[m]
	delete(r.members, m)
	r.mu.Unlock()
	if !in {
		return
	}
	r.left.Add(1)
	if dropped {
		r.dropped.Add(1)
		r.broadcast(m, []byte("* "+m.name+" was dropped: it did not read what was sent to it\n"))
		return
	}
	r.broadcast(m, []byte("* "+m.name+" left\n"))
}

// say sends what m said to everyone else.
func (r *Room) say(m *member, text []byte) {
	r.lines.Add(1)
	var b []byte
	b = append(b, m.name...)
	b = append(b, ": "...)
	b = append(b, bytes.ToValidUTF8(text, []byte("\uFFFD"))...)
	r.broadcast(m, append(b, '\n'))
}

// broadcast queues msg for every member but from.
func (r *Room) broadcast(from *member, msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.members {
		if m != from {
			m.enqueue(msg)
		}
	}
}

// enqueue adds msg to m's queue and wakes its loop; a queue that would
// pass MaxQueue drops m instead.
func (m *member) enqueue(msg []byte) {
	m.mu.Lock()
	if m.gone || m.dropped {
		m.mu.Unlock()
		return
	}
	if m.queued+len(msg) > m.r.o.MaxQueue {
		m.dropped, m.queue, m.queued = true, nil, 0
		m.mu.Unlock()
		m.out.wake()
		return
	}
	first := len(m.queue) == 0
	m.queue = append(m.queue, msg)
	m.queued += len(msg)
	m.mu.Unlock()
	if first {
		m.out.wake()
	}
}

// flush runs on m's loop: it writes what is queued while the connection's
// pending output stays under MaxQueue, and resets a dropped member.
func (m *member) flush() {
	m.mu.Lock()
	if m.dropped {
		m.mu.Unlock()
		m.out.abort()
		return
	}
	q := m.queue
	m.queue, m.queued = nil, 0
	m.mu.Unlock()
	i := 0
	for ; i < len(q) && m.out.pending() < m.r.o.MaxQueue; i++ {
		if m.out.write(q[i]) != nil {
			return // closing: OnClose follows
		}
		m.r.delivered.Add(1)
	}
	if i == len(q) {
		return
	}
	// The connection is full: keep the rest, ahead of what came since,
	// and look again soon.
	rest := q[i:]
	n := 0
	for _, b := range rest {
		n += len(b)
	}
	m.mu.Lock()
	m.queue = append(rest, m.queue...)
	m.queued += n
	over := m.queued > m.r.o.MaxQueue
	if over {
		m.dropped = true
	}
	m.mu.Unlock()
	if over {
		m.out.abort()
		return
	}
	m.out.later(time.Now().Add(10 * time.Millisecond))
}

// lines reads lines from a stream member's input.
func (m *member) lines(in []byte) {
	max := m.r.o.MaxLine
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			m.partial = append(m.partial, in...)
			for len(m.partial) >= max {
				m.r.say(m, cut(m.partial[:max]))
				m.partial = append(m.partial[:0], m.partial[max:]...)
			}
			return
		}
		line := in[:i]
		in = in[i+1:]
		if len(m.partial) > 0 {
			line = append(m.partial, line...)
			m.partial = m.partial[:0]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		for len(line) > max {
			m.r.say(m, cut(line[:max]))
			line = line[max:]
		}
		m.r.say(m, line)
	}
}

// cut drops a UTF-8 sequence split at the end of a piece of a long line.
func cut(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// Stream returns the room's engine.Handler for stream endpoints (tcp,
// unix, tls): each line a client sends is a message; what others say
// arrives as lines.
func (r *Room) Stream() engine.Handler { return streamHandler{r} }

type streamHandler struct{ r *Room }

var (
	_ engine.Handler      = streamHandler{}
	_ engine.TimerHandler = streamHandler{}
)

type streamOutlet struct{ c engine.Conn }

func (o streamOutlet) write(msg []byte) error { _, err := o.c.Write(msg); return err }
func (o streamOutlet) pending() int           { return o.c.Pending() }
func (o streamOutlet) wake() error            { return o.c.Wake() }
func (o streamOutlet) later(at time.Time)     { o.c.SetTimer(at) }
func (o streamOutlet) abort()                 { o.c.Abort() }

func (h streamHandler) OnOpen(c engine.Conn) {
	m := &member{r: h.r, name: h.r.nameOf(c.RemoteAddr()), out: streamOutlet{c}}
	c.SetContext(m)
	h.r.join(m)
}

func (h streamHandler) OnData(c engine.Conn, in []byte) int {
	c.Context().(*member).lines(in)
	return len(in)
}

// OnPeerClose: the client is done; what it left unended is said, and the
// connection closes after what is queued for it.
func (h streamHandler) OnPeerClose(c engine.Conn) {
	m := c.Context().(*member)
	if len(m.partial) > 0 {
		h.r.say(m, m.partial)
		m.partial = nil
	}
	c.Close()
}

func (h streamHandler) OnClose(c engine.Conn, _ error) {
	if m, ok := c.Context().(*member); ok {
		h.r.leave(m)
	}
}

func (h streamHandler) OnTimer(c engine.Conn) { c.Context().(*member).flush() }

// Messages returns the room's handler for WebSocket endpoints (ws, wss):
// each message a client sends is said to the others, line by line (its
// last line's end dropped), so no one can pass for another or for a
// notice by putting a line's end in a message; what they say arrives as text messages, each a
// line that ends with "\n", so that a client reading them as a stream
// (sockit connect ws://…) sees lines, as tcp clients do.
func (r *Room) Messages() ws.MessageHandler { return wsHandler{r} }

type wsHandler struct{ r *Room }

var (
	_ ws.MessageHandler = wsHandler{}
	_ ws.TimerHandler   = wsHandler{}
)

type wsOutlet struct{ c *ws.Conn }

func (o wsOutlet) write(msg []byte) error {
	return o.c.WriteMessage(ws.OpText, msg)
}
func (o wsOutlet) pending() int       { return o.c.Pending() }
func (o wsOutlet) wake() error        { return o.c.Wake() }
func (o wsOutlet) later(at time.Time) { o.c.SetTimer(at) }
func (o wsOutlet) abort()             { o.c.Abort() }

func (h wsHandler) OnOpen(c *ws.Conn) {
	m := &member{r: h.r, name: h.r.nameOf(c.RemoteAddr()), out: wsOutlet{c}}
	c.SetContext(m)
	h.r.join(m)
}

func (h wsHandler) OnMessage(c *ws.Conn, _ ws.Opcode, data []byte) {
	m := c.Context().(*member)
	data = bytes.TrimSuffix(data, []byte("\n"))
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		h.r.say(m, bytes.TrimSuffix(line, []byte("\r")))
	}
}

func (h wsHandler) OnClose(c *ws.Conn, _ ws.CloseCode, _ string, _ error) {
	if m, ok := c.Context().(*member); ok {
		h.r.leave(m)
	}
}

func (h wsHandler) OnTimer(c *ws.Conn) { c.Context().(*member).flush() }

// nameOf is how the room calls a client: its address, or for a client
// without one (a Unix socket's), "client N".
func (r *Room) nameOf(a net.Addr) string {
	if a != nil {
		if s := a.String(); s != "" && s != "@" && s != "<nil>" {
			return s
		}
	}
	return "client " + strconv.FormatUint(r.ids.Add(1), 10)
}
