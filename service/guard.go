package service

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
)

// A datagram's source address is whatever its sender wrote there. Echo,
// chargen and daytime answer any datagram, so a forged one can make two of
// them answer each other for ever, or one answer itself (CVE-1999-0103,
// the "UDP packet storm"), and can aim their answers at a victim. A Guard
// stands in front of their PacketHandlers and answers only what is safe to
// answer; it is the one place that decides.
//
// The rules, in order (each refusal is counted under its reason):
//  1. Never a datagram from the socket's own address and port — on a
//     socket bound to a wildcard address (0.0.0.0, ::), from any local
//     address with its port: the answer would come back as a new datagram
//     to answer.
//  2. Never one from an address no single host sends from: broadcast
//     (255.255.255.255, or a local subnet's broadcast address), multicast,
//     unspecified (0.0.0.0, ::), or port 0: the answer would reach every
//     host on a network, or nobody.
//  3. Never one from a service's port, below 1024 (as xinetd's built-in
//     datagram services refuse, in its bad_port_check): clients send from
//     ephemeral ports, and the echo, chargen, daytime, DNS and NTP
//     services that sit on low ports answer anything, so an answer to one
//     of them starts a loop, or a reflection.
//  4. At most Rate answers per second, with bursts of Burst, to one source
//     (address and port: a token bucket). This bounds what a loop between
//     two services on ephemeral ports, or a flood with one forged source,
//     can cost: a loop carries one datagram at a time, and dies on the
//     first one that finds its bucket empty.
//
// Before them all, a datagram from an unbound Unix datagram socket (from
// is nil) is never passed on, and counted as Unbound: it has no address,
// so no answer could reach it.
//
// The services bound their own answers too: chargen's answer is never
// longer than the datagram it answers (see Chargen), so a forged source
// never gets more bytes than the forger sent.

// Defaults of GuardOptions. A loop between two services on this machine
// runs at tens of thousands of datagrams a second: DefaultRate is below
// that, so such a loop dies after about DefaultBurst answers, and above
// what one client socket of a load test asks for (sockit bench, closed
// loop, several datagrams in flight).
const (
	DefaultRate    = 10000
	DefaultBurst   = 1000
	DefaultSources = 4096
)

// GuardOptions configure a Guard. The zero value gives the defaults.
type GuardOptions struct {
	// Rate is how many datagrams per second, on average, one source may
	// have answered; 0 = DefaultRate, < 0 = no limit.
	Rate float64
	// Burst is how many answers a source may get at once before Rate
	// applies; 0 = DefaultBurst.
	Burst int
	// Sources is how many sources the guard keeps a bucket for: its memory
	// (about 48 bytes each, allocated once) never grows past it. Sources
	// that hash to the same bucket while both are busy share it, so a
	// crowd of sources is limited more, never less. 0 = DefaultSources.
	Sources int
}

// Reason says why a Guard left a datagram unanswered.
type Reason int

// The reasons, in the order the rules are checked.
const (
	Answered    Reason = iota // not refused
	OwnAddress                // from the socket's own address and port
	NotUnicast                // from a broadcast, multicast or unspecified address, or port 0
	ServicePort               // from a port below 1024
	RateLimited               // over the source's rate
	Unbound                   // from an unbound (unnamed) Unix datagram socket: no answer can reach it
)

