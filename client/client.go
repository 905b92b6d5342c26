// Package client is the client side of a socket tutorial, done properly:
// Dial connects (reporting each step to an observer), Send writes one
// message, half-closes and reads the reply until EOF, and Pipe streams
// between a reader and a writer like nc with an explicit half-close policy.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
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
	Linger time.Duration
	// Source is the local address Dial binds before connecting, on tcp
	// and udp: "ip", "ip:port" or ":port" (IPv6 in brackets with a port).
	// "" = the system's choice.
	Source string
	// Proxy connects to a tcp endpoint through a proxy:
	// "socks5://[user:pass@]host:port" (SOCKS5, the target's name
	// resolved by the proxy) or "http://[user:pass@]host:port" (HTTP
	// CONNECT). What the proxy answers instead of connecting is a
	// *ProxyError. "" = connect directly.
	Proxy    string
	Observer sockit.Observer // receives each socket step; nil = none
}

// sourceAddr resolves o.Source for network; nil for "".
func (o Options) sourceAddr(ep endpoint.Endpoint) (net.Addr, error) {
	if o.Source == "" {
		return nil, nil
	}
	if ep.IsUnix() {
		return nil, sockit.BadOption("client.Options", "Source", "is an IP address; "+ep.String()+" is a Unix socket")
	}
	hp := o.Source
	if _, _, err := net.SplitHostPort(hp); err != nil {
		hp = net.JoinHostPort(strings.Trim(hp, "[]"), "0")
	}
	var a net.Addr
	var err error
	if ep.IsPacket() {
		a, err = net.ResolveUDPAddr(ep.Network(), hp)
	} else {
		a, err = net.ResolveTCPAddr(ep.Network(), hp)
	}
	if err != nil {
		return nil, sockit.BadOption("client.Options", "Source", fmt.Sprintf("%q is not a local address for %s: %v", o.Source, ep.Network(), err))
	}
	return a, nil
}

// notSocket reports whether path is a regular file or a directory: per
// unix(7) connect(2) says ECONNREFUSED to those as it does to a socket
// file nobody listens on, which would send a user looking for a server.
func notSocket(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && (fi.Mode().IsRegular() || fi.IsDir())
}

// notSocketError is a connect refused because the path is not a socket: it
// is sockit.ErrNotSocket, and the refusal.
type notSocketError struct{ refused error }

func (e notSocketError) Error() string   { return sockit.ErrNotSocket.Error() }
func (e notSocketError) Unwrap() []error { return []error{sockit.ErrNotSocket, e.refused} }

