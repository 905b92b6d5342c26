package service

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sockit/sockit"
)

func udp(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// Each rule, on its own: which sources a socket bound to a given address
// refuses, and why.
func TestGuardRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		local net.Addr
		from  net.Addr
		want  Reason
	}{
		{name: "a client", local: udp("127.0.0.1:7007"), from: udp("127.0.0.1:40000"), want: Answered},
		{name: "own address and port", local: udp("127.0.0.1:7007"), from: udp("127.0.0.1:7007"), want: OwnAddress},
		{name: "another loopback address, own port, bound to one address", local: udp("127.0.0.1:7007"), from: udp("127.0.0.2:7007"), want: Answered},
		{name: "wildcard: loopback with own port", local: udp("0.0.0.0:7007"), from: udp("127.0.0.2:7007"), want: OwnAddress},
		{name: "wildcard: another port", local: udp("0.0.0.0:7007"), from: udp("127.0.0.2:7008"), want: Answered},
		{name: "wildcard v6: ::1 with own port", local: udp("[::]:7007"), from: udp("[::1]:7007"), want: OwnAddress},
		{name: "wildcard v6: v4-mapped loopback with own port", local: udp("[::]:7007"), from: udp("[::ffff:127.0.0.1]:7007"), want: OwnAddress},
		{name: "v6 own address", local: udp("[::1]:7007"), from: udp("[::1]:7007"), want: OwnAddress},
		{name: "limited broadcast", local: udp("127.0.0.1:7007"), from: udp("255.255.255.255:40000"), want: NotUnicast},
		{name: "multicast", local: udp("127.0.0.1:7007"), from: udp("224.0.0.1:40000"), want: NotUnicast},
		{name: "v6 multicast", local: udp("[::1]:7007"), from: udp("[ff02::1]:40000"), want: NotUnicast},
		{name: "unspecified", local: udp("127.0.0.1:7007"), from: udp("0.0.0.0:40000"), want: NotUnicast},
		{name: "v6 unspecified", local: udp("[::1]:7007"), from: udp("[::]:40000"), want: NotUnicast},
		{name: "port 0", local: udp("127.0.0.1:7007"), from: udp("127.0.0.1:0"), want: NotUnicast},
		{name: "echo's port", local: udp("127.0.0.1:7007"), from: udp("127.0.0.1:7"), want: ServicePort},
		{name: "DNS's port", local: udp("127.0.0.1:7007"), from: udp("192.0.2.1:53"), want: ServicePort},
		{name: "port 1024", local: udp("127.0.0.1:7007"), from: udp("192.0.2.1:1024"), want: Answered},
		{name: "own port below 1024 is own address first", local: udp("127.0.0.1:7"), from: udp("127.0.0.1:7"), want: OwnAddress},
		{name: "unixgram peer", local: &net.UnixAddr{Name: "/tmp/s", Net: "unixgram"}, from: &net.UnixAddr{Name: "/tmp/c", Net: "unixgram"}, want: Answered},
		{name: "unixgram own path", local: &net.UnixAddr{Name: "/tmp/s", Net: "unixgram"}, from: &net.UnixAddr{Name: "/tmp/s", Net: "unixgram"}, want: OwnAddress},
		{name: "unixgram unbound peer", local: &net.UnixAddr{Name: "/tmp/s", Net: "unixgram"}, from: nil, want: Unbound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := NewGuard(GuardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Check(tt.local, tt.from); got != tt.want {
				t.Errorf("Check(%v, %v) = %v, want %v", tt.local, tt.from, got, tt.want)
			}
		})
	}
}

