package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/sockapi"
)

// PipeOptions configure Pipe. The zero value is nc with explicit half-close:
// on EOF from the input, send FIN and keep copying the peer's output until
// the peer closes.
type PipeOptions struct {
	// NoShutdown keeps the connection fully open at input EOF: no FIN is
	// sent, and Pipe still ends when the peer closes. It is Shutdown
	// ShutNone.
	NoShutdown bool
	// Shutdown is how a stream ends at input EOF: the zero value SHUT_WR
	// sends FIN; SHUT_RD ends reading (reads return end of file, so Pipe
	// ends too) and sends nothing; SHUT_RDWR both; ShutNone nothing.
	Shutdown sockapi.How
	// Urgent, if set, is sent at input EOF, before the shutdown, with
	// send(MSG_OOB): on TCP its last byte is urgent data.
	Urgent []byte
	// Hold keeps the connection open after the peer has closed until
	// this long after the input ended, so that its state can be watched.
	Hold time.Duration
	// IdleTimeout ends Pipe with a timeout error when no byte has moved in
	// either direction for this long; 0 = never.
	IdleTimeout time.Duration
	// Interactive reads the input a line at a time, shows Prompt before
	// each, and prints what arrives above the prompt: for a person at a
	// terminal.
	Interactive bool
	Prompt      string
	// ReplyWait is how long a datagram Pipe keeps listening for replies
	// after input EOF, as datagrams have no EOF to wait for, and how long
	// any Pipe waits for the peer to finish after an error reading the
	// input; 0 = 1 second.
	ReplyWait time.Duration
}

// Pipe copies in to c and c to out until the peer closes (streams), or
// until input EOF plus ReplyWait (datagrams, one datagram per input line).
// Cancelling ctx ends it with ctx.Err(). An error reading in ends the
// input as its EOF does (a half-close, then the peer's answer until it
// closes, for ReplyWait at most) and is the result. When a stream peer
// closes, Pipe cuts short a write to c still in progress (it sets a write
// deadline in the past) and reports a reset that write met. Pipe returns
// without waiting for a reader blocked in in.Read; closing in ends that
// goroutine.
func Pipe(ctx context.Context, c *Conn, in io.Reader, out io.Writer, o PipeOptions) error {
	p := &pipe{c: c, out: out, o: o}
	p.touch()
	stop := context.AfterFunc(ctx, p.interrupt)
	defer stop()
	upDone := make(chan upResult, 1)
	go func() {
		r := p.up(in)
		upDone <- r
		if r.out != nil {
			p.interrupt() // down may be waiting on a silent peer
		}
	}()
	err := p.down(upDone)
	if err == nil && o.Hold > 0 {
		if at := p.ended.Load(); at != 0 {
			err = hold(ctx, time.Unix(0, at).Add(o.Hold))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = p.inErr
	}
	return err
}

// upResult is how the input side ended: in is the error reading the
// input, out the error writing to the connection (or half-closing it).
type upResult struct{ in, out error }

type pipe struct {
	c     *Conn
	o     PipeOptions
	outMu sync.Mutex
	out   io.Writer
	last  atomic.Int64 // unix nanos of the last byte moved
	eof   atomic.Bool  // input reached EOF
	ended atomic.Int64 // unix nanos when the input ended, for Hold

	dlMu      sync.Mutex // orders read deadlines with interrupt and inputFailed
	cancelled bool       // interrupt was called: ctx ended or up failed
	failedAt  time.Time  // when reading the input failed; zero = it did not

	wmu  sync.Mutex // held by up across each write to c
	werr error      // the write error that ended up, under wmu

	inErr error // down's: the error reading the input, once up has ended
}

// interrupt wakes down's read for good: the context was cancelled or the
// input side failed.
func (p *pipe) interrupt() {
	p.dlMu.Lock()
	p.cancelled = true
	p.c.SetReadDeadline(time.Unix(1, 0))
	p.dlMu.Unlock()
}

// setReadDeadline sets t, or the end of the wait after an input error if
// that comes first, unless interrupt has set a deadline in the past, which
// must stay.
func (p *pipe) setReadDeadline(t time.Time) {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	if !p.failedAt.IsZero() {
		if end := p.failedAt.Add(p.replyWait()); t.IsZero() || end.Before(t) {
			t = end
		}
	}
	if !p.cancelled {
		p.c.SetReadDeadline(t)
	}
}

// inputFailed notes an error reading the input: from now on down waits
// for the peer for ReplyWait at most.
func (p *pipe) inputFailed() {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	p.failedAt = time.Now()
	if !p.cancelled {
		p.c.SetReadDeadline(p.failedAt.Add(p.replyWait()))
	}
}

// waitedAfterFailure reports whether the wait after an input error is over.
func (p *pipe) waitedAfterFailure() bool {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	return !p.failedAt.IsZero() && time.Since(p.failedAt) >= p.replyWait()
}

func (p *pipe) replyWait() time.Duration {
	if p.o.ReplyWait <= 0 {
		return time.Second
	}
	return p.o.ReplyWait
}

// write sends b to c and keeps a failure for down to find.
func (p *pipe) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err := p.c.Write(b)
	if err != nil {
		p.werr = err
	}
	return err
}

// peerClosed decides what a stream's EOF means. A reset wakes a blocked
// write and a blocked read together, and when the write takes the error
// (ECONNRESET) the read sees only EOF; so a write still in progress is cut
// short, and a reset it met is the result.
func (p *pipe) peerClosed() error {
	p.c.SetWriteDeadline(time.Unix(1, 0))
	p.wmu.Lock()
	err := p.werr
	p.wmu.Unlock()
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}

