package service_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/spoof"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// These tests forge datagrams on a raw socket, as an attacker would, and
// check what the services behind a Guard do with them. Each ends with a
// control datagram from a real socket, sent after the forged ones to the
// same server socket: its answer arriving proves the forged datagrams went
// through the same queue before it and were seen, so the counts can be
// read at once.

func needSpoof(t *testing.T) {
	t.Helper()
	if err := spoof.Available(); err != nil {
		t.Skip(err)
	}
}

// guardedUDP serves h behind g on a UDP socket bound to at, and returns
// the engine server and the bound address.
func guardedUDP(t *testing.T, at string, g *service.Guard, h engine.PacketHandler) (*engine.Server, netip.AddrPort) {
	t.Helper()
	srv := testkit.NewServer(t, nil)
	a, err := srv.ListenPacket(endpoint.Endpoint{Scheme: "udp4", Addr: at}, g.Wrap(h))
	if err != nil {
		t.Fatal(err)
	}
	return srv, a.(*net.UDPAddr).AddrPort()
}

func newGuard(t *testing.T, o service.GuardOptions) *service.Guard {
	t.Helper()
	g, err := service.NewGuard(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// control sends a forged-path datagram from a real socket to dst (on
// 127.0.0.1) and waits for the echo; it returns once the server has dealt
// with everything sent to it before.
func control(t *testing.T, dst netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Through the raw socket too, so that it queues behind the forged ones.
	if err := spoof.UDP4(c.LocalAddr().(*net.UDPAddr).AddrPort(), loopback(dst), []byte("control")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "control" {
		t.Fatalf("control datagram: answer %q, %v; want the echo", buf[:n], err)
	}
}

// eventually polls cond until it holds, failing the test after
// testkit.Timeout: a server counts a datagram sent after the kernel took it,
// which may be after its answer arrived.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testkit.Timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", testkit.Timeout, what)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// loopback is dst with a wildcard address replaced by 127.0.0.1.
func loopback(dst netip.AddrPort) netip.AddrPort {
	if dst.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dst.Port())
	}
	return dst
}

// A datagram forged to come from the server's own address and port is not
// echoed (it would come back to be echoed again, for ever); bound to
// 0.0.0.0, neither is one from any local address with the server's port.
func TestGuardRefusesOwnAddress(t *testing.T) {
	t.Parallel()
	needSpoof(t)
	for _, tt := range []struct {
		name, at string
		from     func(at netip.AddrPort) netip.AddrPort
	}{
		{name: "bound to 127.0.0.1", at: "127.0.0.1:0", from: func(at netip.AddrPort) netip.AddrPort { return at }},
		{name: "bound to 0.0.0.0, from 127.0.0.1", at: "0.0.0.0:0", from: func(at netip.AddrPort) netip.AddrPort { return loopback(at) }},
		{name: "bound to 0.0.0.0, from 127.0.0.3", at: "0.0.0.0:0", from: func(at netip.AddrPort) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), at.Port())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGuard(t, service.GuardOptions{})
			srv, at := guardedUDP(t, tt.at, g, service.Echo{})
			if err := spoof.UDP4(tt.from(at), loopback(at), []byte("loop me")); err != nil {
				t.Fatal(err)
			}
			control(t, at)
			if st := g.Stats(); st.OwnAddress != 1 || st.Answered != 1 {
				t.Errorf("guard stats %+v, want the forged datagram refused as our own address and the control answered", st)
			}
			eventually(t, "the server did not count 2 datagrams in and 1 out (the control's echo)", func() bool {
				st := srv.Stats()
				return st.PacketsIn == 2 && st.PacketsOut == 1
			})
		})
	}
}

// Datagrams forged from a broadcast or multicast address, from port 0 and
// from a service's port below 1024 go unanswered.
func TestGuardRefusesForgedSources(t *testing.T) {
	t.Parallel()
	needSpoof(t)
	g := newGuard(t, service.GuardOptions{})
	srv, at := guardedUDP(t, "127.0.0.1:0", g, service.Echo{})
	for _, from := range []string{"255.255.255.255:40000", "224.0.0.1:40000", "127.0.0.1:0", "127.0.0.1:7", "127.0.0.1:53"} {
		if err := spoof.UDP4(netip.MustParseAddrPort(from), at, []byte("reflect me")); err != nil {
			t.Fatal(err)
		}
	}
	control(t, at)
	want := service.GuardStats{Answered: 1, NotUnicast: 3, ServicePort: 2}
	if st := g.Stats(); st != want {
		t.Errorf("guard stats %+v, want %+v", st, want)
	}
	eventually(t, "the server did not count 1 datagram out (the control's echo)", func() bool { return srv.Stats().PacketsOut == 1 })
}

// One datagram forged from chargen's address to echo's would have them
// answer each other for ever (CVE-1999-0103). Behind guards, the loop dies
// when it finds a source's bucket empty: the answers stay within Burst
// plus Rate a second, and stop.
func TestGuardBreaksChargenEchoLoop(t *testing.T) {
	t.Parallel()
	needSpoof(t)
	const rate, burst = 200, 50
	cg := newGuard(t, service.GuardOptions{Rate: rate, Burst: burst})
	eg := newGuard(t, service.GuardOptions{Rate: rate, Burst: burst})
	_, chargen := guardedUDP(t, "127.0.0.1:0", cg, service.Chargen{})
	_, echo := guardedUDP(t, "127.0.0.1:0", eg, service.Echo{})
	start := time.Now()
	if err := spoof.UDP4(chargen, echo, bytes.Repeat([]byte("x"), 512)); err != nil {
		t.Fatal(err)
	}
	answered := func() uint64 { return cg.Stats().Answered + eg.Stats().Answered }
	deadline := start.Add(testkit.Timeout)
	for cg.Stats().RateLimited+eg.Stats().RateLimited == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v the loop still runs: %d answers, none refused", testkit.Timeout, answered())
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	elapsed := time.Since(start)
	n := answered()
	t.Logf("the loop was cut after %d answers in %v", n, elapsed)
	if limit := uint64(2 * (burst + rate*elapsed.Seconds() + 1)); n > limit {
		t.Errorf("%d answers in %v; two buckets of %d at %d/s allow at most %d", n, elapsed, burst, rate, limit)
	}
	if n < burst {
		t.Errorf("only %d answers before a refusal; a burst of %d should have passed (did the forged datagram loop at all?)", n, burst)
	}
	// The loop carried one datagram, and it was dropped: nothing more is
	// answered but the controls.
	control(t, echo)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	c.WriteTo([]byte("any"), net.UDPAddrFromAddrPort(chargen))
	if _, _, err := c.ReadFrom(make([]byte, 600)); err != nil {
		t.Fatalf("chargen's answer to a control datagram: %v", err)
	}
	if got := answered(); got != n+2 {
		t.Errorf("after the loop was cut: %d answers, want %d (the two controls)", got, n+2)
	}
}
