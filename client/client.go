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
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
	"github.com/sockit/sockit/sockapi"
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
	// Connect makes a UDP socket connect(2) to the server before sending:
	// the kernel then takes datagrams from the server only, and reports
	// an ICMP error about one sent earlier on the socket (ECONNREFUSED).
	// The zero value is the classic UDP client: no connect, sendto(2) to
	// the server and recvfrom(2) from anyone, with IP_RECVERR (Linux) so
	// that an ICMP error still reaches the socket. Other sockets always
	// connect; so does UDP where the platform lacks package sockapi's
	// calls (Windows).
	Connect bool
	// Calls are the system calls the connection makes on its socket, and
	// their flags. The zero value makes the usual ones.
	Calls Calls
}

// Calls choose the system calls a Conn makes on its socket, and their
// MSG_* flags (package sockapi). The zero value makes the usual ones:
// read and write, or recvfrom and sendto on an unconnected UDP socket.
//
// Two flags change how a Conn reads, so that it still moves the stream
// along: with Peek each read is made twice, first with the flags (the
// bytes stay queued and are reported), then without Peek, which takes
// them; with DontWait a read that fails with EAGAIN (reported) waits for
// the socket to become readable, as a program would with poll(2), and is
// made again.
type Calls struct {
	Send      sockapi.SendCall
	SendFlags sockapi.Flags
	Recv      sockapi.RecvCall
	RecvFlags sockapi.Flags
}

