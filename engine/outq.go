package engine

import "sync"

// outq is a connection's pending output: the bytes in order and, on a
// message socket (unixpacket), the length of each message, so that no
// write merges two. Its buffer comes from a pool when output is queued and
// goes back when it drains, so that an idle connection holds none.
type outq struct {
	buf  []byte // pending output is buf[head:]
	head int
	msgs []int   // message sockets: the length of each queued message, oldest first
	slot *[]byte // where buf came from in the pool: it goes back there, without a new allocation
}

// outPool recycles output buffers.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooled is the largest buffer given back to the pool; bigger ones were
// grown by a burst and are left to the collector.
const maxPooled = 1 << 20

// len is the number of bytes pending.
func (q *outq) len() int { return len(q.buf) - q.head }

// push queues a copy of p; on a message socket p is one message.
func (q *outq) push(p []byte, message bool) {
	if q.buf == nil {
		q.slot = outPool.Get().(*[]byte)
		q.buf, q.head = (*q.slot)[:0], 0
	}
	q.buf = append(q.buf, p...)
	if message {
		q.msgs = append(q.msgs, len(p))
	}
}

// chunk is what to write next: all that is pending, or the next message.
func (q *outq) chunk(message bool) []byte {
	c := q.buf[q.head:]
	if message && len(q.msgs) > 0 {
		c = c[:q.msgs[0]]
	}
	return c
}

// advance records that n bytes of the chunk were written; a message is
// written whole or not at all.
func (q *outq) advance(n int, message bool) {
	q.head += n
	if message && n > 0 {
		q.msgs = q.msgs[1:]
	}
	if q.len() == 0 {
		q.release()
	}
}

// release gives the buffer back once nothing is pending.
func (q *outq) release() {
	if q.buf == nil || q.len() > 0 {
		return
	}
	if cap(q.buf) <= maxPooled {
		*q.slot = q.buf[:0]
		outPool.Put(q.slot)
	}
	q.buf, q.head, q.msgs, q.slot = nil, 0, q.msgs[:0], nil
}

// drop discards everything pending (a reset).
func (q *outq) drop() {
	q.head = len(q.buf)
	q.release()
}
