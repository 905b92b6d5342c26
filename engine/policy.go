package engine

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sockit/sockit"
)

// This file holds the rest of the contract policy every backend shares:
// why a connection ended, leftover input, backpressure, the deadlines, the
// accept backoff and what a failed dial reports. The backends only
// translate their events into these.

// cause is why a connection ended, for OnClose. The first error wins; the
// idle timeout, which only asks for an orderly Close, gives way to any
// error that comes after it (the close it started may still fail).
type cause struct {
	err  error
	idle bool
}

// fail records err unless an error came first.
func (c *cause) fail(err error) {
	if c.err == nil && err != nil {
		c.err = err
	}
}

// idled records that the idle timeout closed the connection.
func (c *cause) idled() { c.idle = true }

// result is what OnClose reports: the error, ErrIdle, or nil.
func (c *cause) result() error {
	if c.err == nil && c.idle {
		return ErrIdle
	}
	return c.err
}

// failed reports whether an error has been recorded.
func (c *cause) failed() bool { return c.err != nil }

// unconsumed returns the part of data a handler did not consume after it
// said it consumed k bytes (out of range values are clamped), or
// ErrInputTooLarge when that part is longer than limit.
func unconsumed(data []byte, k, limit int) ([]byte, error) {
	rest := data[min(max(k, 0), len(data)):]
	if len(rest) > limit {
		return nil, ErrInputTooLarge
	}
	return rest, nil
}

// input is what a handler left unconsumed, offered again in front of the
// next bytes read. Its buffer grows to what it must hold rounded up to
// inputUnit (never to twice that, as append would) and is counted in the
// server's budget.
type input struct {
	b      []byte
	budget *budget
}

// inputUnit is the granule of an input buffer.
const inputUnit = 4 << 10

func (in *input) len() int { return len(in.b) }

// join puts data behind what was left over from earlier reads and returns
// the bytes to offer the handler now: data itself when nothing was left.
func (in *input) join(data []byte) []byte {
	if len(in.b) == 0 {
		return data
	}
	in.grow(len(in.b) + len(data))
	in.b = append(in.b, data...)
	return in.b
}

// keep stores rest, which may alias the buffer, as what is left over.
func (in *input) keep(rest []byte) {
	if len(rest) > cap(in.b) {
		nb := make([]byte, len(rest), roundUp(len(rest), inputUnit))
		copy(nb, rest)
		in.budget.add(int64(cap(nb) - cap(in.b)))
		in.b = nb
		return
	}
	in.b = in.b[:copy(in.b[:len(rest)], rest)] // copy moves overlapping bytes like memmove
}

// grow makes room for need bytes, keeping what is there.
func (in *input) grow(need int) {
	if need <= cap(in.b) {
		return
	}
	nb := make([]byte, len(in.b), roundUp(need, inputUnit))
	copy(nb, in.b)
	in.budget.add(int64(cap(nb) - cap(in.b)))
	in.b = nb
}

// release drops the buffer.
func (in *input) release() {
	in.budget.add(-int64(cap(in.b)))
	in.b = nil
}

// roundUp rounds n up to a multiple of unit.
func roundUp(n, unit int) int { return (n + unit - 1) / unit * unit }

// closeEvent is what Close asks for: an orderly close, or a reset when
// Linger is negative.
func (cfg *Config) closeEvent() event {
	if cfg.Linger < 0 {
		return evAbort
	}
	return evClose
}

// expiry names the deadline that ran out.
type expiry uint8

const (
	expNone   expiry = iota
	expLinger        // Close's flush and wait for the peer's FIN: reset
	expWrite         // output made no progress for WriteTimeout: reset
	expIdle          // no input for IdleTimeout: an orderly Close
)

// deadlines are a connection's timers, unix nanoseconds, 0 = none.
type deadlines struct {
	idle, write, linger int64
}