// check says what is wrong with c on a socket of network that connects
// or not.
func (c Calls) check(network string, connected bool) error {
	bad := func(fields []string, reason string) error {
		return &sockit.OptionError{Owner: "client.Options", Fields: fields, Reason: reason}
	}
	switch {
	case c.SendFlags != 0 && !c.Send.Flags():
		return bad([]string{"Calls.Send", "Calls.SendFlags"}, "disagree: "+c.Send.String()+"(2) takes no flags (send, sendto and sendmsg do)")
	case c.RecvFlags != 0 && !c.Recv.Flags():
		return bad([]string{"Calls.Recv", "Calls.RecvFlags"}, "disagree: "+c.Recv.String()+"(2) takes no flags (recv, recvfrom and recvmsg do)")
	case !connected && !c.Send.Addressed():
		return bad([]string{"Calls.Send", "Connect"}, "disagree: "+c.Send.String()+"(2) names no destination, and an unconnected "+network+" socket needs one (sendto or sendmsg), or connect(2) first")
	case (c != Calls{}) && !sockapi.Supported():
		return &sockit.OptionError{Owner: "client.Options", Fields: []string{"Calls"},
			Reason: "needs the socket calls of Linux or another Unix; here there are only the defaults (read and write)", Err: sockapi.ErrUnsupported}
	}
	return nil
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
	unconnected := strings.HasPrefix(ep.Network(), "udp") && !o.Connect && sockapi.Supported()
	if err := o.Calls.check(ep.Network(), !unconnected); err != nil {
		return nil, err
	}
	var pu *url.URL
	if o.Proxy != "" {
		var err error
		if pu, err = proxyURL(o.Proxy, ep); err != nil {
			return nil, err
		}
	}
	so := sock.Options{Nagle: o.Nagle, KeepAlive: o.KeepAlive, RecvBuf: o.RecvBuf, SendBuf: o.SendBuf}
	if unconnected {
		return dialUnconnected(ctx, ep, so, o)
	}
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
	if pu != nil {
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
	if o.Observer != nil {
		o.Observer.Observe(sockit.Event{Step: sockit.StepConnected, FD: sock.FD(c), Net: ep.Network(), Local: localName(c), Peer: c.RemoteAddr()})
	}
	oc, err := newConn(c, ep, o, tmp, nil)
	if err != nil {
		c.Close()
		return nil, sockit.Wrap("connect", ep.Network(), ep.Addr, err)
	}
	return oc, nil
}

// dialUnconnected makes the classic UDP client's socket: socket(2), a
// bind (package net binds at once; the kernel picks the port unless
// Source names one), IP_RECVERR, and no connect: writes go out with
// sendto(2) to ep, reads come in with recvfrom(2).
func dialUnconnected(ctx context.Context, ep endpoint.Endpoint, so sock.Options, o Options) (*Conn, error) {
	wrap := func(err error) error { return sockit.Wrap("connect", ep.Network(), ep.Addr, err) }
	raddr, err := net.ResolveUDPAddr(ep.Network(), ep.Addr)
	if err != nil {
		return nil, wrap(err)
	}
	network := "udp4"
	if raddr.IP.To4() == nil || ep.Network() == "udp6" {
		network = "udp6"
	}
	local := ":0"
	if la, err := o.sourceAddr(ep); err != nil {
		return nil, err
	} else if la != nil {
		local = la.String()
	}
	pc, err := so.ListenPacket(ctx, network, local, o.Observer)
	if err != nil {
		return nil, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, wrap(sock.ErrUnsupported)
	}
	oc, err := newConn(uc, ep, o, "", raddr)
	if err != nil {
		uc.Close()
		return nil, wrap(err)
	}
	if err := oc.sock.api.SetRecvErr(true); err != nil && !errors.Is(err, sockapi.ErrUnsupported) {
		uc.Close()
		return nil, wrap(err)
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

// newConn wraps nc, the socket; to is the destination of an unconnected
// one.
func newConn(nc net.Conn, ep endpoint.Endpoint, o Options, tmp string, to net.Addr) (*Conn, error) {
	s := &socket{Conn: nc, obs: o.Observer, network: ep.Network(), fd: sock.FD(nc), calls: o.Calls, to: to, packet: ep.IsPacket()}
	if sc, ok := nc.(sockapi.Socket); ok && sockapi.Supported() {
		api, err := sockapi.New(sc, ep.Network(), o.Observer)
		if err != nil {
			return nil, err
		}
		s.api = api
	}
	return &Conn{Conn: s, ep: ep, sock: s, obs: o.Observer, tmp: tmp}, nil
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

// Shutdown shuts the socket under the layers down with how (SHUT_RD,
// SHUT_WR or SHUT_RDWR; ShutNone does nothing): per shutdown(2), SHUT_RD
// makes reads return end of file once the queue is empty and sends
// nothing, SHUT_WR sends FIN. The layers are not told: over TLS or
// WebSocket use CloseWrite.
func (c *Conn) Shutdown(how sockapi.How) error {
	if c.sock.api == nil {
		if how == sockapi.ShutWR {
			return c.sock.CloseWrite()
		}
		return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, sock.ErrUnsupported)
	}
	return sockit.Wrap("shutdown", c.ep.Network(), c.ep.Addr, c.sock.api.Shutdown(how))
}

// SendUrgent sends p with send(MSG_OOB): on TCP its last byte is urgent
// data (per tcp(7)), which a peer reads apart with recv(MSG_OOB) or, with
// SO_OOBINLINE, in the stream at the mark. It goes on the socket under
// any layers.
func (c *Conn) SendUrgent(p []byte) (int, error) {
	if c.sock.api == nil {
		return 0, sockit.Wrap("send", c.ep.Network(), c.ep.Addr, sock.ErrUnsupported)
	}
	n, err := c.sock.api.Send(p, sockapi.OOB)
	return n, sockit.Wrap("send", c.ep.Network(), c.ep.Addr, err)
}

// SendRights sends p with sendmsg(2) and the descriptors of files as
// SCM_RIGHTS (per unix(7)): the peer receives them open, as new
// descriptors of its own. Unix sockets only; the socket under any layers.
func (c *Conn) SendRights(p []byte, files ...*os.File) (int, error) {
	if c.sock.api == nil || !c.ep.IsUnix() {
		return 0, sockit.Wrap("sendmsg", c.ep.Network(), c.ep.Addr, sock.ErrUnsupported)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	n, err := c.sock.api.SendMsg(p, sockapi.Ancillary{Rights: fds}, 0, c.sock.to)
	for _, f := range files {
		runtime.KeepAlive(f)
	}
	return n, sockit.Wrap("sendmsg", c.ep.Network(), c.ep.Addr, err)
}

// API is the socket under the layers, for calls of package sockapi a
// Conn does not make itself; nil where the platform lacks them. What
// passes through it directly is not seen by the layers.
func (c *Conn) API() *sockapi.Conn { return c.sock.api }

func (c *Conn) removeTemp() {
	if c.tmp != "" {
		os.RemoveAll(filepath.Dir(c.tmp))
	}
}

// socket is the connection's socket, under any layers. It makes the
// system calls Calls name (through package sockapi, which reports each),
// so that narration describes the system calls, whatever stacks on the
// socket; where the platform lacks sockapi it reads and writes through
// package net and reports each call itself.
type socket struct {
	net.Conn
	api     *sockapi.Conn // nil: package net's calls
	calls   Calls
	to      net.Addr // an unconnected socket's destination
	packet  bool
	obs     sockit.Observer
	fd      int
	network string
	closed  atomic.Bool
}

func (s *socket) Read(p []byte) (int, error) {
	if s.api == nil {
		n, err := s.Conn.Read(p)
		var errno syscall.Errno
		if s.obs != nil && (err == nil || isEOF(err) || errors.As(err, &errno)) {
			e := sockit.Event{Step: sockit.StepRead, FD: s.fd, Net: s.network, N: n, Data: p[:n]}
			if err != nil && !isEOF(err) {
				e.Err = err
			}
			s.obs.Observe(e)
		}
		return n, err
	}
	f := s.calls.RecvFlags
	if f&sockapi.Peek != 0 {
		// Peek first: the bytes stay queued; then take them.
		if _, err := s.recv(p, f); err != nil {
			return 0, s.failed(err)
		}
		f &^= sockapi.Peek
	}
	n, err := s.recv(p, f)
	if err != nil {
		return n, s.failed(err)
	}
	if n == 0 && !s.packet && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// recv makes the receive call once, or with DontWait again once the
// socket is readable after EAGAIN.
func (s *socket) recv(p []byte, f sockapi.Flags) (int, error) {
	for {
		n, _, err := s.api.RecvWith(s.calls.Recv, p, f)
		if f&sockapi.DontWait == 0 || !errors.Is(err, syscall.EAGAIN) {
			return n, err
		}
		if err := s.api.WaitReadable(); err != nil {
			return 0, err
		}
	}
}

// failed adds to a refusal on an unconnected UDP socket what the error
// queue says about it (IP_RECVERR), and reports it.
func (s *socket) failed(err error) error {
	if s.to == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	q, qerr := s.api.QueuedError()
	if q == nil || qerr != nil {
		return err
	}
	if s.obs != nil {
		s.obs.Observe(sockit.Event{Step: sockit.StepAncillary, FD: s.fd, Net: s.network, Detail: "error queue (MSG_ERRQUEUE): " + q.Error()})
	}
	return fmt.Errorf("%w (%s)", err, q)
}

func (s *socket) Write(p []byte) (int, error) {
	if s.api == nil {
		n, err := s.Conn.Write(p)
		if s.obs != nil {
			s.obs.Observe(sockit.Event{Step: sockit.StepWrite, FD: s.fd, Net: s.network, N: n, Data: p[:n], Err: err})
		}
		return n, err
	}
	// A stream socket may take part of p: call again for the rest, as
	// package net does, so that Write keeps io.Writer's promise.
	n := 0
	for {
		k, err := s.api.SendWith(s.calls.Send, p[n:], s.calls.SendFlags, s.to)
		n += k
		if err != nil {
			return n, s.failed(err)
		}
		if n == len(p) || s.packet {
			return n, nil
		}
		if k == 0 {
			return n, io.ErrShortWrite
		}
	}
}

// RemoteAddr is the peer, or an unconnected socket's destination.
func (s *socket) RemoteAddr() net.Addr {
	if s.to != nil {
		return s.to
	}
	return s.Conn.RemoteAddr()
}

// SetDeadline and SetReadDeadline go through sockapi, which bounds a
// MSG_WAITALL read by the read deadline.
func (s *socket) SetDeadline(t time.Time) error {
	if s.api == nil {
		return s.Conn.SetDeadline(t)
	}
	return errors.Join(s.api.SetReadDeadline(t), s.api.SetWriteDeadline(t))
}

func (s *socket) SetReadDeadline(t time.Time) error {
	if s.api == nil {
		return s.Conn.SetReadDeadline(t)
	}
	return s.api.SetReadDeadline(t)
}

// CloseWrite sends FIN (shutdown SHUT_WR).
func (s *socket) CloseWrite() error {
	if s.api != nil {
		if s.packet {
			return sock.ErrUnsupported
		}
		return s.api.Shutdown(sockapi.ShutWR)
	}
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
