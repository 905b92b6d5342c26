package relay

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit/client"
)

// maxDatagram is the largest datagram the relay reads whole: UDP's
// largest payload, rounded up.
const maxDatagram = 64 << 10

// A datagram relay keeps a session per client address: a socket connected
// to the target, whose answers go back to that client.
type session struct {
	client net.Addr
	key    string
	t      *client.Conn
	last   atomic.Int64 // unix nanos of the last datagram, either way
	up     atomic.Int64
	down   atomic.Int64

	evicted    atomic.Bool
	prev, next *session // in sessions' recency list; under sessions.mu
}

// sessions holds the live sessions by client address, most recently used
// first, at most max of them.
type sessions struct {
	max int

	mu         sync.Mutex
	byKey      map[string]*session
	head, tail *session // most and least recently used
}

func newSessions(max int) *sessions {
	return &sessions{max: max, byKey: map[string]*session{}}
}

// get returns the session of key, made the most recently used, or nil.
func (ss *sessions) get(key string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byKey[key]
	if s != nil && s != ss.head {
		ss.unlink(s)
		ss.push(s)
	}
	return s
}

// room makes room for one more session: at the bound it takes out the
// least recently used one and returns it, for the caller to close.
func (ss *sessions) room() *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byKey) < ss.max || ss.tail == nil {
		return nil
	}
	old := ss.tail
	ss.unlink(old)
	delete(ss.byKey, old.key)
	return old
}

func (ss *sessions) add(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.byKey[s.key] = s
	ss.push(s)
}

// remove takes s out, unless it is out already (evicted, or replaced).
func (ss *sessions) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byKey[s.key] == s {
		ss.unlink(s)
		delete(ss.byKey, s.key)
	}
}

// all takes every session out and returns them.
func (ss *sessions) all() []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*session
	for s := ss.head; s != nil; s = s.next {
		out = append(out, s)
	}
	ss.byKey, ss.head, ss.tail = map[string]*session{}, nil, nil
	return out
}

func (ss *sessions) push(s *session) {
	s.prev, s.next = nil, ss.head
	if ss.head != nil {
		ss.head.prev = s
	}
	ss.head = s
	if ss.tail == nil {
		ss.tail = s
	}
}

func (ss *sessions) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		ss.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		ss.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (r *Relay) servePackets() error {
	ss := newSessions(r.o.MaxSessions)
	r.bufs.New = func() any { b := make([]byte, maxDatagram); return &b }
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				for _, s := range ss.all() {
					s.t.Close()
				}
				return nil
			}
			continue // an ICMP error for an earlier datagram: go on
		}
		if from == nil { // an unbound unixgram sender cannot be answered
			if r.unbound.Add(1) == 1 {
				r.report(Report{Err: ErrUnbound})
			}
			continue
		}
		key := from.String()
		s := ss.get(key)
		if s == nil {
			if old := ss.room(); old != nil {
				old.evicted.Store(true)
				r.evicted.Add(1)
				old.t.Close() // its goroutine ends and reports
			}
			if s, err = r.openSession(from, key); err != nil {
				r.failed.Add(1)
				r.report(Report{Client: from, Err: err})
				continue
			}
			ss.add(s)
			r.wg.Add(1)
			r.active.Add(1)
			go func() {
				defer r.wg.Done()
				defer r.active.Add(-1)
				err := r.answer(s)
				ss.remove(s)
				switch {
				case s.evicted.Load():
					err = ErrEvicted
				case errors.Is(err, ErrIdle):
					r.idle.Add(1)
				}
				r.report(Report{Client: s.client, Up: s.up.Load(), Down: s.down.Load(), Err: err})
			}()
		}
		s.last.Store(time.Now().UnixNano())
		if w, err := s.t.Write(buf[:n]); err == nil {
			s.up.Add(int64(w))
			r.up.Add(uint64(w))
		}
	}
}

func (r *Relay) openSession(from net.Addr, key string) (*session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.ConnectTimeout)
	defer cancel()
	t, err := client.Dial(ctx, r.o.To, client.Options{Observer: r.o.Observer, Connect: true})
	if err != nil {
		return nil, err
	}
	r.conns.Add(1)
	s := &session{client: from, key: key, t: t}
	s.last.Store(time.Now().UnixNano())
	r.track(t)
	return s, nil
}

// answer sends the target's datagrams back to the session's client until
// the session is idle for IdleTimeout (ErrIdle), or closed (nil). It
// waits for each datagram without a buffer (waitReadable), and borrows
// one from the relay's pool only to read it and send it on.
func (r *Relay) answer(s *session) error {
	defer r.untrack(s.t)
	defer s.t.Close()
	for {
		if r.o.IdleTimeout > 0 {
			s.t.SetReadDeadline(time.Unix(0, s.last.Load()).Add(r.o.IdleTimeout))
		}
		err := waitReadable(s.t)
		var n int
		var bp *[]byte
		if err == nil {
			bp = r.bufs.Get().(*[]byte)
			n, err = s.t.Read(*bp)
		}
		if err != nil {
			if bp != nil {
				r.bufs.Put(bp)
			}
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				if time.Now().Before(time.Unix(0, s.last.Load()).Add(r.o.IdleTimeout)) {
					continue // traffic came in meanwhile
				}
				return ErrIdle
			case errors.Is(err, net.ErrClosed):
				return nil
			case isReset(err) || errors.Is(err, syscall.ECONNREFUSED):
				continue // the target is not there (yet): its ICMP error; keep the session
			}
			return err
		}
		s.last.Store(time.Now().UnixNano())
		w, werr := r.pc.WriteTo((*bp)[:n], s.client)
		r.bufs.Put(bp)
		if werr == nil {
			s.down.Add(int64(w))
			r.down.Add(uint64(w))
		}
	}
}
