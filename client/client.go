// Package client is the client side of a socket tutorial, done properly:
// Dial connects (reporting each step to an observer), Send writes one
// message, half-closes and reads the reply until EOF, and Pipe streams
// between a reader and a writer like nc with an explicit half-close policy.
package client

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
)

// Options configure Dial. The zero value connects with the system defaults
// and no timeout.
type Options struct {
	ConnectTimeout time.Duration // 0 = no timeout beyond the system's
	Nagle          bool          // keep Nagle's algorithm; zero = TCP_NODELAY on
	KeepAlive      time.Duration // 0 = 15s, < 0 = off
	RecvBuf        int           // SO_RCVBUF; 0 = system default
	SendBuf        int           // SO_SNDBUF; 0 = system default
	// Linger sets SO_LINGER on TCP: > 0 bounds how long close(2) waits to
	// send queued data, in whole seconds rounded up (SO_LINGER counts
	// seconds); < 0 means close resets (SO_LINGER 0); 0 leaves the system
	// default.
	Linger   time.Duration
	Observer sockit.Observer // receives each socket step; nil = none
}

// Dial connects to ep. For unixgram it first binds a private socket file in
// the temporary directory so that the server can answer; Close removes it.
// Errors are *sockit.Error with Op "connect".
func Dial(ctx context.Context, ep endpoint.Endpoint, o Options) (*Conn, error) {
	so := sock.Options{Nagle: o.Nagle, KeepAlive: o.KeepAlive, RecvBuf: o.RecvBuf, SendBuf: o.SendBuf}
	var laddr net.Addr
	var tmp string
	if ep.Scheme == "unixgram" {
		dir, err := os.MkdirTemp("", "sockit-")
		if err != nil {
			return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
		}
		tmp = filepath.Join(dir, "c.sock")
		laddr = &net.UnixAddr{Name: tmp, Net: "unixgram"}
	}
	d := so.Dialer(o.Observer, laddr, o.ConnectTimeout)
	c, err := d.DialContext(ctx, ep.Network(), ep.Addr)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(filepath.Dir(tmp))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(os.ErrDeadlineExceeded, err)
		}
		return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok && o.Linger != 0 {
		if err := tc.SetLinger(lingerSeconds(o.Linger)); err != nil {
			c.Close()
			return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
		}
	}
	if err := so.TuneConn(c); err != nil {
		c.Close()
		return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
	}
	oc := &Conn{Conn: c, ep: ep, obs: o.Observer, fd: -1, tmp: tmp}
	if o.Observer != nil {
		oc.fd = sock.FD(c)
		o.Observer.Observe(sockit.Event{Step: sockit.StepConnected, FD: oc.fd, Net: ep.Network(), Local: localName(c), Peer: c.RemoteAddr()})
	}
	return oc, nil
}

// lingerSeconds converts Options.Linger to SO_LINGER's seconds: 0 (reset at
// close) for d < 0, and d rounded up to a whole second otherwise, so that a
// sub-second linger still waits instead of turning into a reset.
func lingerSeconds(d time.Duration) int {
	if d < 0 {
		return 0
	}
	return int((d-1)/time.Second) + 1
}

func localName(c net.Conn) net.Addr {
	if a := c.LocalAddr(); a != nil && a.String() != "" {
		return a
	}
	return nil
}

// Conn is a connection made by Dial. It reports reads, writes, shutdown and
// close to the Options' Observer, and adds the endpoint to its errors.
type Conn struct {
	net.Conn
	ep  endpoint.Endpoint
	obs sockit.Observer
	fd  int
	tmp string // unixgram: our bound socket file
}

// Endpoint returns the endpoint the connection was dialed to.
func (c *Conn) Endpoint() endpoint.Endpoint { return c.ep }

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.obs != nil && (n > 0 || err == nil || isEOF(err)) {
		c.obs.Observe(sockit.Event{Step: sockit.StepRead, FD: c.fd, Net: c.ep.Network(), N: n})
	}
	if err != nil && !isEOF(err) {
		return n, sockit.Wrap("read", c.ep.Network(), c.ep.Addr, err)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.obs != nil {
		c.obs.Observe(sockit.Event{Step: sockit.StepWrite, FD: c.fd, Net: c.ep.Network(), N: n})
	}
	return n, sockit.Wrap("write", c.ep.Network(), c.ep.Addr, err)
}

// CloseWrite sends FIN (shutdown SHUT_WR): the peer reads EOF, and this side
// can still read its answer.
func (c *Conn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, sock.ErrUnsupported)
	}
	err := cw.CloseWrite()
	if c.obs != nil {
		c.obs.Observe(sockit.Event{Step: sockit.StepShutdown, FD: c.fd, Net: c.ep.Network(), Detail: "SHUT_WR", Err: err})
	}
	return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, err)
}

func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.obs != nil {
		c.obs.Observe(sockit.Event{Step: sockit.StepClose, FD: c.fd, Net: c.ep.Network()})
	}
	if c.tmp != "" {
		os.RemoveAll(filepath.Dir(c.tmp))
	}
	return sockit.Wrap("close", c.ep.Network(), c.ep.Addr, err)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