// deadlines computes when each timer of a connection in state st runs
// out: idle from its last input (not while its handler has paused reading,
// readOff), write from its last progress (output written, or input that
// made output pending) while output waits on the kernel (bytes pending,
// or a Drainer waiting for room), and Close's linger deadline (lingerAt,
// 0 until Close).
func (cfg *Config) deadlines(st connState, readOff bool, lastIn, lastOut int64, waiting bool, lingerAt int64) deadlines {
	var d deadlines
	if cfg.IdleTimeout > 0 && st.reads() && !st.discards() && !readOff {
		d.idle = lastIn + int64(cfg.IdleTimeout)
	}
	if cfg.WriteTimeout > 0 && waiting {
		d.write = max(lastOut, lastIn) + int64(cfg.WriteTimeout)
	}
	d.linger = lingerAt
	return d
}

// earliest returns the earlier of two deadlines, where 0 means none.
func earliest(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// next is the first of the deadlines, or 0.
func (d deadlines) next() int64 { return earliest(earliest(d.idle, d.write), d.linger) }

// reading is what bounds a blocking read: idle or linger.
func (d deadlines) reading() int64 { return earliest(d.idle, d.linger) }

// writing is what bounds a blocking write: the write timeout or linger.
func (d deadlines) writing() int64 { return earliest(d.write, d.linger) }

// expired says which deadline has passed at now, the ones that reset
// first.
func (d deadlines) expired(now int64) expiry {
	switch {
	case d.linger > 0 && now >= d.linger:
		return expLinger
	case d.write > 0 && now >= d.write:
		return expWrite
	case d.idle > 0 && now >= d.idle:
		return expIdle
	}
	return expNone
}

// timeoutError is the error OnClose gets when a deadline of op ran out: a
// timeout to errors.Is(err, os.ErrDeadlineExceeded) and ETIMEDOUT both.
func timeoutError(op string) error {
	return errors.Join(os.ErrDeadlineExceeded, os.NewSyscallError(op, syscall.ETIMEDOUT))
}

// The system calls whose deadlines run out.
const (
	opClose = "close" // Linger, Close's flush and wait for the peer's FIN
	opWrite = "write" // WriteTimeout
)

// connectError is what OnClose gets for a dial that never connected: a
// *sockit.Error with Op "connect"; a timeout is os.ErrDeadlineExceeded too.
func connectError(network, addr string, err error) error {
	if errors.Is(err, errDialTimeout) {
		err = timeoutError("connect")
	}
	return sockit.Wrap("connect", network, addr, err)
}

// errDialTimeout marks a dial that DialOptions.Timeout ran out on, whatever
// shape the backend found it in (a context deadline, a timer).
var errDialTimeout = errors.New("engine: connect timed out")

// acceptBackoff paces a listener that accept(2) fails on for want of
// resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the connection waits in the
// backlog, and the listener is not watched for a while instead of spinning
// on it. The wait doubles from 5 ms to a second; a connection closing
// somewhere resumes it at once, as descriptors are the process's.
type acceptBackoff struct {
	wait    time.Duration
	lastLog int64
}

// failed returns how long to stop accepting, and whether to report the
// failure (at most once a second).
func (b *acceptBackoff) failed(now int64) (time.Duration, bool) {
	b.wait = min(max(2*b.wait, 5*time.Millisecond), time.Second)
	report := now-b.lastLog >= int64(time.Second)
	if report {
		b.lastLog = now
	}
	return b.wait, report
}

// ok resets the wait after an accept that worked, or a queue found empty.
func (b *acceptBackoff) ok() { b.wait = 0 }

// brokenPipe is the failure of a connection whose peer is gone both ways
// while it could still write.
func brokenPipe() error { return os.NewSyscallError("write", syscall.EPIPE) }

// errNoBuffers refuses a datagram when the send queue is full.
func errNoBuffers() error { return os.NewSyscallError("sendto", syscall.ENOBUFS) }

// isRefused reports an ICMP port unreachable that a datagram socket
// passes on about an earlier datagram.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// opName names the step an error came from: the system call inside it, or
// "io".
func opName(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op
	}
	return "io"
}

// addrText is a's text, or "" for none.
func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// maxDatagram is the read buffer for datagram sockets: the largest UDP
// payload is 65507 bytes, and unixgram datagrams are bounded by SO_SNDBUF.
const maxDatagram = 256 << 10
