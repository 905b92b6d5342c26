package service

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/sock"
)

// Lab stands in front of a service's handlers to stage two moments the
// socket tutorials draw: the classic echo server that stops when a client
// says a word, and a teardown in four segments. The zero value changes
// nothing. A Lab is safe for the concurrent calls of every loop.
type Lab struct {
	// ExitWord, if set, is the word that stops the server: a client that
	// sends exactly it — a line of a stream (its newline, and a CR before
	// that, not counted; or a stream's last bytes before its FIN), or a
	// whole datagram (a trailing newline not counted) — gets its answer,
	// its connection is closed, and Stop is called with its address.
	ExitWord string
	Stop     func(from net.Addr)
	// CloseDelay holds a client's FIN this long before the service hears
	// of it: meanwhile the server's socket sits in CLOSE_WAIT, its ACK of
	// the FIN leaves alone, and the teardown shows four segments. It
	// uses the connection's timer (engine.Conn.SetTimer).
	CloseDelay time.Duration

	mu    sync.Mutex
	conns map[engine.Conn]*labConn
}

// labConn is a stream's state: how far its current line matches the word,
// and whether its FIN is being held.
type labConn struct {
	line    []byte // the current line's start, up to len(ExitWord)+1 bytes
	long    bool   // the current line is longer than the word
	holding bool   // the FIN is held (CloseDelay)
}

// Wrap returns h behind the lab, or h itself when the lab changes
// nothing. The wrapper passes every callback on, the optional ones too.
func (l *Lab) Wrap(h engine.Handler) engine.Handler {
	if l.ExitWord == "" && l.CloseDelay <= 0 {
		return h
	}
	return &labHandler{lab: l, h: h}
}

// WrapPacket returns h behind the lab's exit word, or h itself.
func (l *Lab) WrapPacket(h engine.PacketHandler) engine.PacketHandler {
	if l.ExitWord == "" {
		return h
	}
	return labPacket{lab: l, h: h}
}

func (l *Lab) state(c engine.Conn) *labConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		l.conns = make(map[engine.Conn]*labConn)
	}
	st := l.conns[c]
	if st == nil {
		st = &labConn{}
		l.conns[c] = st
	}
	return st
}

func (l *Lab) forget(c engine.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// said reports whether a line (without its newline) is the word.
func (l *Lab) said(line []byte) bool {
	return string(bytes.TrimSuffix(line, []byte("\r"))) == l.ExitWord
}

// scan feeds a stream's bytes to its line matcher and reports whether a
// whole line was the word.
func (l *Lab) scan(st *labConn, in []byte) bool {
	max := len(l.ExitWord) + 1 // room for a CR
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		part := in
		if i >= 0 {
			part = in[:i]
		}
		if !st.long {
			if len(st.line)+len(part) > max {
				st.long, st.line = true, st.line[:0]
			} else {
				st.line = append(st.line, part...)
			}
		}
		if i < 0 {
			return false
		}
		if !st.long && l.said(st.line) {
			return true
		}
		st.line, st.long = st.line[:0], false
		in = in[i+1:]
	}
	return false
}

// labHandler is a stream handler behind a Lab.
type labHandler struct {
	lab *Lab
	h   engine.Handler
}

func (w *labHandler) OnOpen(c engine.Conn) { w.h.OnOpen(c) }

func (w *labHandler) OnData(c engine.Conn, in []byte) int {
	k := w.h.OnData(c, in)
	if w.lab.ExitWord != "" && k > 0 && w.lab.scan(w.lab.state(c), in[:k]) {
		w.exit(c)
	}
	return k
}

func (w *labHandler) exit(c engine.Conn) {
	c.Close() // after the answer: Close flushes it first
	if w.lab.Stop != nil {
		w.lab.Stop(c.RemoteAddr())
	}
}

func (w *labHandler) OnPeerClose(c engine.Conn) {
	if w.lab.ExitWord != "" {
		st := w.lab.state(c)
		if !st.long && len(st.line) > 0 && w.lab.said(st.line) {
			w.h.OnPeerClose(c)
			w.exit(c)
			return
		}
	}
	if w.lab.CloseDelay > 0 {
		w.lab.state(c).holding = true
		c.SetTimer(time.Now().Add(w.lab.CloseDelay))
		return
	}
	w.h.OnPeerClose(c)
}

func (w *labHandler) OnClose(c engine.Conn, err error) {
	w.lab.forget(c)
	w.h.OnClose(c, err)
}

// OnTimer lets the held FIN through, or passes the timer on.
func (w *labHandler) OnTimer(c engine.Conn) {
	if st := w.lab.state(c); st.holding {
		st.holding = false
		w.h.OnPeerClose(c)
		return
	}
	if th, ok := w.h.(engine.TimerHandler); ok {
		th.OnTimer(c)
	}
}

func (w *labHandler) OnDrain(c engine.Conn) {
	if d, ok := w.h.(engine.Drainer); ok {
		d.OnDrain(c)
	}
}

func (w *labHandler) OnShutdown(c engine.Conn) {
	if g, ok := w.h.(engine.ShutdownHandler); ok {
		g.OnShutdown(c)
	}
}

func (w *labHandler) OnUrgent(c engine.Conn, b byte) {
	if u, ok := w.h.(engine.UrgentHandler); ok {
		u.OnUrgent(c, b)
	}
}

func (w *labHandler) OnRights(c engine.Conn, fds []int) {
	if r, ok := w.h.(engine.RightsHandler); ok {
		r.OnRights(c, fds)
	}
}

// labPacket is a datagram handler behind a Lab's exit word.
type labPacket struct {
	lab *Lab
	h   engine.PacketHandler
}

func (w labPacket) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	w.h.OnPacket(pc, p, from)
	if w.lab.said(bytes.TrimSuffix(p, []byte("\n"))) && w.lab.Stop != nil {
		w.lab.Stop(from)
	}
}

// firstLineMax is the most of a passed file Echo answers with.
const firstLineMax = 1024

// OnRights proves descriptors passed over a Unix socket usable (with
// engine.Config.Rights): Echo answers each regular file with its first
// line, read through the descriptor it received.
func (Echo) OnRights(c engine.Conn, fds []int) {
	for _, fd := range fds {
		if !sock.IsRegular(fd) {
			c.Write([]byte("passed fd " + strconv.Itoa(fd) + ": " + sock.DescribeFD(fd) + ", not read\n"))
			continue
		}
		line, err := sock.FirstLine(fd, firstLineMax)
		if err != nil {
			c.Write([]byte("passed fd " + strconv.Itoa(fd) + ": " + err.Error() + "\n"))
			continue
		}
		c.Write(append(append([]byte("passed fd "+strconv.Itoa(fd)+", first line: "), line...), '\n'))
	}
}
