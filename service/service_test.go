package service_test

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

func TestEchoTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{name: "one byte", size: 1},
		{name: "a line", size: 73},
		{name: "4 MiB, past the server's watermarks", size: 4 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addr := serveTCP(t, service.Echo{})
			c := dialTCP(t, addr)
			in := make([]byte, tt.size)
			for i := range in {
				in[i] = byte(i % 251)
			}
			// Write while reading: the echo comes back as it is sent, and
			// a large one would fill both directions' buffers otherwise.
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(in)
				if err == nil {
					err = c.CloseWrite() // FIN: the server answers with the rest, then FIN
				}
				wrote <- err
			}()
			got, err := io.ReadAll(c) // until the server's FIN
			if werr := testkit.Receive(t, wrote, "write and half-close"); werr != nil {
				t.Fatalf("write, CloseWrite: %v", werr)
			}
			if err != nil {
				t.Fatalf("read until EOF: %v (after %d bytes)", err, len(got))
			}
			if !bytes.Equal(got, in) {
				t.Errorf("echo is %d bytes, want the %d bytes sent, unchanged", len(got), len(in))
			}
		})
	}
}

func TestEchoUDP(t *testing.T) {
	t.Parallel()
	_, addr := serveUDP(t, service.Echo{})
	c := dialUDP(t, addr)
	for _, size := range []int{1, 100, 1472, 8192, 65507} {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(size + i)
		}
		if got := roundTrip(t, c, p); !bytes.Equal(got, p) {
			t.Errorf("echo of a %d-byte datagram is %d bytes, want the datagram unchanged", size, len(got))
		}
	}
}

func TestDiscardTCP(t *testing.T) {
	t.Parallel()
	srv, addr := serveTCP(t, service.Discard{})
	c := dialTCP(t, addr)
	const size = 256 << 10
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // the server closes after our half-close
	if err != nil {
		t.Fatalf("read until EOF: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("discard sent %d bytes back, want none", len(got))
	}
	// The server reads our FIN after every byte before it, and closes
	// only then: its counters are final.
	if st := srv.Stats(); st.BytesIn != size || st.BytesOut != 0 {
		t.Errorf("server stats: %d bytes in, %d out; want %d in, 0 out", st.BytesIn, st.BytesOut, size)
	}
}

// notifyPacket tells when its handler has finished with a datagram.
type notifyPacket struct {
	engine.PacketHandler
	done chan struct{}
}

func (n notifyPacket) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	n.PacketHandler.OnPacket(pc, p, from)
	n.done <- struct{}{}
}

func TestDiscardUDP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         engine.PacketHandler
		wantReply bool
	}{
		{name: "discard", h: service.Discard{}, wantReply: false},
		// The same check against echo shows that it would see a reply.
		{name: "echo as a control", h: service.Echo{}, wantReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := notifyPacket{PacketHandler: tt.h, done: make(chan struct{}, 1)}
			srv, addr := serveUDP(t, h)
			c := dialUDP(t, addr)
			if _, err := c.Write([]byte("drop me")); err != nil {
				t.Fatal(err)
			}
			testkit.Receive(t, h.done, "OnPacket")
			// A reply on loopback is in our receive queue once sendto(2)
			// has returned, so a short read deadline only bounds the
			// wait for a datagram that is not there.
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Read(make([]byte, 1024))
			gotReply := err == nil
			if err != nil && !isTimeout(err) {
				t.Fatalf("read: %v", err)
			}
			if gotReply != tt.wantReply {
				t.Errorf("got a reply (%d bytes) = %v, want %v", n, gotReply, tt.wantReply)
			}
			wantOut := uint64(0)
			if tt.wantReply {
				wantOut = 1
			}
			// The server counts a datagram out after sendmmsg(2) returns, which
			// can be a moment after the reply is already in our queue.
			testkit.Eventually(t, "the datagrams out counted", func() bool { return srv.Stats().PacketsOut >= wantOut })
			if st := srv.Stats(); st.PacketsIn != 1 || st.PacketsOut != wantOut {
				t.Errorf("server stats: %d datagrams in, %d out; want 1 in, %d out", st.PacketsIn, st.PacketsOut, wantOut)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		isService func(h engine.Handler, ph engine.PacketHandler) bool
	}{
		{name: "echo", isService: func(h engine.Handler, ph engine.PacketHandler) bool {
			_, ok1 := h.(service.Echo)
			_, ok2 := ph.(service.Echo)
			return ok1 && ok2
		}},
		{name: "discard", isService: func(h engine.Handler, ph engine.PacketHandler) bool {
			_, ok1 := h.(service.Discard)
			_, ok2 := ph.(service.Discard)
			return ok1 && ok2
		}},
		{name: "chargen", isService: func(h engine.Handler, ph engine.PacketHandler) bool {
			_, ok1 := h.(service.Chargen)
			_, ok2 := ph.(service.Chargen)
			_, drains := h.(engine.Drainer) // or it stops after one cycle
			return ok1 && ok2 && drains
		}},
		{name: "daytime", isService: func(h engine.Handler, ph engine.PacketHandler) bool {
			_, ok1 := h.(service.Daytime)
			_, ok2 := ph.(service.Daytime)
			return ok1 && ok2
		}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
		h, ph, err := service.Lookup(tt.name)
		if err != nil {
			t.Errorf("Lookup(%q) = %v", tt.name, err)
			continue
		}
		if !tt.isService(h, ph) {
			t.Errorf("Lookup(%q) = %T, %T; want the %s service", tt.name, h, ph, tt.name)
		}
	}
	if !slices.Equal(service.Names, names) {
		t.Errorf("Names = %q, want %q", service.Names, names)
	}
	for _, name := range []string{"", "ECHO", "chat", "echo "} {
		h, ph, err := service.Lookup(name)
		if err == nil || h != nil || ph != nil {
			t.Errorf("Lookup(%q) = %v, %v, %v; want nil, nil and an error", name, h, ph, err)
		}
	}
}
