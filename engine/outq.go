package engine

import "sync"

// outq is a connection's pending output: the bytes in order in chunks of
// chunkSize from a pool and, on a message socket (unixpacket), the length
// of each message, so that no write merges two. It holds what is pending
// rounded up to a chunk, never twice it (as a slice grown by append
// would), and gives every chunk back as soon as it is written, so that an
// idle connection holds none. Each chunk taken and given back is counted
// in the server's budget.
type outq struct {
	chunks []*chunk // chunks[0] holds the oldest pending byte at head; the last is filled up to tail
	head   int
	tail   int
	n      int   // bytes pending
	msgs   []int // message sockets: the length of each queued message, oldest first
	budget *budget
	vecs   [][]byte // scratch for vectors
	// A loan: bytes the queue sends ahead of its chunks from memory it
	// does not own (the uring backend's receive buffer a handler echoed),
	// handed back with repay(loanID) once written or dropped.
	loan   []byte
	loanID int32
	repay  func(int32)
}

// chunkSize is the unit of output memory.
const chunkSize = 16 << 10

type chunk [chunkSize]byte

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// maxVectors bounds the slices one vectored write takes.
const maxVectors = 64

// len is the number of bytes pending.
func (q *outq) len() int { return q.n }

// held is the memory the queue holds.
func (q *outq) held() int { return len(q.chunks) * chunkSize }

// lend queues p itself, not a copy, on an empty byte-stream queue; p
// must stay as it is until the queue calls repay(id), which it does once
// p is written or the queue dropped. The memory is not the budget's: the
// lender bounds its loans.
func (q *outq) lend(p []byte, id int32, repay func(int32)) {
	q.loan, q.loanID, q.repay = p, id, repay
	q.n = len(p)
}

// endLoan hands the loan back.
func (q *outq) endLoan() {
	if q.repay != nil {
		q.repay(q.loanID)
	}
	q.loan, q.repay = nil, nil
}

// push queues a copy of p; on a message socket p is one message.
func (q *outq) push(p []byte, message bool) {
	if message {
		q.msgs = append(q.msgs, len(p))
	}
	q.n += len(p)
	for len(p) > 0 {
		if len(q.chunks) == 0 || q.tail == chunkSize {
			q.chunks = append(q.chunks, chunkPool.Get().(*chunk))
			q.tail = 0
			q.budget.add(chunkSize)
		}
		k := copy(q.chunks[len(q.chunks)-1][q.tail:], p)
		q.tail += k
		p = p[k:]
	}
}

// vectors is what to write next, as at most maxVectors slices: all that
// is pending, or on a message socket the next message. The slices are
// valid until the next change to the queue.
func (q *outq) vectors(message bool) [][]byte {
	want := q.n
	if message && len(q.msgs) > 0 {
		want = q.msgs[0]
	}
	q.vecs = q.vecs[:0]
	if len(q.loan) > 0 {
		q.vecs = append(q.vecs, q.loan)
		want -= len(q.loan)
		if want == 0 {
			return q.vecs
		}
	}
	off := q.head
	for i, c := range q.chunks {
		end := chunkSize
		if i == len(q.chunks)-1 {
			end = q.tail
		}
		seg := c[off:end]
		if len(seg) > want {
			seg = seg[:want]
		}
		q.vecs = append(q.vecs, seg)
		want -= len(seg)
		off = 0
		if want == 0 || len(q.vecs) == maxVectors {
			break
		}
	}
	return q.vecs
}

// advance records that n bytes of the vectors were written; a message is
// written whole or not at all. Chunks written out go back to the pool.
func (q *outq) advance(n int, message bool) {
	if n <= 0 {
		return
	}
	if message && len(q.msgs) > 0 {
		q.msgs = q.msgs[1:]
	}
	q.n -= n
	if len(q.loan) > 0 {
		k := min(n, len(q.loan))
		q.loan = q.loan[k:]
		n -= k
		if len(q.loan) == 0 {
			q.endLoan()
		}
	}
	q.head += n
	for len(q.chunks) > 0 && (q.head >= chunkSize || q.n == 0) {
		if q.n == 0 {
			q.release()
			return
		}
		q.free(1)
		q.head -= chunkSize
	}
}

// free gives the first k chunks back.
func (q *outq) free(k int) {
	for _, c := range q.chunks[:k] {
		chunkPool.Put(c)
	}
	q.budget.add(-int64(k) * chunkSize)
	n := copy(q.chunks, q.chunks[k:])
	clear(q.chunks[n:])
	q.chunks = q.chunks[:n]
}

// release gives every chunk and a loan back; nothing may be pending
// (except on drop).
func (q *outq) release() {
	q.endLoan()
	q.free(len(q.chunks))
	q.head, q.tail, q.n, q.msgs = 0, 0, 0, q.msgs[:0]
	if cap(q.chunks) > 4*maxVectors {
		q.chunks = nil // grown by a burst: let it go
	}
	q.vecs = q.vecs[:0]
}

// drop discards everything pending (a reset).
func (q *outq) drop() { q.release() }