// Dial connects to ep. For unixgram it first binds a private socket file in
// the temporary directory so that the server can answer; Close removes it.
// Errors are *sockit.Error with Op "connect". Dial opens sockets only: a
// layered endpoint (tls, ws, wss, http, https) is refused with endpoint.ErrLayered;
// package layer dials those.
func Dial(ctx context.Context, ep endpoint.Endpoint, o Options) (*Conn, error) {
	if ep.IsLayered() {
		return nil, &sockit.Error{Op: "connect", Net: ep.Scheme, Addr: ep.Addr, Err: endpoint.ErrLayered}
	}
	so := sock.Options{Nagle: o.Nagle, KeepAlive: o.KeepAlive, RecvBuf: o.RecvBuf, SendBuf: o.SendBuf}
	laddr, err := o.sourceAddr(ep)
	if err != nil {
		return nil, err
	}
	var tmp string
	if ep.Scheme == "unixgram" {
		dir, err := os.MkdirTemp("", "sockit-")
		if err != nil {
			return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
		}
		tmp = filepath.Join(dir, "c.sock")
		laddr = &net.UnixAddr{Name: tmp, Net: "unixgram"}
	}
	dialNet, dialAddr, where := ep.Network(), ep.Addr, ep.Addr
	var pu *url.URL
	if o.Proxy != "" {
		if pu, err = proxyURL(o.Proxy, ep); err != nil {
			return nil, err
		}
		dialAddr, where = pu.Host, proxyName(pu)
	}
	d := so.Dialer(o.Observer, laddr, o.ConnectTimeout)
	c, err := d.DialContext(ctx, dialNet, dialAddr)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(filepath.Dir(tmp))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(os.ErrDeadlineExceeded, err)
		}
		if sockit.KindOf(err) == sockit.KindRefused && ep.IsUnix() && !ep.IsAbstract() && notSocket(ep.Addr) {
			err = notSocketError{refused: err}
		}
		return nil, sockit.Wrap("connect", ep.Network(), where, err)
	}
	if pu != nil {
		if err := dialTunnel(ctx, c, pu, ep.Addr, o.ConnectTimeout); err != nil {
			c.Close()
			return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
		}
		if o.Observer != nil {
			o.Observer.Observe(sockit.Event{Step: sockit.StepHandshake, FD: sock.FD(c), Net: ep.Network(), Detail: "connected to " + ep.Addr + " through the proxy " + proxyName(pu)})
		}
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
	oc := newConn(c, ep, o.Observer, tmp)
	if o.Observer != nil {
		o.Observer.Observe(sockit.Event{Step: sockit.StepConnected, FD: oc.sock.fd, Net: ep.Network(), Local: localName(c), Peer: c.RemoteAddr()})
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

// Conn is a connection made by Dial, and whatever layers stack on its
// socket (package layer puts TLS and WebSocket there: StartTLS, Push).
// Its Read, Write, CloseWrite, Close and deadlines are those of the top of
// the stack, Conn, and its errors are *sockit.Error values with the
// operation, the network and the address. The Options' Observer hears of
// each call on the socket itself, under the layers: the bytes read(2) and
// write(2) carry (TLS records, WebSocket frames), shutdown(2) and close(2).
type Conn struct {
	net.Conn // the top of the stack: the socket, or the layer on it
	ep       endpoint.Endpoint
	sock     *socket // the socket under the layers
	obs      sockit.Observer
	tmp      string // unixgram: our bound socket file
}

func newConn(nc net.Conn, ep endpoint.Endpoint, obs sockit.Observer, tmp string) *Conn {
	s := &socket{Conn: nc, obs: obs, network: ep.Network(), fd: -1}
	if obs != nil {
		s.fd = sock.FD(nc)
	}
	return &Conn{Conn: s, ep: ep, sock: s, obs: obs, tmp: tmp}
}

// Endpoint returns the endpoint the connection speaks: the one it was
// dialed to, or the layered one Push named.
func (c *Conn) Endpoint() endpoint.Endpoint { return c.ep }

// Push puts top on the connection's stack: top runs over the current top,
// c.Conn (package layer stacks WebSocket over the socket or over TLS), and
// from now on Read, Write, CloseWrite, Close and the deadlines go to it,
// so that Send and Pipe speak through the layer. ep is what the stack
// speaks now, the layered endpoint Endpoint returns; its network and
// address stay the socket's. Call Push before the connection is shared
// between goroutines.
func (c *Conn) Push(ep endpoint.Endpoint, top net.Conn) { c.Conn, c.ep = top, ep }

// SyscallConn returns the raw connection of the socket under the layers
// (syscall.Conn), to wait on it without reading, or set an option; what
// passes through it directly is neither narrated nor seen by the layers.
// It fails with sock.ErrUnsupported for a socket without one.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.sock.Conn.(syscall.Conn)
	if !ok {
		return nil, sock.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !isEOF(err) {
		return n, sockit.Wrap("read", c.ep.Network(), c.ep.Addr, err)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, sockit.Wrap("write", c.ep.Network(), c.ep.Addr, err)
}

// CloseWrite ends this side's output, so that the peer reads its end of
// data while this side can still read the answer: on a socket it sends
// FIN (shutdown SHUT_WR); with layers on top, the top layer's end of data
// (TLS: close_notify; WebSocket: a close frame).
func (c *Conn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, sock.ErrUnsupported)
	}
	return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, cw.CloseWrite())
}

// Close closes the stack from the top, each layer saying goodbye as it
// does (a TLS close_notify, a WebSocket closing handshake) and closing the
// one under it, down to the socket. A later Close returns an error and
// leaves a Close in progress to finish.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.removeTemp()
	return sockit.Wrap("close", c.ep.Network(), c.ep.Addr, err)
}

// Abort closes the socket at once, with a reset where it is TCP
// (SO_LINGER 0, per tcp(7)): nothing queued is sent, and the layers on it
// say no goodbye. Safe from any goroutine.
func (c *Conn) Abort() error {
	if tc, ok := c.sock.Conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	err := c.sock.Close()
	c.removeTemp()
	return sockit.Wrap("close", c.ep.Network(), c.ep.Addr, err)
}

func (c *Conn) removeTemp() {
	if c.tmp != "" {
		os.RemoveAll(filepath.Dir(c.tmp))
	}
}

// socket is the connection's socket, under any layers. It reports each
// read, write, shutdown and close to the observer, so that narration
// describes the system calls, whatever stacks on the socket.
type socket struct {
	net.Conn
	obs     sockit.Observer
	fd      int
	network string
	closed  atomic.Bool
}

func (s *socket) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if s.obs != nil && (n > 0 || err == nil || isEOF(err)) {
		s.obs.Observe(sockit.Event{Step: sockit.StepRead, FD: s.fd, Net: s.network, N: n})
	}
	return n, err
}

func (s *socket) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	if s.obs != nil {
		s.obs.Observe(sockit.Event{Step: sockit.StepWrite, FD: s.fd, Net: s.network, N: n})
	}
	return n, err
}

// CloseWrite sends FIN (shutdown SHUT_WR).
func (s *socket) CloseWrite() error {
	cw, ok := s.Conn.(interface{ CloseWrite() error })
	if !ok {
		return sock.ErrUnsupported
	}
	err := cw.CloseWrite()
	if s.obs != nil {
		s.obs.Observe(sockit.Event{Step: sockit.StepShutdown, FD: s.fd, Net: s.network, Detail: "SHUT_WR", Err: err})
	}
	return err
}

// Close closes the socket once; later calls return net.ErrClosed.
func (s *socket) Close() error {
	if s.closed.Swap(true) {
		return net.ErrClosed
	}
	err := s.Conn.Close()
	if s.obs != nil {
		s.obs.Observe(sockit.Event{Step: sockit.StepClose, FD: s.fd, Net: s.network})
	}
	return err
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
