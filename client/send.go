package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sockit/sockit"
)

// SendOptions configure Send. The zero value sends the message once and
// waits for the reply without a time limit.
type SendOptions struct {
	Count   int           // times to send the message; 0 means 1
	Timeout time.Duration // give up when nothing arrives for this long; 0 = never
}

// Send sends msg over c and copies the reply to out.
//
// On a stream connection it writes msg Count times, half-closes (shutdown
// SHUT_WR) so that the server sees EOF, and copies everything the server
// sends until its EOF. On a datagram connection (udp, unixgram) it sends
// Count datagrams, each followed by the reply datagram; a missing reply is a
// timeout error (Timeout 0 then means 2 seconds).
func Send(ctx context.Context, c *Conn, msg []byte, out io.Writer, o SendOptions) error {
	count := max(o.Count, 1)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.ep.IsPacket() {
		return sendPackets(ctx, c, msg, out, count, o.Timeout)
	}
	// A small message fits the socket buffers: send it all, then read, so
	// that -v narrates the steps in the order a tutorial draws them.
	if len(msg)*count <= smallMessage {
		err := sendAll(c, msg, count)
		if err == nil {
			err = c.CloseWrite()
		}
		if err != nil {
			return ctxErr(ctx, err)
		}
		return ctxErr(ctx, copyUntilEOF(ctx, c, out, o.Timeout))
	}
	return sendWhileReading(ctx, c, func() error { return sendAll(c, msg, count) }, out, o.Timeout)
}

// SendFrom is Send of what in holds, read as it is sent: on a stream
// connection its memory stays bounded however long in is (a 64 KiB
// buffer), and the reply is read meanwhile. An error reading in ends the
// message as its end does (the half-close, then the reply) and is
// returned after the reply. Where each write is one message (udp,
// unixgram, unixpacket) in is one message, of MaxDatagramInput bytes at
// most. Count must be 0 or 1: a reader is sent once.
func SendFrom(ctx context.Context, c *Conn, in io.Reader, out io.Writer, o SendOptions) error {
	if o.Count > 1 {
		return sockit.BadOption("client.SendOptions", "Count", fmt.Sprintf("is %d; SendFrom sends its input once", o.Count))
	}
	if c.ep.KeepsBoundaries() {
		msg, err := io.ReadAll(io.LimitReader(in, MaxDatagramInput+1))
		switch {
		case err != nil:
			return &InputError{Err: err}
		case len(msg) > MaxDatagramInput:
			return &InputError{Err: fmt.Errorf("more than %d bytes, the most sent as one message over %s", MaxDatagramInput, c.ep.Scheme)}
		}
		return Send(ctx, c, msg, out, o)
	}
	// Read what a small message would hold: if the input ends within it,
	// it is sent as Send sends one, in the tutorial's order.
	head := make([]byte, smallMessage)
	n, err := io.ReadFull(in, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return Send(ctx, c, head[:n], out, o)
	case err != nil:
		return &InputError{Err: err} // nothing sent yet
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return sendWhileReading(ctx, c, func() error {
		if _, err := c.Write(head); err != nil {
			return err
		}
		head = nil
		return copyInput(c, in)
	}, out, o.Timeout)
}

// MaxDatagramInput bounds the input SendFrom reads as one message (a
// datagram, a seqpacket): more than a UDP datagram holds (65 507 bytes),
// and about a Unix socket's default send buffer.
const MaxDatagramInput = 256 << 10

// InputError is an error reading the message's input, not the socket.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "reading the message: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// copyInput writes in to c in reads of up to 64 KiB, until in ends. An
// error reading in is an *InputError.
func copyInput(c *Conn, in io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return &InputError{Err: err}
		}
	}
}

// sendAll writes msg count times.
func sendAll(c *Conn, msg []byte, count int) error {
	for i := 0; i < count; i++ {
		if _, err := c.Write(msg); err != nil {
			return err
		}
	}
	return nil
}

// sendWhileReading runs send, then the half-close, while the reply is
// copied to out. A large message is written while the reply is read: a
// server that answers as it reads (echo) stops reading when we stop
// reading its answer, and a client that wrote everything first would
// deadlock. An *InputError from send ends the message too: it is
// half-closed, the reply read, and the error returned with the reply's.
func sendWhileReading(ctx context.Context, c *Conn, send func() error, out io.Writer, timeout time.Duration) error {
	werr := make(chan error, 1)
	go func() {
		err := send()
		var ie *InputError
		if err == nil || errors.As(err, &ie) {
			err = errors.Join(err, c.CloseWrite())
		}
		werr <- err
	}()
	rerr := copyUntilEOF(ctx, c, out, timeout)
	select {
	case err := <-werr:
		return ctxErr(ctx, errors.Join(rerr, err))
	default:
	}
	// The reply ended before our message was all sent: give the writer a
	// moment to finish or fail (the peer closed or reset), then stop it.
	wait := timeout
	if wait <= 0 || rerr != nil {
		wait = time.Second
	}
	c.SetWriteDeadline(time.Now().Add(wait))
	return ctxErr(ctx, errors.Join(rerr, <-werr))
}

// smallMessage is what Send writes before it starts reading: far below the
// smallest socket buffers, so the write cannot block on a peer that answers.
const smallMessage = 16 << 10

func sendPackets(ctx context.Context, c *Conn, msg []byte, out io.Writer, count int, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	buf := make([]byte, 256<<10)
	for i := 0; i < count; i++ {
		if _, err := c.Write(msg); err != nil {
			return ctxErr(ctx, err)
		}
		setReadDeadline(ctx, c, time.Now().Add(timeout))
		n, err := c.Read(buf)
		if err != nil {
			return ctxErr(ctx, err)
		}
		if _, err := out.Write(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// copyUntilEOF copies c to out until EOF, failing if nothing arrives for
// idle (0 = wait forever).
func copyUntilEOF(ctx context.Context, c *Conn, out io.Writer, idle time.Duration) error {
	buf := make([]byte, 64<<10)
	for {
		if idle > 0 {
			setReadDeadline(ctx, c, time.Now().Add(idle))
		}
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// setReadDeadline sets t, unless ctx has ended: then the deadline in the
// past that Send's AfterFunc set (or is about to set) must stay. Checking
// ctx after setting closes the race with that AfterFunc either way.
func setReadDeadline(ctx context.Context, c *Conn, t time.Time) {
	c.SetReadDeadline(t)
	if ctx.Err() != nil {
		c.SetDeadline(time.Unix(1, 0))
	}
}

// ctxErr reports a cancelled context instead of the deadline error its
// AfterFunc caused.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ctx.Err()
	}
	return err
}
