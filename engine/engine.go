// Package engine runs socket servers: it accepts connections and receives
// datagrams, and calls a Handler (streams: tcp, unix, unixpacket) or a
// PacketHandler (datagrams: udp, unixgram) for each event.
//
// The engine's contracts, which every backend honours:
//
//  1. Half-close is first class. A peer's FIN is an event (OnPeerClose) and the
//     connection can still write. CloseWrite flushes pending output, then
//     sends FIN with shutdown(SHUT_WR).
//  2. No byte lost. Output a handler wrote reaches the kernel before close
//     unless the peer resets. Close flushes (bounded by Config.Linger), sends
//     FIN and drains unread input so that close(2) does not turn into an RST;
//     Abort resets on purpose.
//  3. Bounded memory. Above Config.HighWatermark bytes of pending output the
//     engine stops reading the connection until output drains below
//     Config.LowWatermark; Write refuses to queue beyond Config.MaxPending.
//     Input a handler leaves unconsumed is bounded by Config.MaxInput. All
//     connections together are bounded by Config.MaxPendingTotal: once it
//     is reached, connections above their low watermark stop being read,
//     and an eighth past it every connection with output pending does,
//     until they drain. A connection is never cut for being slow.
//  4. One owner per connection. A connection's callbacks never run
//     concurrently. Other goroutines use AsyncWrite, CloseWrite, Close and Abort.
//  5. Graceful shutdown. Server.Shutdown stops accepting, lets connections
//     finish, and closes what remains when its context ends. No goroutine or
//     descriptor outlives the server.
//
// Three backends implement the contracts: "std", a goroutine per
// connection on package net, which works everywhere; "epoll", a few event
// loops on epoll(7), which is the default on Linux; and "uring", the same
// loops on io_uring(7). All run the same handlers and pass the same
// conformance suite.
//
// A handler callback must not call Server.Shutdown, Server.Close,
// Server.Listen or Server.ListenPacket: each waits for work that the
// callback itself holds up (its own connection, or the event loop it runs
// on), and deadlocks.
package engine

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/procstat"
)

// Handler serves a stream connection. The engine calls its methods one at a
// time for a given connection. They must not call Server.Shutdown,
// Server.Close, Server.Listen or Server.ListenPacket, which deadlock there
// (see the package doc).
type Handler interface {
	// OnOpen is called once, after accept, before any data.
	OnOpen(c Conn)
	// OnData is called with bytes read from the connection. in is valid only
	// during the call: keep a copy of what you need. The handler returns how
	// many bytes of in it consumed; the rest is offered again, in front of
	// the next bytes read (bounded by Config.MaxInput). On message-oriented
	// sockets (unixpacket) in is one whole message.
	OnData(c Conn, in []byte) (consumed int)
	// OnPeerClose is called when the peer has sent FIN (read returned 0).
	// Nothing more will be read, but the connection can still write; the
	// handler decides when to CloseWrite or Close. If it does neither, the
	// connection stays half-open until it does, or the peer resets.
	OnPeerClose(c Conn)
	// OnClose is called once, when the connection is gone. err is nil after
	// an orderly close or an Abort by the handler, and otherwise says why
	// (a peer reset, a timeout, the server shutting down). For a connection
	// made by Server.Dial that never connected, OnClose is called without
	// OnOpen, with a *sockit.Error whose Op is "connect".
	OnClose(c Conn, err error)
}

// Drainer is implemented by handlers that produce output on their own
// (chargen, relays). OnDrain is called after OnOpen, and again whenever the
// connection can take more output — pending output is at or below
// Config.LowWatermark — as long as the handler keeps writing in it. A
// handler that writes nothing in OnDrain is not called again until the
// engine has written some of its output. Once CloseWrite or Close has been
// asked for, OnDrain is not called again: the output is final.
type Drainer interface {
	OnDrain(c Conn)
}

// TimerHandler is implemented by handlers that schedule work of their own
// with Conn.SetTimer (a load generator pacing its sends, a heartbeat).
// OnTimer runs on the connection's loop like every other callback, so it
// may Write; it is not called after OnClose.
type TimerHandler interface {
	OnTimer(c Conn)
}

// ShutdownHandler is implemented by handlers that have something to say
// to a peer before the server closes. When Server.Shutdown begins, after
// the listeners are closed, OnShutdown is called once for each connection
// still open, like the connection's other callbacks (on its loop). A
// WebSocket server sends its close frame (1001, going away) there, so that
// the close handshake ends within the shutdown's grace instead of in a
// reset after it.
type ShutdownHandler interface {
	OnShutdown(c Conn)
}

