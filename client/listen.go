package client

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
)

// Listener is the other end of Dial, for nc -l: it accepts one connection
// at a time, as a Conn that Send and Pipe speak through like one Dial
// made. On a stream endpoint it is a listening socket; on udp and
// unixgram it is one bound socket, and a "connection" is the datagrams of
// one peer (see Accept).
type Listener struct {
	ep     endpoint.Endpoint
	obs    sockit.Observer
	so     sock.Options
	linger time.Duration  // Options.Linger, set on each accepted TCP connection
	ln     net.Listener   // streams
	pc     net.PacketConn // datagrams
	sem    chan struct{}  // datagrams: one peer's Conn at a time holds it
}

// Listen binds ep with o's socket options (o.ConnectTimeout, Source and
// Proxy do not apply; Linger applies to each connection accepted) and reports socket, bind and listen to o.Observer. It listens on
// sockets only: a layered endpoint (tls, ws, wss) is refused with
// endpoint.ErrLayered, and package layer stacks those on what Accept
// returns. Errors are *sockit.Error with Op "listen".
func Listen(ctx context.Context, ep endpoint.Endpoint, o Options) (*Listener, error) {
	if ep.IsLayered() {
		return nil, &sockit.Error{Op: "listen", Net: ep.Scheme, Addr: ep.Addr, Err: endpoint.ErrLayered}
	}
	so := sock.Options{Nagle: o.Nagle, KeepAlive: o.KeepAlive, RecvBuf: o.RecvBuf, SendBuf: o.SendBuf}
	l := &Listener{ep: ep, obs: o.Observer, so: so, linger: o.Linger}
	var err error
	if ep.IsPacket() {
		l.pc, err = so.ListenPacket(ctx, ep.Network(), ep.Addr, o.Observer)
		l.sem = make(chan struct{}, 1)
	} else {
		l.ln, err = so.Listen(ctx, ep.Network(), ep.Addr, o.Observer)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr {
	if l.pc != nil {
		return l.pc.LocalAddr()
	}
	return l.ln.Addr()
}

// Close stops listening (a Unix socket file it bound is removed). A
// datagram Conn that Accept returned stops working with it.
func (l *Listener) Close() error {
	if l.ln != nil {
		return sockit.Wrap("close", l.ep.Network(), l.ep.Addr, l.ln.Close())
	}
	err := l.pc.Close()
	if l.ep.Scheme == "unixgram" && !l.ep.IsAbstract() {
		os.Remove(l.pc.LocalAddr().String())
	}
	return sockit.Wrap("close", l.ep.Network(), l.ep.Addr, err)
}

// Accept waits for the next connection until ctx ends. On a stream
// endpoint it is accept(2). On a datagram endpoint it waits for a datagram
// and returns a Conn that reads that peer's datagrams (the first one
// included; others' are dropped while it is open) and writes to that
// peer; the socket stays the Listener's, and the next Accept waits until
// that Conn is closed. The Conn's CloseWrite is not supported there:
// datagrams have no end of data.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		// An earlier Accept whose ctx ended left the deadline that woke
		// it; this one waits anew.
		d.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, l.interrupt)
	defer stop()
	c, err := l.accept()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return c, err
}

// interrupt wakes a blocked Accept (ctx ended).
func (l *Listener) interrupt() {
	if l.ln != nil {
		if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(time.Unix(1, 0))
			return
		}
		l.ln.Close()
		return
	}
	l.pc.SetReadDeadline(time.Unix(1, 0))
}

func (l *Listener) accept() (*Conn, error) {
	if l.ln != nil {
		nc, err := l.ln.Accept()
		if err != nil {
			return nil, sockit.Wrap("accept", l.ep.Network(), l.ep.Addr, err)
		}
		if l.obs != nil {
			l.obs.Observe(sockit.Event{Step: sockit.StepAccept, FD: sock.FD(nc), Net: l.ep.Network(), Peer: nc.RemoteAddr()})
		}
		if tc, ok := nc.(*net.TCPConn); ok && l.linger != 0 {
			tc.SetLinger(lingerSeconds(l.linger))
		}
		if err := l.so.TuneConn(nc); err != nil {
			nc.Close()
			return nil, sockit.Wrap("accept", l.ep.Network(), l.ep.Addr, err)
		}
		c, err := newConn(nc, l.ep, Options{Observer: l.obs}, "", nil)
		if err != nil {
			nc.Close()
			return nil, sockit.Wrap("accept", l.ep.Network(), l.ep.Addr, err)
		}
		return c, nil
	}
	l.sem <- struct{}{}
	buf := make([]byte, maxDatagram)
	l.pc.SetReadDeadline(time.Time{})
	n, from, err := l.pc.ReadFrom(buf)
	if err != nil {
		<-l.sem
		return nil, sockit.Wrap("read", l.ep.Network(), l.ep.Addr, err)
	}
	pp := &peerConn{pc: l.pc, peer: from, first: buf[:n], release: func() { <-l.sem }}
	c, err := newConn(pp, l.ep, Options{Observer: l.obs}, "", nil)
	if err != nil {
		pp.Close()
		return nil, sockit.Wrap("read", l.ep.Network(), l.ep.Addr, err)
	}
	c.sock.fd = sock.FD(l.pc)
	if l.obs != nil {
		c.obs.Observe(sockit.Event{Step: sockit.StepRead, FD: c.sock.fd, Net: l.ep.Network(), N: n, Peer: from})
	}
	return c, nil
}

// maxDatagram is the largest datagram a peer's Conn reads whole.
const maxDatagram = 64 << 10

// errUnbound is a write to a peer with no address: an unbound Unix
// datagram socket, which no answer can reach.
var errUnbound = errors.New("the peer's socket is not bound to an address, so no datagram can reach it")

// peerConn is one peer's datagrams on a socket it shares with its
// Listener: reads drop datagrams from other addresses, writes go to the
// peer, and Close leaves the socket open.
type peerConn struct {
	pc      net.PacketConn
	peer    net.Addr
	first   []byte // the datagram Accept read, until a Read takes it
	once    sync.Once
	release func()
	mu      sync.Mutex
}

func (p *peerConn) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.first != nil {
		n := copy(b, p.first)
		p.first = nil
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	for {
		n, from, err := p.pc.ReadFrom(b)
		if err != nil {
			return n, err
		}
		if sameAddr(from, p.peer) {
			return n, nil
		}
	}
}

func sameAddr(a, b net.Addr) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Network() == b.Network() && a.String() == b.String()
}

func (p *peerConn) Write(b []byte) (int, error) {
	if p.peer == nil || p.peer.String() == "" {
		return 0, errUnbound
	}
	return p.pc.WriteTo(b, p.peer)
}

// Close gives the socket back to the Listener; the first call only.
func (p *peerConn) Close() error {
	err := net.ErrClosed
	p.once.Do(func() {
		p.pc.SetReadDeadline(time.Time{})
		p.release()
		err = nil
	})
	return err
}

func (p *peerConn) LocalAddr() net.Addr                { return p.pc.LocalAddr() }
func (p *peerConn) RemoteAddr() net.Addr               { return p.peer }
func (p *peerConn) SetDeadline(t time.Time) error      { return p.pc.SetDeadline(t) }
func (p *peerConn) SetReadDeadline(t time.Time) error  { return p.pc.SetReadDeadline(t) }
func (p *peerConn) SetWriteDeadline(t time.Time) error { return p.pc.SetWriteDeadline(t) }