// An interface's subnet broadcast address, and its own addresses for a
// socket bound to a wildcard address, come from the host's interfaces.
func TestGuardInterfaceAddresses(t *testing.T) {
	t.Parallel()
	g, err := NewGuard(GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("192.0.2.0/24")
	n.IP = net.ParseIP("192.0.2.10")
	g.local.list = func() ([]net.Addr, error) { return []net.Addr{n}, nil }
	for _, tt := range []struct {
		local, from string
		want        Reason
	}{
		{local: "0.0.0.0:7007", from: "192.0.2.10:7007", want: OwnAddress},
		{local: "0.0.0.0:7007", from: "192.0.2.11:7007", want: Answered},
		{local: "192.0.2.10:7007", from: "192.0.2.255:40000", want: NotUnicast},
		{local: "192.0.2.10:7007", from: "192.0.2.254:40000", want: Answered},
	} {
		if got := g.Check(udp(tt.local), udp(tt.from)); got != tt.want {
			t.Errorf("Check(%s, %s) = %v, want %v", tt.local, tt.from, got, tt.want)
		}
	}
	if st := g.Stats(); st.OwnAddress != 1 || st.NotUnicast != 1 || st.Answered != 2 || st.Unanswered() != 2 {
		t.Errorf("Stats = %+v, want 2 answered, 1 own address, 1 not unicast", st)
	}
}

// The token bucket: Burst answers at once, then Rate a second; a source's
// bucket is its own; a quiet source's bucket fills up again.
func TestGuardRate(t *testing.T) {
	t.Parallel()
	g, err := NewGuard(GuardOptions{Rate: 10, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	local, a, b := udp("127.0.0.1:7007"), udp("127.0.0.1:40000"), udp("127.0.0.1:40001")
	now := time.Unix(1000, 0)
	var got []Reason
	for range 5 {
		got = append(got, g.decide(local, a, now))
	}
	want := []Reason{Answered, Answered, Answered, RateLimited, RateLimited}
	if !equal(got, want) {
		t.Errorf("5 at once from one source: %v, want %v", got, want)
	}
	if r := g.decide(local, b, now); r != Answered {
		t.Errorf("another source, at the same time: %v, want answered", r)
	}
	if r := g.decide(local, a, now.Add(50*time.Millisecond)); r != RateLimited {
		t.Errorf("after 50ms (half a token at 10/s): %v, want rate limited", r)
	}
	if r := g.decide(local, a, now.Add(100*time.Millisecond)); r != Answered {
		t.Errorf("after 100ms (one token at 10/s): %v, want answered", r)
	}
	got = got[:0]
	for range 4 {
		got = append(got, g.decide(local, a, now.Add(time.Hour)))
	}
	if want := []Reason{Answered, Answered, Answered, RateLimited}; !equal(got, want) {
		t.Errorf("after an hour of quiet: %v, want a full burst of 3 again: %v", got, want)
	}

	unlimited, err := NewGuard(GuardOptions{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		if r := unlimited.decide(local, a, now); r != Answered {
			t.Fatalf("Rate < 0: datagram %d %v, want no limit", i, r)
		}
	}
}

func equal(a, b []Reason) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A flood of sources, each new, never grows the guard: its buckets are
// allocated once, Sources of them, and sources that meet in a busy bucket
// share it (they are limited more, never less).
func TestGuardMemoryBounded(t *testing.T) {
	t.Parallel()
	g, err := NewGuard(GuardOptions{Rate: 1, Burst: 1, Sources: 8})
	if err != nil {
		t.Fatal(err)
	}
	before := &g.buckets[0]
	local, now := udp("127.0.0.1:7007"), time.Unix(1000, 0)
	answered := 0
	for port := 1024; port < 1024+10000; port++ {
		if g.decide(local, udp(netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(port)).String()), now) == Answered {
			answered++
		}
	}
	if len(g.buckets) != 8 || &g.buckets[0] != before {
		t.Errorf("%d buckets (reallocated: %v), want the same 8", len(g.buckets), &g.buckets[0] != before)
	}
	if answered > 8 {
		t.Errorf("10000 new sources at one instant, 8 buckets of burst 1: %d answered, want at most 8", answered)
	}
}

// Options that cannot work are refused, naming the field.
func TestGuardBadOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		o     GuardOptions
		field string
	}{
		{name: "NaN rate", o: GuardOptions{Rate: math.NaN()}, field: "Rate"},
		{name: "infinite rate", o: GuardOptions{Rate: math.Inf(1)}, field: "Rate"},
		{name: "negative burst", o: GuardOptions{Burst: -1}, field: "Burst"},
		{name: "negative sources", o: GuardOptions{Sources: -1}, field: "Sources"},
	} {
		_, err := NewGuard(tt.o)
		var oe *sockit.OptionError
		if !errors.As(err, &oe) || oe.Owner != "service.GuardOptions" || len(oe.Fields) != 1 || oe.Fields[0] != tt.field {
			t.Errorf("%s: NewGuard = %v, want an OptionError for service.GuardOptions.%s", tt.name, err, tt.field)
		}
	}
}