// DialOptions are the choices of one Server.Dial.
type DialOptions struct {
	// Timeout bounds the connect; 0 means the system's own.
	Timeout time.Duration
	// Source, if valid, is the local IP address to connect from (the port
	// is left to the kernel, per IP_BIND_ADDRESS_NO_PORT on Linux, so that
	// many connections can share one source address). TCP only.
	Source netip.Addr
}

// Conn is one stream connection, handed to a Handler's callbacks.
//
// Write, Pending, PauseReading, Context and SetContext belong to the connection's
// callbacks: on the epoll backend they may be called only from them, as
// they touch the event loop's state without a lock. Other goroutines use
// AsyncWrite, CloseWrite, Close and Abort.
type Conn interface {
	// Write queues a copy of p and never blocks. It fails with ErrClosed
	// after CloseWrite, Close or Abort, and with ErrOutputFull (queuing
	// nothing) when pending output would exceed Config.MaxPending. Call it
	// only from the connection's callbacks; use AsyncWrite elsewhere.
	Write(p []byte) (int, error)
	// AsyncWrite is Write for any goroutine.
	AsyncWrite(p []byte) error
	// CloseWrite flushes pending output, then sends FIN (shutdown SHUT_WR).
	// Reading goes on; OnPeerClose and OnClose follow. Safe from any goroutine.
	CloseWrite() error
	// Close flushes pending output (bounded by Config.Linger), sends FIN,
	// discards further input until the peer's FIN and closes; if Linger
	// runs out first, it resets. Safe from any goroutine.
	Close() error
	// Abort drops pending output and resets the connection (SO_LINGER 0 then
	// close, which sends RST on TCP). Safe from any goroutine.
	Abort() error

	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Pending is the number of bytes queued and not yet written to the
	// kernel. Call it only from the connection's callbacks.
	Pending() int
	// Hold counts n more bytes (n < 0: fewer) that a protocol layer keeps
	// for this connection (a message being assembled, records not yet
	// decrypted) against the server's memory budget,
	// Config.MaxPendingTotal. What is still held when the connection
	// closes is released with it. Call it only from the connection's
	// callbacks.
	Hold(n int)
	// Context and SetContext hold one value for the handler. Call them only
	// from the connection's callbacks.
	Context() any
	SetContext(v any)
	// PauseReading stops reading the connection (true), or reads again
	// (false), for a handler that passes its input on to something slower
	// than the peer — a program's standard input, another connection — and
	// must not take more of it meanwhile: once the kernel's buffers fill,
	// TCP's flow control holds the peer back. Reading stops before the
	// next read; bytes a read already under way brings (on the std and
	// uring backends) still come to OnData. While paused the connection is
	// not idle: Config.IdleTimeout counts again from the resume. Close
	// reads on regardless, to discard input until the peer's FIN. Call it
	// only from the connection's callbacks.
	PauseReading(pause bool)
	// SetTimer asks for one call of the handler's OnTimer at or soon after
	// at; a zero at cancels, and a later call replaces the earlier one. The
	// handler must implement TimerHandler. Call it only from the
	// connection's callbacks.
	SetTimer(at time.Time)
	// Wake asks for a call of the handler's OnTimer as soon as the
	// connection's loop can make it. Safe from any goroutine; it returns
	// ErrClosed once the connection is gone.
	Wake() error
}

// PacketHandler serves a datagram socket (udp, unixgram). OnPacket is called
// for each datagram, one at a time per socket; p is valid only during the
// call. from is nil for an unnamed unixgram sender, which cannot be answered.
type PacketHandler interface {
	OnPacket(pc PacketConn, p []byte, from net.Addr)
}

// PacketConn is the datagram socket a PacketHandler answers on.
type PacketConn interface {
	// WriteTo sends p as one datagram to addr.
	WriteTo(p []byte, addr net.Addr) (int, error)
	LocalAddr() net.Addr
}

// Errors the engine returns. They match with errors.Is.
var (
	ErrClosed        = net.ErrClosed
	ErrOutputFull    = errors.New("engine: pending output would exceed MaxPending")
	ErrInputTooLarge = errors.New("engine: unconsumed input exceeds MaxInput")
	ErrServerClosed  = errors.New("engine: server closed")
	ErrShutdown      = errors.New("engine: server shut down before the connection finished")
	ErrIdle          = errors.New("engine: idle timeout")
)