func (r Reason) String() string {
	switch r {
	case Answered:
		return "answered"
	case OwnAddress:
		return "from our own address"
	case NotUnicast:
		return "from a broadcast, multicast or unspecified address"
	case ServicePort:
		return "from a service port (below 1024)"
	case RateLimited:
		return "over the rate limit"
	case Unbound:
		return "from an unbound socket (no address to answer)"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// GuardStats count what a Guard decided.
type GuardStats struct {
	Answered    uint64 // datagrams passed on to the service
	OwnAddress  uint64 // refused: from the socket's own address and port
	NotUnicast  uint64 // refused: from broadcast, multicast, unspecified, or port 0
	ServicePort uint64 // refused: from a port below 1024
	RateLimited uint64 // refused: over the source's rate
	Unbound     uint64 // unanswerable: from an unbound Unix datagram socket
}

// Unanswered is the number of datagrams refused, for any reason.
func (s GuardStats) Unanswered() uint64 {
	return s.OwnAddress + s.NotUnicast + s.ServicePort + s.RateLimited + s.Unbound
}

// Guard decides which datagrams the services answer (the rules above).
// One Guard may stand in front of any number of handlers and sockets; its
// methods are safe for concurrent use.
type Guard struct {
	rate, burst float64 // burst is the bucket's size; rate < 0: no limit
	seed        maphash.Seed
	counts      [Unbound + 1]atomic.Uint64

	mu      sync.Mutex
	buckets []bucket // len is a power of two
	local   localAddrs
}

// bucket is one source's token bucket.
type bucket struct {
	src    netip.AddrPort
	tokens float64
	at     int64 // unix nanos of the last refill
}

// NewGuard returns a Guard with o. It refuses a Rate that is not a number,
// and a negative Burst or Sources, with a *sockit.OptionError.
func NewGuard(o GuardOptions) (*Guard, error) {
	switch {
	case math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return nil, sockit.BadOption("service.GuardOptions", "Rate", fmt.Sprintf("is %v, not a number of answers per second", o.Rate))
	case o.Burst < 0:
		return nil, sockit.BadOption("service.GuardOptions", "Burst", fmt.Sprintf("is %d; it must be 0 (the default) or more", o.Burst))
	case o.Sources < 0:
		return nil, sockit.BadOption("service.GuardOptions", "Sources", fmt.Sprintf("is %d; it must be 0 (the default) or more", o.Sources))
	}
	g := &Guard{rate: o.Rate, burst: float64(o.Burst), seed: maphash.MakeSeed()}
	if g.rate == 0 {
		g.rate = DefaultRate
	}
	if g.burst == 0 {
		g.burst = DefaultBurst
	}
	n := o.Sources
	if n == 0 {
		n = DefaultSources
	}
	size := 1
	for size < n {
		size <<= 1
	}
	if g.rate > 0 {
		g.buckets = make([]bucket, size)
	}
	return g, nil
}

// Wrap returns a PacketHandler that passes to h only the datagrams g
// answers.
func (g *Guard) Wrap(h engine.PacketHandler) engine.PacketHandler { return guarded{g: g, h: h} }

type guarded struct {
	g *Guard
	h engine.PacketHandler
}

func (w guarded) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if w.g.Check(pc.LocalAddr(), from) == Answered {
		w.h.OnPacket(pc, p, from)
	}
}

// Stats returns a snapshot of the counts.
func (g *Guard) Stats() GuardStats {
	return GuardStats{
		Answered: g.counts[Answered].Load(), OwnAddress: g.counts[OwnAddress].Load(),
		NotUnicast: g.counts[NotUnicast].Load(), ServicePort: g.counts[ServicePort].Load(),
		RateLimited: g.counts[RateLimited].Load(), Unbound: g.counts[Unbound].Load(),
	}
}

// Check decides about one datagram from from to a socket bound to local,
// counts the decision, and takes a token from the source's bucket when it
// answers. UDP sources go through every rule; a Unix datagram socket's
// peer (it cannot forge its name) only through the first, or is Unbound.
func (g *Guard) Check(local, from net.Addr) Reason {
	r := g.decide(local, from, time.Now())
	g.counts[r].Add(1)
	return r
}

func (g *Guard) decide(local, from net.Addr, now time.Time) Reason {
	if from == nil {
		return Unbound
	}
	src, ok := addrPort(from)
	if !ok {
		if local != nil && from.String() == local.String() {
			return OwnAddress
		}
		return Answered
	}
	at, _ := addrPort(local)
	switch {
	case !src.Addr().IsValid() || src.Addr().IsUnspecified() || src.Addr().IsMulticast() || src.Port() == 0:
		return NotUnicast
	case src == at:
		return OwnAddress
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case src.Port() == at.Port() && at.Addr().IsUnspecified() && g.local.has(src.Addr(), now):
		return OwnAddress
	case g.local.broadcast(src.Addr(), now):
		return NotUnicast
	case src.Port() < 1024:
		return ServicePort
	case !g.take(src, now.UnixNano()):
		return RateLimited
	}
	return Answered
}

// addrPort is a UDP address as a netip.AddrPort, IPv4-mapped IPv6
// addresses unmapped.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok || u == nil {
		return netip.AddrPort{}, false
	}
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// take takes a token from src's bucket, if it has one. Called with g.mu.
func (g *Guard) take(src netip.AddrPort, now int64) bool {
	if g.rate < 0 {
		return true
	}
	b := &g.buckets[g.slot(src)]
	if b.src != src {
		// Another source's bucket: take it over if it has refilled (that
		// source has been quiet), else share it.
		full := b.tokens + float64(now-b.at)*g.rate/1e9
		if !b.src.IsValid() || full >= g.burst {
			*b = bucket{src: src, tokens: g.burst, at: now}
		}
	}
	b.tokens = min(g.burst, b.tokens+float64(now-b.at)*g.rate/1e9)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (g *Guard) slot(src netip.AddrPort) int {
	var k [18]byte
	a := src.Addr().As16()
	copy(k[:], a[:])
	binary.BigEndian.PutUint16(k[16:], src.Port())
	return int(maphash.Bytes(g.seed, k[:]) & uint64(len(g.buckets)-1))
}

// localAddrs is a snapshot of this host's addresses and its subnets'
// broadcast addresses, taken again when older than localRefresh.
type localAddrs struct {
	list  func() ([]net.Addr, error) // nil = net.InterfaceAddrs (tests set it)
	at    time.Time
	addrs map[netip.Addr]bool
	bcast map[netip.Addr]bool
}

// localRefresh bounds how stale the snapshot of local addresses may be.
const localRefresh = 5 * time.Second

func (l *localAddrs) refresh(now time.Time) {
	if !l.at.IsZero() && now.Sub(l.at) < localRefresh {
		return
	}
	l.at = now
	l.addrs, l.bcast = map[netip.Addr]bool{}, map[netip.Addr]bool{}
	list := l.list
	if list == nil {
		list = net.InterfaceAddrs
	}
	as, err := list()
	if err != nil {
		return // loopback and the limited broadcast address are still known
	}
	for _, a := range as {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		l.addrs[ip] = true
		if ip.Is4() && len(n.Mask) >= 4 {
			m := n.Mask[len(n.Mask)-4:]
			b := ip.As4()
			for i := range b {
				b[i] |= ^m[i]
			}
			if bc := netip.AddrFrom4(b); bc != ip {
				l.bcast[bc] = true
			}
		}
	}
}

// has reports whether a is an address of this host: loopback, or one of
// its interfaces'.
func (l *localAddrs) has(a netip.Addr, now time.Time) bool {
	if a.IsLoopback() {
		return true
	}
	l.refresh(now)
	return l.addrs[a]
}

// broadcast reports whether a is the limited broadcast address or the
// broadcast address of one of this host's IPv4 subnets.
func (l *localAddrs) broadcast(a netip.Addr, now time.Time) bool {
	if !a.Is4() {
		return false // IPv6 has no broadcast, only multicast
	}
	if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	l.refresh(now)
	return l.bcast[a]
}
