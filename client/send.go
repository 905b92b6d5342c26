package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/sockapi"
)

// SendOptions configure Send. The zero value sends the message once,
// half-closes, and waits for the reply without a time limit.
type SendOptions struct {
	Count   int           // times to send the message; 0 means 1
	Timeout time.Duration // give up when nothing arrives for this long; 0 = never
	// Shutdown is how a stream ends its input once the message is sent:
	// the zero value SHUT_WR sends FIN and reads the reply until the
	// server's EOF; SHUT_RD (and SHUT_RDWR) make reads return end of file
	// at once, so that little or nothing of the reply is read (a reply
	// that comes after SHUT_RDWR makes Linux reset the connection, which
	// ends the reply too, without an error: reading was given up); ShutNone
	// sends no FIN and reads until the server closes, or until Timeout
	// passes quietly, which then ends the reply without an error.
	Shutdown sockapi.How
	// Urgent, if set, is sent after the message with send(MSG_OOB): on
	// TCP its last byte is urgent data. Streams only.
	Urgent []byte
	// Rights are files whose descriptors go with the first message, by
	// sendmsg(2) with SCM_RIGHTS (Unix sockets).
	Rights []*os.File
	// Hold keeps the connection open for this long after the shutdown,
	// even once the reply has ended, so that its state can be watched
	// (FIN_WAIT_2 while the server has not closed, TIME_WAIT after); the
	// reply is read meanwhile, and Timeout does not apply within it.
	Hold time.Duration
}

// Send sends msg over c and copies the reply to out.
//
// On a stream connection it writes msg Count times, ends its input as
// Shutdown says (by default shutdown SHUT_WR, so that the server sees
// EOF), and copies everything the server sends until its EOF. On a
// datagram connection (udp, unixgram) it sends Count datagrams, each
// followed by the reply datagram; a missing reply is a timeout error
// (Timeout 0 then means 2 seconds).
func Send(ctx context.Context, c *Conn, msg []byte, out io.Writer, o SendOptions) error {
	if err := o.check(c); err != nil {
		return err
	}
	count := max(o.Count, 1)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.ep.IsPacket() {
		return sendPackets(ctx, c, msg, out, count, o)
	}
	// A small message fits the socket buffers: send it all, then read, so
	// that -v narrates the steps in the order a tutorial draws them.
	if len(msg)*count <= smallMessage {
		err := sendAll(c, msg, count, o.Rights)
		if err == nil {
			err = endInput(c, o)
		}
		if err != nil {
			return ctxErr(ctx, err)
		}
		return ctxErr(ctx, readReply(ctx, c, out, o, holdEnd(o)))
	}
	return sendWhileReading(ctx, c, func() error { return sendAll(c, msg, count, o.Rights) }, out, o)
}

// check refuses options c cannot honour.
func (o SendOptions) check(c *Conn) error {
	if len(o.Rights) > 0 && !c.ep.IsUnix() {
		return sockit.BadOption("client.SendOptions", "Rights", "passes descriptors over Unix sockets only (SCM_RIGHTS, per unix(7)), not over "+c.ep.Network())
	}
	return nil
}

// SendFrom is Send of what in holds, read as it is sent: on a stream
// connection its memory stays bounded however long in is (a 64 KiB
// buffer), and the reply is read meanwhile. An error reading in ends the
// message as its end does (the shutdown, then the reply) and is
// returned after the reply. Where each write is one message (udp,
// unixgram, unixpacket) in is one message, of MaxDatagramInput bytes at
// most. Count must be 0 or 1: a reader is sent once.
func SendFrom(ctx context.Context, c *Conn, in io.Reader, out io.Writer, o SendOptions) error {
	if o.Count > 1 {
		return sockit.BadOption("client.SendOptions", "Count", fmt.Sprintf("is %d; SendFrom sends its input once", o.Count))
	}
	if err := o.check(c); err != nil {
		return err
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
		if err := sendAll(c, head, 1, o.Rights); err != nil {
			return err
		}
		head = nil
		return copyInput(c, in)
	}, out, o)
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

