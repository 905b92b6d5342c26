package engine

import "sync/atomic"

// budget is a server's memory budget: the bytes its connections hold —
// chunks of pending output, input left unconsumed, and what protocol
// layers report with Conn.Hold — counted together against
// Config.MaxPendingTotal. Backpressure reads its level (see
// Config.paused): a connection is never cut for being slow, but once the
// budget is reached the connections with the most output pending stop
// being read, and past it every connection with output pending does, and
// the others read 4 KiB at a time, until they drain.
type budget struct {
	limit int64 // <= 0: none
	used  atomic.Int64
	// relax is called when use falls back below the over level, so that
	// the backend lets connections paused for the budget read again.
	relax func()
}

// pressure is how full the budget is.
type pressure uint8

const (
	budgetOK      pressure = iota
	budgetReached          // at the limit: connections above the low watermark pause
	budgetOver             // an eighth past it: every connection with output pending pauses
)

// levelOf is the pressure at use u.
func (b *budget) levelOf(u int64) pressure {
	switch {
	case b.limit <= 0 || u < b.limit:
		return budgetOK
	case u < b.limit+b.limit/8:
		return budgetReached
	}
	return budgetOver
}

// level is the pressure now.
func (b *budget) level() pressure {
	if b == nil {
		return budgetOK
	}
	return b.levelOf(b.used.Load())
}

// add counts n more bytes held (n < 0: released).
func (b *budget) add(n int64) {
	if b == nil || n == 0 {
		return
	}
	now := b.used.Add(n)
	if n < 0 && b.relax != nil && b.levelOf(now-n) == budgetOver && b.levelOf(now) < budgetOver {
		b.relax()
	}
}

// pressedRead is how much one read takes while the budget is over: each
// connection still reading (holding nothing) can add at most this much to
// what the server holds before it pauses too.
const pressedRead = 4 << 10

// readSize is how much one read may take now: all of the read buffer (n),
// or pressedRead while the budget is over.
func (b *budget) readSize(n int) int {
	if b.level() == budgetOver {
		return min(n, pressedRead)
	}
	return n
}

// paused is the backpressure decision for a connection with pending
// output: reading stops when it rises above the high watermark and
// resumes once it has drained to the low one; in between it stays as it
// was. The budget tightens that: reached, a connection above the low
// watermark pauses; over, any connection with output pending does.
// Input a connection holds (a message half read) does not pause it: only
// reading more can finish it, while pending output drains as its peer
// reads.
func (cfg *Config) paused(was bool, pending int, lvl pressure) bool {
	switch {
	case pending > cfg.HighWatermark:
		return true
	case lvl == budgetOver && pending > 0:
		return true
	case lvl >= budgetReached && pending > cfg.LowWatermark:
		return true
	case pending <= cfg.LowWatermark:
		return false
	}
	return was
}
