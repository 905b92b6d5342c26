package client

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
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
	send := func() error {
		for i := 0; i < count; i++ {
			if _, err := c.Write(msg); err != nil {
				return err
			}
		}
		return c.CloseWrite()
	}
	// A small message fits the socket buffers: send it all, then read, so
	// that -v narrates the steps in the order a tutorial draws them.
	if len(msg)*count <= smallMessage {
		if err := send(); err != nil {
			return ctxErr(ctx, err)
		}
		return ctxErr(ctx, copyUntilEOF(ctx, c, out, o.Timeout))
	}
	// A large one is written while the reply is read: a server that answers
	// as it reads (echo) stops reading when we stop reading its answer, and
	// a client that wrote everything first would deadlock.
	werr := make(chan error, 1)
	go func() { werr <- send() }()
	rerr := copyUntilEOF(ctx, c, out, o.Timeout)
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
