package icmpwatch_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/sockit/sockit/icmpwatch"
	"github.com/sockit/sockit/internal/testkit"
)

// A datagram to a closed UDP port on loopback comes back as an ICMP port
// unreachable that quotes it; the watcher says so in those words.
func TestWatcherSeesPortUnreachable(t *testing.T) {
	t.Parallel()
	w, err := icmpwatch.Listen()
	if errors.Is(err, icmpwatch.ErrNeedRaw) {
		t.Skipf("needs root or CAP_NET_RAW: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	closed := netip.MustParseAddrPort(testkit.RefusedUDP(t))
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := c.LocalAddr().(*net.UDPAddr).AddrPort()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan icmpwatch.Message, 1)
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(m icmpwatch.Message) {
			// Other tests may be sending ICMP too: only ours counts.
			if m.Quoted != nil && m.Quoted.Src == src && m.Quoted.Dst == closed {
				select {
				case got <- m:
				default:
				}
			}
		})
	}()
	if _, err := c.WriteToUDPAddrPort([]byte("x"), closed); err != nil {
		t.Fatal(err)
	}
	m := testkit.Receive(t, got, "the ICMP port unreachable")
	cancel()
	if err := testkit.Receive(t, done, "Run's end"); err != nil {
		t.Errorf("Run: %v", err)
	}
	want := "port unreachable: udp " + src.String() + " → " + closed.String() + " (ICMP type 3 code 3 from 127.0.0.1)"
	if m.String() != want {
		t.Errorf("message %q, want %q", m.String(), want)
	}
}

// Without the privilege, Listen says what is missing.
func TestListenNeedsRaw(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: raw sockets are allowed")
	}
	w, err := icmpwatch.Listen()
	if err == nil {
		w.Close()
		t.Skip("this process may open raw sockets (CAP_NET_RAW)")
	}
	if !errors.Is(err, icmpwatch.ErrNeedRaw) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("Listen without privilege: %v, want ErrNeedRaw", err)
	}
}