// Backend names an engine implementation.
type Backend string

// The backends. DefaultBackend is chosen per platform.
const (
	BackendStd   Backend = "std"
	BackendEpoll Backend = "epoll"
	// BackendUring is the epoll backend's loops on io_uring(7) (Linux 6.0
	// and later): where the kernel lacks it, or a sysctl forbids it, the
	// server runs on DefaultBackend instead and Server.Fallback says why.
	BackendUring Backend = "uring"
)

// Backends lists the backends Config.Backend takes on this platform: the
// portable one, and its own where it has one (epoll on Linux, and uring,
// which falls back to epoll where the kernel lacks io_uring).
func Backends() []Backend {
	b := []Backend{BackendStd}
	if DefaultBackend != BackendStd {
		b = append(b, DefaultBackend)
	}
	if DefaultBackend == BackendEpoll {
		b = append(b, BackendUring)
	}
	return b
}

// AcceptMode is how new connections reach the epoll backend's loops.
type AcceptMode string

const (
	// AcceptDefault (the zero value) is AcceptShared. AcceptReusePort cost
	// about 4 µs (6 %) less CPU per connection in the harness's churn case
	// (bench/README.md, a lead inside the noise), but a listener per loop
	// with SO_REUSEPORT lets a second server bind the same port without an
	// error and silently share its connections; the default keeps "address
	// already in use" working, and reuseport is one flag away.
	AcceptDefault AcceptMode = ""
	// AcceptShared: one listening socket, owned by one loop, which accepts
	// and deals the connections to all loops in turn through their queues.
	AcceptShared AcceptMode = "shared"
	// AcceptReusePort: a listening socket per loop, all bound to the same
	// address with SO_REUSEPORT; the kernel spreads connections and each
	// loop accepts its own. TCP only; Unix listeners are always shared.
	AcceptReusePort AcceptMode = "reuseport"
)

// Defaults for the zero values of Config.
const (
	DefaultHighWatermark = 1 << 20
	DefaultMaxInput      = 1 << 20
	DefaultLinger        = 30 * time.Second
	DefaultReadBuffer    = 64 << 10
)