func (p *pipe) touch() { p.last.Store(time.Now().UnixNano()) }

func (p *pipe) prompt() {
	if p.o.Interactive && p.o.Prompt != "" {
		p.outMu.Lock()
		io.WriteString(p.out, p.o.Prompt)
		p.outMu.Unlock()
	}
}

// up copies input to the connection; at the end of the input, or an error
// reading it, it half-closes.
func (p *pipe) up(in io.Reader) upResult {
	packet := p.c.ep.IsPacket()
	var r upResult
	if p.o.Interactive || packet {
		r = p.upLines(in)
	} else {
		r = p.upRaw(in)
	}
	p.ended.Store(time.Now().UnixNano())
	p.eof.Store(true)
	if r.in != nil {
		p.inputFailed()
	}
	if r.out == nil && !packet && len(p.o.Urgent) > 0 {
		_, r.out = p.c.SendUrgent(p.o.Urgent)
	}
	if r.out == nil && !packet && !p.o.NoShutdown {
		switch p.o.Shutdown {
		case sockapi.ShutNone:
		case sockapi.ShutWR:
			r.out = p.c.CloseWrite()
		default:
			r.out = p.c.Shutdown(p.o.Shutdown)
		}
	}
	return r
}

func (p *pipe) upRaw(in io.Reader) upResult {
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			p.touch()
			if werr := p.write(buf[:n]); werr != nil {
				return upResult{out: werr}
			}
		}
		if err == io.EOF {
			return upResult{}
		}
		if err != nil {
			return upResult{in: err}
		}
	}
}

// upLines sends one line at a time, newline included: one datagram per line
// on datagram sockets.
func (p *pipe) upLines(in io.Reader) upResult {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		p.prompt()
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			p.touch()
			if werr := p.write(line); werr != nil {
				return upResult{out: werr}
			}
		}
		if err == io.EOF {
			return upResult{}
		}
		if err != nil {
			return upResult{in: err}
		}
	}
}

// down copies the connection to out until the peer's EOF, an error, the
// idle timeout, or (datagrams) ReplyWait after input EOF.
func (p *pipe) down(upDone <-chan upResult) error {
	packet := p.c.ep.IsPacket()
	wait := p.replyWait()
	buf := make([]byte, 256<<10)
	upReturned := false
	for {
		deadline := time.Time{}
		if p.o.IdleTimeout > 0 {
			deadline = time.Unix(0, p.last.Load()).Add(p.o.IdleTimeout)
		}
		if packet && p.eof.Load() {
			if d := time.Unix(0, p.last.Load()).Add(wait); deadline.IsZero() || d.Before(deadline) {
				deadline = d
			}
		}
		if packet && deadline.IsZero() {
			deadline = time.Now().Add(wait) // recheck for input EOF now and then
		}
		p.setReadDeadline(deadline)
		n, err := p.c.Read(buf)
		if n > 0 {
			p.touch()
			if werr := p.show(buf[:n]); werr != nil {
				return werr
			}
		}
		select {
		case r := <-upDone:
			upReturned, p.inErr = true, r.in
			if r.out != nil {
				return r.out
			}
		default:
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			if !upReturned && p.eof.Load() {
				// Input has ended and up is only sending our FIN, which
				// does not block: let it finish before Pipe returns and
				// the caller closes c.
				r := <-upDone
				if p.inErr = r.in; r.out != nil {
					return r.out
				}
			}
			return p.peerClosed()
		case errors.Is(err, os.ErrDeadlineExceeded):
			if p.isCancelled() {
				return err
			}
			idleFor := time.Since(time.Unix(0, p.last.Load()))
			if p.o.IdleTimeout > 0 && idleFor >= p.o.IdleTimeout {
				return &sockit.Error{Op: "read", Net: p.c.ep.Network(), Addr: p.c.ep.Addr, Err: errors.Join(errIdle, err)}
			}
			if p.waitedAfterFailure() {
				if !upReturned { // up is only sending our half-close
					r := <-upDone
					if p.inErr = r.in; r.out != nil {
						return r.out
					}
				}
				return nil // Pipe returns the input's error
			}
			if packet && p.eof.Load() && idleFor >= wait {
				return nil
			}
			continue
		case p.eof.Load() && p.o.Shutdown.Reads() && !p.o.NoShutdown && sockit.KindOf(err) == sockit.KindReset:
			// We gave up reading at input EOF (SHUT_RD), and Linux resets
			// a connection that gets data after that: the end we asked
			// for, which the narration explains.
			if !upReturned {
				r := <-upDone
				if p.inErr = r.in; r.out != nil {
					return r.out
				}
			}
			return nil
		default:
			return err
		}
	}
}

var errIdle = errors.New("idle timeout")

func (p *pipe) show(b []byte) error {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if !p.o.Interactive {
		_, err := p.out.Write(b)
		return err
	}
	// Clear the prompt line, print the data on lines of its own, and show
	// the prompt again below it.
	io.WriteString(p.out, "\r\x1b[K")
	if _, err := p.out.Write(b); err != nil {
		return err
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		io.WriteString(p.out, "\n")
	}
	_, err := io.WriteString(p.out, p.o.Prompt)
	return err
}

func (p *pipe) isCancelled() bool {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	return p.cancelled
}