// sendAll writes msg count times; the first write carries rights, if
// any, with sendmsg(2) and SCM_RIGHTS.
func sendAll(c *Conn, msg []byte, count int, rights []*os.File) error {
	for i := 0; i < count; i++ {
		var err error
		if i == 0 && len(rights) > 0 {
			_, err = c.SendRights(msg, rights...)
		} else {
			_, err = c.Write(msg)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// endInput ends the message: the urgent data, if any, then the shutdown
// o asks for.
func endInput(c *Conn, o SendOptions) error {
	if len(o.Urgent) > 0 {
		if _, err := c.SendUrgent(o.Urgent); err != nil {
			return err
		}
	}
	switch o.Shutdown {
	case sockapi.ShutNone:
		return nil
	case sockapi.ShutWR:
		return c.CloseWrite()
	}
	return c.Shutdown(o.Shutdown)
}

// holdEnd is when o's Hold ends, counted from now, or zero.
func holdEnd(o SendOptions) time.Time {
	if o.Hold <= 0 {
		return time.Time{}
	}
	return time.Now().Add(o.Hold)
}

// readReply copies the reply to out until the server's EOF, then holds
// the connection open until holdEnd (if not zero). Without a shutdown a
// quiet server ends the reply at Timeout without an error: no FIN was
// sent, and it has said what it will. After SHUT_RD a reset ends it
// without an error too: we gave up reading, and the kernel resets a
// connection that still gets data then.
func readReply(ctx context.Context, c *Conn, out io.Writer, o SendOptions, holdEnd time.Time) error {
	err := copyUntilEOF(ctx, c, out, o.Timeout, holdEnd)
	switch {
	case o.Shutdown == sockapi.ShutNone && sockit.KindOf(err) == sockit.KindTimeout && ctx.Err() == nil:
		return nil
	case o.Shutdown.Reads() && sockit.KindOf(err) == sockit.KindReset:
		return nil // the narration has the reset, and why
	}
	if err == nil && !holdEnd.IsZero() {
		err = hold(ctx, holdEnd)
	}
	return err
}

// sendWhileReading runs send, then ends the input (endInput), while the
// reply is copied to out. A large message is written while the reply is
// read: a server that answers as it reads (echo) stops reading when we
// stop reading its answer, and a client that wrote everything first would
// deadlock. An *InputError from send ends the message too: the input is
// ended, the reply read, and the error returned with the reply's.
func sendWhileReading(ctx context.Context, c *Conn, send func() error, out io.Writer, o SendOptions) error {
	end := holdEnd(o) // known before the writer starts, so that the reader sees it
	werr := make(chan error, 1)
	go func() {
		err := send()
		var ie *InputError
		if err == nil || errors.As(err, &ie) {
			err = errors.Join(err, endInput(c, o))
		}
		werr <- err
	}()
	rerr := readReply(ctx, c, out, o, end)
	select {
	case err := <-werr:
		return ctxErr(ctx, errors.Join(rerr, err))
	default:
	}
	// The reply ended before our message was all sent: give the writer a
	// moment to finish or fail (the peer closed or reset), then stop it.
	wait := o.Timeout
	if wait <= 0 || rerr != nil {
		wait = time.Second
	}
	c.SetWriteDeadline(time.Now().Add(wait))
	return ctxErr(ctx, errors.Join(rerr, <-werr))
}

// smallMessage is what Send writes before it starts reading: far below the
// smallest socket buffers, so the write cannot block on a peer that answers.
const smallMessage = 16 << 10

// hold waits until end, or until ctx ends.
func hold(ctx context.Context, end time.Time) error {
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sendPackets(ctx context.Context, c *Conn, msg []byte, out io.Writer, count int, o SendOptions) error {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	buf := make([]byte, 256<<10)
	for i := 0; i < count; i++ {
		var err error
		if i == 0 && len(o.Rights) > 0 {
			_, err = c.SendRights(msg, o.Rights...)
		} else {
			_, err = c.Write(msg)
		}
		if err != nil {
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
// idle (0 = wait forever), except before holdEnd: until then it waits,
// and a quiet peer at holdEnd ends the copy without an error.
func copyUntilEOF(ctx context.Context, c *Conn, out io.Writer, idle time.Duration, holdEnd time.Time) error {
	buf := make([]byte, 64<<10)
	for {
		switch {
		case !holdEnd.IsZero() && time.Now().Before(holdEnd):
			setReadDeadline(ctx, c, holdEnd)
		case !holdEnd.IsZero():
			return nil // the hold is over: close
		case idle > 0:
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
		if !holdEnd.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
			continue // the hold's end: the loop's top decides
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