// Config configures a Server. The zero value (or a nil *Config) gives the
// defaults noted on each field.
type Config struct {
	Backend Backend // "" = DefaultBackend for the platform

	// Loops is the number of event loops of the epoll backend; 0 =
	// GOMAXPROCS. NewServer starts them at once: Loops goroutines and 3 ×
	// Loops descriptors (an epoll instance, an eventfd and a timerfd each),
	// which only Shutdown or Close releases. A busy loop keeps its
	// processor (it waits with a raw epoll_pwait2 until it has been quiet
	// for 1–2 ms, or the runtime preempts it after 10 ms), so a program
	// that also runs busy goroutines of its own should leave GOMAXPROCS
	// above Loops.
	// The std backend ignores it.
	Loops int
	// Accept chooses how the epoll backend spreads new connections over its
	// loops: AcceptShared (the default) or AcceptReusePort.
	Accept AcceptMode

	// Socket options for listeners and accepted connections.
	Backlog   int           // listen(2) backlog; 0 = system maximum (somaxconn)
	ReusePort bool          // SO_REUSEPORT on listeners
	Nagle     bool          // keep Nagle's algorithm; false = TCP_NODELAY on
	KeepAlive time.Duration // TCP keepalive idle time; 0 = 15s, < 0 = off
	RecvBuf   int           // SO_RCVBUF; 0 = system default
	SendBuf   int           // SO_SNDBUF; 0 = system default
	// Linger bounds how long Close waits for pending output to be written
	// and for the peer's FIN; 0 = DefaultLinger, < 0 = Close resets at once
	// (SO_LINGER 0). When it runs out first, the connection is reset too
	// and OnClose gets a timeout error.
	Linger time.Duration

	IdleTimeout  time.Duration // close a connection after this long without input; 0 = never
	WriteTimeout time.Duration // reset a connection whose output makes no progress for this long; 0 = never

	HighWatermark int // pending output that pauses reading; 0 = DefaultHighWatermark
	LowWatermark  int // pending output that resumes reading; 0 = HighWatermark/2
	MaxPending    int // pending output Write refuses to exceed; 0 = 4 × HighWatermark
	MaxInput      int // unconsumed input kept per connection; 0 = DefaultMaxInput
	ReadBuffer    int // bytes read per read(2); 0 = DefaultReadBuffer
	// MaxPendingTotal is the memory budget of all connections together:
	// their pending output (in 16 KiB chunks), their unconsumed input and
	// what layers Hold. 0 = DefaultMaxPendingTotal(), < 0 = no budget.
	// Reaching it pauses reading, never closes a connection. What they hold
	// stays within the budget and an eighth more, plus per connection one
	// chunk and one read: while the budget is over, reads take 4 KiB (on
	// the std and uring backends a read already waiting may still take
	// ReadBuffer).
	MaxPendingTotal int64

	// Unlink removes a stale Unix socket file at the listen path before
	// binding. A path that is not a socket, or a socket a live server still
	// answers on, is never removed.
	Unlink bool

	// Observer receives every socket step; nil costs nothing.
	Observer sockit.Observer

	// Urgent is what becomes of TCP urgent (out-of-band) data; the zero
	// value leaves it to the kernel, which keeps it out of the stream for
	// a recv(MSG_OOB) nobody makes. See UrgentMode.
	Urgent UrgentMode
	// Rights makes Unix stream and seqpacket connections read with
	// recvmsg(2) and take descriptors passed with SCM_RIGHTS (up to 16
	// a read; per unix(7) the kernel closes the rest): a handler that is
	// a RightsHandler gets them, and the engine closes them after. Off,
	// a read(2) leaves them to the kernel, which closes them.
	Rights bool
	// AcceptDelay makes each listener call accept(2) once every
	// AcceptDelay, for one connection, instead of as connections come:
	// the others wait in the listen backlog, which fills, so that it can
	// be watched (a lesson, never a production setting). 0 = accept at
	// once.
	AcceptDelay time.Duration
	// ObserveWaits reports to Observer each epoll_wait(2) of a loop that
	// returned sockets ready (sockit.StepPoll: how many, and which with
	// which events), so that a learner sees what the reactor is told
	// (a lesson: it adds a step per wait). epoll backend only.
	ObserveWaits bool
}

func (c *Config) withDefaults() Config {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Backend == "" {
		cfg.Backend = DefaultBackend
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.HighWatermark <= 0 {
		cfg.HighWatermark = DefaultHighWatermark
	}
	if cfg.LowWatermark <= 0 || cfg.LowWatermark > cfg.HighWatermark {
		cfg.LowWatermark = cfg.HighWatermark / 2
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4 * cfg.HighWatermark
	}
	if cfg.MaxPending < cfg.HighWatermark {
		cfg.MaxPending = cfg.HighWatermark
	}
	if cfg.MaxInput <= 0 {
		cfg.MaxInput = DefaultMaxInput
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.MaxPendingTotal == 0 {
		cfg.MaxPendingTotal = DefaultMaxPendingTotal()
	}
	return cfg
}

// DefaultMaxPendingTotal is the budget a zero Config.MaxPendingTotal
// gets: a 32nd of the machine's memory, at least 64 MiB and at most 1 GiB
// (256 MiB where the machine's memory cannot be read).
func DefaultMaxPendingTotal() int64 {
	mem, err := procstat.MemTotal()
	if err != nil || mem <= 0 {
		return 256 << 20
	}
	return min(max(mem/32, 64<<20), 1<<30)
}

// Stats are a server's counters. Byte counts include every connection and
// datagram, open or closed.
type Stats struct {
	Accepted     uint64 // connections accepted (not those made by Server.Dial)
	Active       int64  // connections open now
	BytesIn      uint64 // bytes read from connections and datagrams
	BytesOut     uint64 // bytes written to connections and datagrams
	PacketsIn    uint64 // datagrams received
	PacketsOut   uint64 // datagrams sent
	AcceptErrors uint64 // accept(2) failures survived (EMFILE and the like)
	UrgentIn     uint64 // urgent bytes taken with recv(MSG_OOB) (Config.Urgent UrgentReceive)
	RightsIn     uint64 // descriptors received with SCM_RIGHTS (Config.Rights)
	// Held is the memory the connections hold now against
	// Config.MaxPendingTotal: pending output chunks, unconsumed input and
	// what layers Hold.
	Held int64
	// Forced counts the connections Shutdown closed because its context
	// ended before they finished.
	Forced uint64
}
