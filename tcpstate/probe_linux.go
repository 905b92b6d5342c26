package tcpstate

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit"
)

func probe(ctx context.Context, network, addr string, o ProbeOptions) (*ProbeReport, error) {
	r := &ProbeReport{Addr: addr}
	p := prober{network: network, addr: addr, o: o}
	var err error
	if r.HalfClose, err = p.halfClose(ctx); err != nil {
		return nil, err
	}
	if r.UnreadClose, err = p.unreadClose(ctx); err != nil {
		return nil, err
	}
	if r.Linger0, err = p.linger0(ctx); err != nil {
		return nil, err
	}
	if r.TimeWait, err = p.timeWait(ctx, r.HalfClose.Conn); err != nil {
		return nil, err
	}
	return r, ctx.Err()
}

type prober struct {
	network, addr string
	o             ProbeOptions
}

func (p prober) dial(ctx context.Context) (*net.TCPConn, Conn, error) {
	d := net.Dialer{Timeout: p.o.connectTimeout()}
	c, err := d.DialContext(ctx, p.network, p.addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(os.ErrDeadlineExceeded, err)
		}
		return nil, Conn{}, sockit.Wrap("connect", p.network, p.addr, err)
	}
	tc := c.(*net.TCPConn)
	return tc, Conn{Local: addrPort(tc.LocalAddr()), Remote: addrPort(tc.RemoteAddr())}, nil
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmap(ta.AddrPort())
	}
	return netip.AddrPort{}
}

// halfClose sends the message, half-closes and reads until the peer's FIN.
func (p prober) halfClose(ctx context.Context) (HalfClose, error) {
	c, conn, err := p.dial(ctx)
	if err != nil {
		return HalfClose{}, err
	}
	defer c.Close()
	h := HalfClose{Conn: conn}
	start := time.Now()
	msg := p.o.message()
	n, err := c.Write(msg)
	h.Sent = n
	if err == nil {
		err = c.CloseWrite()
	}
	if err != nil {
		h.Outcome = outcomeOf(err)
		return h, nil
	}
	h.AfterShutdown = connState(c, conn)
	c.SetReadDeadline(time.Now().Add(p.o.wait()))
	got, err := io.Copy(io.Discard, c)
	h.Received, h.Took = int(got), time.Since(start)
	switch {
	case err != nil:
		h.Outcome = outcomeOf(err)
	case got > 0:
		h.Outcome = OutcomeAnswered
	default:
		h.Outcome = OutcomeClosed
	}
	h.AfterPeerFIN = connState(c, conn)
	h.PeerState = peerState(conn)
	return h, nil
}

// outcomeOf sorts a read or write error.
func outcomeOf(err error) Outcome {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return OutcomeQuiet
	}
	return OutcomeReset // ECONNRESET or EPIPE: the peer reset
}

// connState is our socket's state from TCP_INFO, or from sock_diag when
// TCP_INFO says CLOSED: the connection may live on as TIME_WAIT.
func connState(c *net.TCPConn, conn Conn) State {
	st := Closed
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if s, err := StateOf(int(fd)); err == nil {
				st = s
			}
		})
	}
	if st == Closed {
		return lookupState(conn.Local, conn.Remote)
	}
	return st
}

// lookupState is the state sock_diag shows for a connection, CLOSED when it
// has none.
func lookupState(local, remote netip.AddrPort) State {
	s, found, err := Lookup(local, remote)
	if err != nil || !found {
		return Closed
	}
	return s.State
}

// peerState is the state of the peer's socket when it is on this machine
// (a loopback or local address); 0 when it is not.
func peerState(conn Conn) State {
	if !isLocal(conn.Remote.Addr()) {
		return 0
	}
	return lookupState(conn.Remote, conn.Local)
}

// settledPeerState is peerState once the peer's kernel has dealt with what
// we just sent (a reset, a FIN): on loopback that is usually done before
// our close(2) returns, but softirq work may be deferred, so poll until
// the state is final (gone, or TIME_WAIT) for up to wait.
func settledPeerState(conn Conn, wait time.Duration) State {
	deadline := time.Now().Add(wait)
	for backoff := 50 * time.Microsecond; ; backoff = min(2*backoff, 10*time.Millisecond) {
		st := peerState(conn)
		if st == 0 || st == Closed || st == TimeWait || time.Now().After(deadline) {
			return st
		}
		time.Sleep(backoff) // polling the peer's state with a deadline
	}
}

