package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/sock"
)

// Server listens on any number of endpoints and serves them until Shutdown.
// Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	opts   sock.Options
	obs    sockit.Observer
	b      backend
	c      counters
	life   *lifecycle
	budget budget

	mu    sync.Mutex
	paths []ownedPath

	fallback error // why the backend asked for could not be used
}

// backend is the seam between the portable Server and an implementation.
// listen and listenPacket start serving at once. dial starts a connection
// the Server has admitted already (lifecycle.admit), and ends it with
// OnClose if it cannot connect. Shutdown calls stopAccepting, then waits
// for the connections (forceClose closing those left when its context
// ends, saying how many there were), then stop, which ends the backend's
// goroutines; between the first two, goaway calls OnShutdown on every open
// connection whose handler has it. relax lets the connections paused for
// the memory budget read again, once it has room.
type backend interface {
	listen(ep endpoint.Endpoint, h Handler) (net.Addr, error)
	listenPacket(ep endpoint.Endpoint, h PacketHandler) (net.Addr, error)
	dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error
	stopAccepting()
	goaway()
	forceClose() int
	stop()
	relax()
}

type counters struct {
	accepted, bytesIn, bytesOut, pktIn, pktOut, acceptErrs, forced atomic.Uint64
	urgent, rights                                                 atomic.Uint64
}

// ownedPath is a Unix socket file this server created and removes on exit,
// if it is still the same file.
type ownedPath struct {
	path string
	fi   os.FileInfo
}

// NewServer returns a server configured by cfg (nil means defaults). It
// fails if cfg names a backend this platform does not have.
func NewServer(cfg *Config) (*Server, error) {
	s := &Server{cfg: cfg.withDefaults(), life: newLifecycle()}
	s.obs = s.cfg.Observer
	s.opts = sock.Options{
		Backlog: s.cfg.Backlog, ReusePort: s.cfg.ReusePort, Nagle: s.cfg.Nagle,
		KeepAlive: s.cfg.KeepAlive, RecvBuf: s.cfg.RecvBuf, SendBuf: s.cfg.SendBuf,
	}
	b, err := newBackend(s)
	if err != nil {
		return nil, err
	}
	s.b = b
	s.budget.limit = s.cfg.MaxPendingTotal
	s.budget.relax = b.relax
	return s, nil
}

func newBackend(s *Server) (backend, error) {
	if err := s.cfg.checkLab(); err != nil {
		return nil, err
	}
	switch s.cfg.Accept {
	case AcceptDefault, AcceptShared, AcceptReusePort:
	default:
		return nil, sockit.BadOption("engine.Config", "Accept", fmt.Sprintf("%q is not %s or %s", s.cfg.Accept, AcceptShared, AcceptReusePort))
	}
	switch s.cfg.Backend {
	case BackendStd:
		return newStdBackend(s), nil
	case BackendEpoll:
		return newEpollBackend(s)
	case BackendUring:
		b, err := newUringBackend(s)
		if errors.Is(err, sock.ErrNoUring) {
			s.fallback = err
			s.cfg.Backend = DefaultBackend
			return newBackend(s)
		}
		return b, err
	}
	return nil, sockit.BadOption("engine.Config", "Backend", fmt.Sprintf("%q is not %s, %s or %s", s.cfg.Backend, BackendStd, BackendEpoll, BackendUring))
}

// Fallback says why the server does not run on the backend its Config
// asked for (io_uring missing or forbidden), or is nil when it does.
// Backend tells the one it runs on.
func (s *Server) Fallback() error { return s.fallback }

// Backend reports which backend the server runs on.
func (s *Server) Backend() Backend { return s.cfg.Backend }

