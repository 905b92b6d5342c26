package testkit

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
)

// NewServer makes an engine server with cfg (nil: the defaults) and
// closes it when the test ends; a Close that fails, other than on a server
// the test closed itself, fails the test.
func NewServer(t testing.TB, cfg *engine.Config) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(cfg)
	if err != nil {
		t.Fatalf("engine.NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil && !errors.Is(err, engine.ErrServerClosed) {
			t.Errorf("engine server Close: %v", err)
		}
	})
	return srv
}

// Listen serves h on ep with srv: an engine.PacketHandler on a datagram
// endpoint, an engine.Handler on any other. It returns ep with the address
// bound (the port chosen for port 0).
func Listen(t testing.TB, srv *engine.Server, ep endpoint.Endpoint, h any) endpoint.Endpoint {
	t.Helper()
	var addr net.Addr
	var err error
	if ep.IsPacket() {
		addr, err = srv.ListenPacket(ep, h.(engine.PacketHandler))
	} else {
		addr, err = srv.Listen(ep, h.(engine.Handler))
	}
	if err != nil {
		t.Fatalf("listen %s: %v", ep, err)
	}
	return ep.WithAddr(addr)
}

// ServeEngine serves h on a fresh loopback endpoint of network (see
// Loopback) with an engine server of cfg (nil: the defaults), and returns
// the server, whose Stats the test may check, and the endpoint to dial.
func ServeEngine(t testing.TB, cfg *engine.Config, network string, h any) (*engine.Server, endpoint.Endpoint) {
	t.Helper()
	srv := NewServer(t, cfg)
	return srv, Listen(t, srv, endpoint.Endpoint{Scheme: network, Addr: Loopback(t, network)}, h)
}

// Funcs is an engine.Handler (and engine.TimerHandler) built from
// functions. A nil Data echoes what it is given, a nil PeerClose
// half-closes, as sockit's echo service does; the other nil ones do
// nothing.
type Funcs struct {
	Open      func(c engine.Conn)
	Data      func(c engine.Conn, in []byte) int
	PeerClose func(c engine.Conn)
	Closed    func(c engine.Conn, err error)
	Timer     func(c engine.Conn)
}

func (h Funcs) OnOpen(c engine.Conn) {
	if h.Open != nil {
		h.Open(c)
	}
}

func (h Funcs) OnData(c engine.Conn, in []byte) int {
	if h.Data != nil {
		return h.Data(c, in)
	}
	c.Write(in)
	return len(in)
}

func (h Funcs) OnPeerClose(c engine.Conn) {
	if h.PeerClose != nil {
		h.PeerClose(c)
		return
	}
	c.CloseWrite()
}

func (h Funcs) OnClose(c engine.Conn, err error) {
	if h.Closed != nil {
		h.Closed(c, err)
	}
}

func (h Funcs) OnTimer(c engine.Conn) {
	if h.Timer != nil {
		h.Timer(c)
	}
}

// Resetter is an engine.Handler that resets each connection (Abort) at
// its first input.
type Resetter struct{}

func (Resetter) OnOpen(engine.Conn)                  {}
func (Resetter) OnData(c engine.Conn, in []byte) int { c.Abort(); return len(in) }
func (Resetter) OnPeerClose(c engine.Conn)           { c.Close() }
func (Resetter) OnClose(engine.Conn, error)          {}

// Sender is an engine.Handler for a connection the test dials: it writes
// Msg at open and half-closes, keeps everything the peer sends back, and
// closes at the peer's end of data. Make one with NewSender.
type Sender struct {
	Msg []byte

	opened chan struct{}
	done   chan error
	mu     sync.Mutex
	got    bytes.Buffer
}

// NewSender returns a Sender of msg.
func NewSender(msg []byte) *Sender {
	return &Sender{Msg: msg, opened: make(chan struct{}, 1), done: make(chan error, 1)}
}

func (s *Sender) OnOpen(c engine.Conn) {
	s.opened <- struct{}{}
	if _, err := c.Write(s.Msg); err != nil {
		c.Abort()
		return
	}
	c.CloseWrite()
}

func (s *Sender) OnData(_ engine.Conn, in []byte) int {
	s.mu.Lock()
	s.got.Write(in)
	s.mu.Unlock()
	return len(in)
}

func (s *Sender) OnPeerClose(c engine.Conn)        { c.Close() }
func (s *Sender) OnClose(_ engine.Conn, err error) { s.done <- err }

// Done delivers OnClose's error, once.
func (s *Sender) Done() <-chan error { return s.done }

// Opened reports whether OnOpen was called.
func (s *Sender) Opened() bool { return len(s.opened) > 0 }

// Reply returns a copy of what the peer sent so far.
func (s *Sender) Reply() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.got.Bytes())
}