func isLocal(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// unreadClose leaves the peer's answer unread and closes.
func (p prober) unreadClose(ctx context.Context) (UnreadClose, error) {
	c, conn, err := p.dial(ctx)
	if err != nil {
		return UnreadClose{}, err
	}
	u := UnreadClose{Conn: conn}
	if _, err := c.Write(p.o.message()); err != nil {
		c.Close()
		u.Outcome, u.Reason = OutcomeSkipped, "the write failed: "+err.Error()
		return u, nil
	}
	u.Unread, err = waitUnread(c, p.o.wait())
	if err != nil || u.Unread == 0 {
		c.SetLinger(0) // no TIME_WAIT left behind by a test that did not run
		c.Close()
		u.Outcome, u.Reason = OutcomeSkipped, skipReason(err)
		return u, nil
	}
	c.Close()
	u.After = lookupState(conn.Local, conn.Remote)
	u.Outcome = OutcomeReset
	if u.After != Closed {
		u.Outcome = OutcomeFIN
	}
	u.PeerState = settledPeerState(conn, p.o.wait())
	return u, nil
}

func skipReason(err error) string {
	switch {
	case err == nil:
		return "the peer closed without answering, so nothing was left to leave unread"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "the peer did not answer our message, so nothing was left to leave unread"
	}
	return "reading the answer failed: " + err.Error()
}

// waitUnread waits up to wait for the peer's data to arrive, without
// reading it, and returns how many bytes wait in our receive queue
// (SIOCINQ); 0 when the peer sent FIN instead.
func waitUnread(c *net.TCPConn, wait time.Duration) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var n int
	var perr error
	buf := make([]byte, 1)
	err = rc.Read(func(fd uintptr) bool {
		var m int
		m, _, perr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if errors.Is(perr, unix.EAGAIN) {
			return false
		}
		if perr == nil && m > 0 {
			n, perr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		}
		return true
	})
	return n, errors.Join(err, perr)
}

// linger0 closes with SO_LINGER 0.
func (p prober) linger0(ctx context.Context) (Linger0, error) {
	c, conn, err := p.dial(ctx)
	if err != nil {
		return Linger0{}, err
	}
	l := Linger0{Conn: conn}
	if err := c.SetLinger(0); err != nil {
		c.Close()
		return l, sockit.Wrap("setsockopt", p.network, p.addr, err)
	}
	c.Close()
	l.After = lookupState(conn.Local, conn.Remote)
	l.Outcome = OutcomeReset
	if l.After != Closed {
		l.Outcome = OutcomeFIN
	}
	l.PeerState = settledPeerState(conn, p.o.wait())
	return l, nil
}

// timeWait reads what test 1 left behind, then lets the peer close first if
// it will.
func (p prober) timeWait(ctx context.Context, first Conn) (TimeWaitWho, error) {
	t := TimeWaitWho{Holder: "us"}
	if s, found, err := Lookup(first.Local, first.Remote); err == nil && found {
		t.OursAfterHalfClose, t.Left = s.State, s.Expires
	} else {
		t.OursAfterHalfClose = Closed
	}
	c, conn, err := p.dial(ctx)
	if err != nil {
		return t, err
	}
	t.Conn = conn
	c.SetReadDeadline(time.Now().Add(p.o.wait()))
	_, err = io.Copy(io.Discard, c)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The peer waits for us: close with a reset so that the probe
		// leaves no TIME_WAIT of its own behind for this extra test.
		c.SetLinger(0)
		c.Close()
		return t, nil
	case err != nil:
		// The peer reset the connection on its own: nobody holds a
		// TIME_WAIT for it.
		c.Close()
		t.PeerResets, t.Holder = true, "none"
		return t, nil
	}
	t.PeerClosesFirst, t.Holder = true, "peer"
	c.Close()
	if t.PeerState = settledPeerState(conn, p.o.wait()); t.PeerState == TimeWait {
		if s, found, err := Lookup(conn.Remote, conn.Local); err == nil && found {
			t.PeerLeft = s.Expires
		}
	}
	return t, nil
}