// Listen starts serving stream endpoint ep (tcp, tcp4, tcp6, unix,
// unixpacket) with h and returns the address it listens on, which tells
// the port chosen for port 0.
func (s *Server) Listen(ep endpoint.Endpoint, h Handler) (net.Addr, error) {
	if ep.IsLayered() {
		return nil, &sockit.Error{Op: "listen", Net: ep.Scheme, Addr: ep.Addr, Err: endpoint.ErrLayered}
	}
	if ep.IsPacket() {
		return nil, &sockit.Error{Op: "listen", Net: ep.Network(), Addr: ep.Addr, Err: errors.New("datagram endpoint needs ListenPacket")}
	}
	return s.listenWith(ep, func() (net.Addr, error) { return s.b.listen(ep, h) })
}

// ListenPacket starts serving datagram endpoint ep (udp, udp4, udp6,
// unixgram) with h and returns the bound address.
func (s *Server) ListenPacket(ep endpoint.Endpoint, h PacketHandler) (net.Addr, error) {
	if ep.IsLayered() {
		return nil, &sockit.Error{Op: "listen", Net: ep.Scheme, Addr: ep.Addr, Err: endpoint.ErrLayered}
	}
	if !ep.IsPacket() {
		return nil, &sockit.Error{Op: "listen", Net: ep.Network(), Addr: ep.Addr, Err: errors.New("stream endpoint needs Listen")}
	}
	return s.listenWith(ep, func() (net.Addr, error) { return s.b.listenPacket(ep, h) })
}

func (s *Server) listenWith(ep endpoint.Endpoint, start func() (net.Addr, error)) (net.Addr, error) {
	if s.life.closingNow() {
		return nil, ErrServerClosed
	}
	if ep.IsUnix() && !ep.IsAbstract() {
		if err := s.prepareUnixPath(ep); err != nil {
			return nil, err
		}
	}
	addr, err := start()
	if err != nil && !errors.Is(err, ErrServerClosed) {
		return nil, err
	}
	// Here bind succeeded: a socket file at the path is ours.
	var owned []ownedPath
	if ep.IsUnix() && !ep.IsAbstract() {
		if fi, lerr := os.Lstat(ep.Addr); lerr == nil {
			owned = append(owned, ownedPath{path: ep.Addr, fi: fi})
		}
	}
	s.mu.Lock()
	closed := s.life.closingNow()
	if err == nil && !closed {
		s.paths = append(s.paths, owned...)
	}
	s.mu.Unlock()
	if err != nil || closed {
		// Shutdown began while start ran, and may have removed the files
		// it knew of already: remove this one here. The listener, if start
		// made one, is Shutdown's to close.
		removeOwned(owned, s.obs)
		return nil, ErrServerClosed
	}
	return addr, nil
}

// prepareUnixPath refuses a path that is not a socket, and with
// Config.Unlink removes a socket file no server answers on.
func (s *Server) prepareUnixPath(ep endpoint.Endpoint) error {
	isSock, err := sock.IsSocketFile(ep.Addr)
	if err != nil {
		return sockit.Wrap("listen", ep.Network(), ep.Addr, err)
	}
	if !isSock {
		if _, err := os.Lstat(ep.Addr); err == nil {
			return &sockit.Error{Op: "listen", Net: ep.Network(), Addr: ep.Addr, Err: sockit.ErrNotSocket}
		}
		return nil
	}
	if !s.cfg.Unlink {
		return nil // bind will say "address already in use" with a hint
	}
	// Per unix(7), connect(2) to a socket file nobody listens on fails with
	// ECONNREFUSED. Any other outcome (it connects, EPROTOTYPE from a live
	// socket of another type, EAGAIN from a full backlog, a timeout) may
	// mean a live server: leave its file alone.
	c, err := net.DialTimeout(ep.Network(), ep.Addr, time.Second)
	if err == nil {
		c.Close()
		return &sockit.Error{Op: "listen", Net: ep.Network(), Addr: ep.Addr, Syscall: "bind",
			Err: fmt.Errorf("%w: %w", syscall.EADDRINUSE, sockit.ErrLiveSocket)}
	}
	if sockit.KindOf(err) != sockit.KindRefused {
		// Counted as live: in use, and never replaced.
		return &sockit.Error{Op: "listen", Net: ep.Network(), Addr: ep.Addr, Syscall: "bind",
			Err: fmt.Errorf("%w: %w, it seems: a connect got %v, not a refusal", syscall.EADDRINUSE, sockit.ErrLiveSocket, errnoOr(err))}
	}
	err = os.Remove(ep.Addr)
	if s.obs != nil {
		s.obs.Observe(sockit.Event{Step: sockit.StepUnlink, FD: -1, Net: ep.Network(), Detail: ep.Addr, Err: err})
	}
	return sockit.Wrap("listen", ep.Network(), ep.Addr, err)
}

// errnoOr is the errno inside err, or err.
func errnoOr(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// removePaths deletes the socket files this server made, unless another
// file has taken their place.
func (s *Server) removePaths() {
	s.mu.Lock()
	paths := s.paths
	s.paths = nil
	s.mu.Unlock()
	removeOwned(paths, s.obs)
}

// removeOwned deletes each of paths that is still the file it was.
func removeOwned(paths []ownedPath, obs sockit.Observer) {
	for _, p := range paths {
		fi, err := os.Lstat(p.path)
		if err != nil || !os.SameFile(fi, p.fi) {
			continue
		}
		err = os.Remove(p.path)
		if obs != nil {
			obs.Observe(sockit.Event{Step: sockit.StepUnlink, FD: -1, Net: "unix", Detail: p.path, Err: err})
		}
	}
}

// Dial connects to stream endpoint ep in the background and serves the
// connection with h, as if it had been accepted: OnOpen once connected, or
// OnClose with the connect error (a refusal, a timeout after opts.Timeout)
// if it never connects. Dial itself fails only when it
// cannot start: a datagram endpoint, an unresolvable address, a shut-down
// server. Connections made by Dial count in Stats and end at Shutdown like
// accepted ones.
func (s *Server) Dial(ep endpoint.Endpoint, h Handler, opts DialOptions) error {
	if ep.IsLayered() {
		return &sockit.Error{Op: "connect", Net: ep.Scheme, Addr: ep.Addr, Err: endpoint.ErrLayered}
	}
	if ep.IsPacket() {
		return &sockit.Error{Op: "connect", Net: ep.Network(), Addr: ep.Addr, Err: errors.New("datagram endpoints have no connections to dial")}
	}
	if opts.Source.IsValid() && !strings.HasPrefix(ep.Network(), "tcp") {
		return &sockit.Error{Op: "connect", Net: ep.Network(), Addr: ep.Addr, Err: errors.New("a source address applies only to TCP")}
	}
	if !s.life.admit() {
		return ErrServerClosed
	}
	if err := s.b.dial(ep, h, opts); err != nil {
		s.life.gone()
		return err
	}
	return nil
}

// Shutdown stops accepting and receiving, waits for open connections to
// finish until ctx ends, then closes those that remain (their handlers see
// ErrShutdown). It returns ctx.Err() if connections had to be closed, and
// removes the Unix socket files the server created. Calls after the first
// return ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.life.begin() {
		return ErrServerClosed
	}
	s.b.stopAccepting()
	s.b.goaway()
	err := s.life.wait(ctx, func() bool {
		n := s.b.forceClose()
		s.c.forced.Add(uint64(n))
		return n > 0
	})
	s.b.stop()
	s.removePaths()
	return err
}

// Close is Shutdown without waiting: open connections are closed at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:     s.c.accepted.Load(),
		Active:       s.life.active.Load(),
		BytesIn:      s.c.bytesIn.Load(),
		BytesOut:     s.c.bytesOut.Load(),
		PacketsIn:    s.c.pktIn.Load(),
		PacketsOut:   s.c.pktOut.Load(),
		AcceptErrors: s.c.acceptErrs.Load(),
		UrgentIn:     s.c.urgent.Load(),
		RightsIn:     s.c.rights.Load(),
		Held:         s.budget.used.Load(),
		Forced:       s.c.forced.Load(),
	}
}

func (s *Server) observe(e sockit.Event) {
	if s.obs != nil {
		s.obs.Observe(e)
	}
}
