package sockit_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sockit/sockit"
)

func TestEventString(t *testing.T) {
	t.Parallel()
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7007}
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 55806}
	peer6 := &net.UDPAddr{IP: net.IPv6loopback, Port: 53}
	unnamed := &net.UnixAddr{Name: "@", Net: "unix"}
	tests := []struct {
		name  string
		event sockit.Event
		want  string
	}{
		{name: "socket", event: sockit.Event{Step: sockit.StepSocket, FD: 3, Detail: "AF_INET, SOCK_STREAM"}, want: "socket(AF_INET, SOCK_STREAM) = fd 3"},
		{name: "setsockopt", event: sockit.Event{Step: sockit.StepSetsockopt, FD: 3, Detail: "SO_REUSEPORT=1"}, want: "setsockopt(SO_REUSEPORT=1)"},
		{name: "bind", event: sockit.Event{Step: sockit.StepBind, FD: 3, Local: local}, want: "bind 127.0.0.1:7007"},
		{name: "bind unix", event: sockit.Event{Step: sockit.StepBind, Local: &net.UnixAddr{Name: "/tmp/s.sock", Net: "unix"}}, want: "bind /tmp/s.sock"},
		{name: "bind nil", event: sockit.Event{Step: sockit.StepBind}, want: "bind (unnamed)"},
		{name: "listen", event: sockit.Event{Step: sockit.StepListen, FD: 3, N: 4096}, want: "listen backlog=4096"},
		{name: "accept", event: sockit.Event{Step: sockit.StepAccept, FD: 5, Peer: peer}, want: "accept 127.0.0.1:55806 → fd 5"},
		{name: "accept unknown fd", event: sockit.Event{Step: sockit.StepAccept, FD: -1, Peer: peer}, want: "accept 127.0.0.1:55806 → fd ?"},
		{name: "accept unnamed unix peer", event: sockit.Event{Step: sockit.StepAccept, FD: 6, Peer: unnamed}, want: "accept (unnamed) → fd 6"},
		{name: "connect", event: sockit.Event{Step: sockit.StepConnect, Peer: peer}, want: "connect 127.0.0.1:55806"},
		{name: "connected", event: sockit.Event{Step: sockit.StepConnected, Local: local, Peer: peer}, want: "connected 127.0.0.1:7007 → 127.0.0.1:55806"},
		{name: "connected no local", event: sockit.Event{Step: sockit.StepConnected, Peer: peer}, want: "connected to 127.0.0.1:55806"},
		{name: "read FIN", event: sockit.Event{Step: sockit.StepRead, FD: 5, N: 0}, want: "read 0: peer sent FIN"},
		{name: "read 1", event: sockit.Event{Step: sockit.StepRead, N: 1}, want: "read 1 byte"},
		{name: "read 512", event: sockit.Event{Step: sockit.StepRead, N: 512}, want: "read 512 bytes"},
		{name: "read error", event: sockit.Event{Step: sockit.StepRead, Err: errors.New("connection reset by peer")}, want: "read 0 bytes: connection reset by peer"},
		{name: "write", event: sockit.Event{Step: sockit.StepWrite, N: 13}, want: "write 13 bytes"},
		{name: "write 1", event: sockit.Event{Step: sockit.StepWrite, N: 1}, want: "write 1 byte"},
		{name: "write 0", event: sockit.Event{Step: sockit.StepWrite}, want: "write 0 bytes"},
		{name: "recvfrom", event: sockit.Event{Step: sockit.StepRecvFrom, N: 42, Peer: peer6}, want: "recvfrom 42 bytes from [::1]:53"},
		{name: "sendto", event: sockit.Event{Step: sockit.StepSendTo, N: 1, Peer: peer6}, want: "sendto 1 byte to [::1]:53"},
		{name: "sendto unnamed", event: sockit.Event{Step: sockit.StepSendTo, N: 2}, want: "sendto 2 bytes to (unnamed)"},
		{name: "shutdown", event: sockit.Event{Step: sockit.StepShutdown, Detail: "SHUT_WR"}, want: "shutdown(SHUT_WR)"},
		{name: "close", event: sockit.Event{Step: sockit.StepClose, FD: 5}, want: "close"},
		{name: "close detail", event: sockit.Event{Step: sockit.StepClose, FD: 5, Detail: "idle timeout"}, want: "close (idle timeout)"},
		{name: "unlink", event: sockit.Event{Step: sockit.StepUnlink, Detail: "/tmp/s.sock"}, want: "unlink /tmp/s.sock"},
		{name: "open", event: sockit.Event{Step: sockit.StepOpen, Peer: peer}, want: "new conn 127.0.0.1:55806"},
		{
			name:  "closed",
			event: sockit.Event{Step: sockit.StepClosed, Peer: peer, In: 10, Out: 20, Dur: 1500*time.Microsecond + 400*time.Nanosecond},
			want:  "closed conn 127.0.0.1:55806: in 10 bytes, out 20 bytes, after 1.5ms",
		},
		{
			name:  "closed one byte",
			event: sockit.Event{Step: sockit.StepClosed, Peer: peer, In: 1, Out: 0, Dur: time.Millisecond},
			want:  "closed conn 127.0.0.1:55806: in 1 byte, out 0 bytes, after 1ms",
		},
		{name: "recv with flags", event: sockit.Event{Step: sockit.StepRead, Call: "recv(MSG_PEEK)", N: 6}, want: "recv(MSG_PEEK) 6 bytes"},
		{name: "read 0 after SHUT_RD", event: sockit.Event{Step: sockit.StepRead, Detail: "reading was shut down here (SHUT_RD)"}, want: "read 0: reading was shut down here (SHUT_RD)"},
		{name: "read errno", event: sockit.Event{Step: sockit.StepRead, Err: os.NewSyscallError("read", syscall.ECONNRESET)}, want: "read = -1 ECONNRESET: connection reset by peer"},
		{name: "write errno wrapped", event: sockit.Event{Step: sockit.StepWrite, Call: "send(MSG_DONTWAIT)", Err: &sockit.Error{Op: "write", Net: "tcp", Err: syscall.EPIPE}}, want: "send(MSG_DONTWAIT) = -1 EPIPE: broken pipe"},
		{name: "recvmmsg", event: sockit.Event{Step: sockit.StepRecvFrom, Call: "recvmmsg", N: 5, Peer: peer6}, want: "recvmmsg 5 bytes from [::1]:53"},
		{name: "urgent", event: sockit.Event{Step: sockit.StepUrgent, N: 1, Detail: "'!'"}, want: "urgent data: recv(MSG_OOB) 1 byte ('!')"},
		{name: "ancillary", event: sockit.Event{Step: sockit.StepAncillary, Detail: "SCM_RIGHTS fd 9"}, want: "ancillary data: SCM_RIGHTS fd 9"},
		{name: "accept with peer credentials", event: sockit.Event{Step: sockit.StepAccept, FD: 6, Peer: unnamed, Detail: "peer pid 1 uid 0 gid 0"}, want: "accept (unnamed) → fd 6 (peer pid 1 uid 0 gid 0)"},
		{name: "udp connect", event: sockit.Event{Step: sockit.StepConnect, Net: "udp", Peer: peer6}, want: "connect [::1]:53 (a datagram socket's connect sends nothing: it sets the default peer and filters what is received)"},
		{name: "error with errno", event: sockit.Event{Step: sockit.StepBind, Local: local, Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}, want: "bind 127.0.0.1:7007: bind: address already in use [EADDRINUSE]"},
		{name: "error appended", event: sockit.Event{Step: sockit.StepBind, Local: local, Err: errors.New("address already in use")}, want: "bind 127.0.0.1:7007: address already in use"},
		{name: "zero step", event: sockit.Event{}, want: "step(0)"},
		{name: "unknown step", event: sockit.Event{Step: sockit.Step(99)}, want: "step(99)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.event.String(); got != tt.want {
				t.Errorf("String() mismatch (-want +got):\n-%s\n+%s", tt.want, got)
			}
		})
	}
}

func TestStepString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step sockit.Step
		want string
	}{
		{step: sockit.StepSocket, want: "socket"},
		{step: sockit.StepSetsockopt, want: "setsockopt"},
		{step: sockit.StepBind, want: "bind"},
		{step: sockit.StepListen, want: "listen"},
		{step: sockit.StepAccept, want: "accept"},
		{step: sockit.StepConnect, want: "connect"},
		{step: sockit.StepConnected, want: "connected"},
		{step: sockit.StepRead, want: "read"},
		{step: sockit.StepWrite, want: "write"},
		{step: sockit.StepRecvFrom, want: "recvfrom"},
		{step: sockit.StepSendTo, want: "sendto"},
		{step: sockit.StepShutdown, want: "shutdown"},
		{step: sockit.StepClose, want: "close"},
		{step: sockit.StepUnlink, want: "unlink"},
		{step: sockit.StepOpen, want: "open"},
		{step: sockit.StepClosed, want: "closed"},
		{step: sockit.StepProxy, want: "proxy"},
		{step: sockit.StepHandshake, want: "handshake"},
		{step: sockit.StepHTTP, want: "http"},
		{step: sockit.StepUrgent, want: "urgent"},
		{step: sockit.StepAncillary, want: "ancillary"},
		{step: sockit.StepPoll, want: "poll"},
		{step: 0, want: "step(0)"},
		{step: sockit.StepPoll + 1, want: "step(23)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.step.String(); got != tt.want {
				t.Errorf("Step(%d).String() mismatch (-want +got):\n-%q\n+%q", uint8(tt.step), tt.want, got)
			}
		})
	}
}

func TestObserverFunc(t *testing.T) {
	t.Parallel()
	var got []sockit.Event
	var o sockit.Observer = sockit.ObserverFunc(func(e sockit.Event) { got = append(got, e) })
	want := []sockit.Event{
		{Step: sockit.StepListen, FD: 3, N: 128},
		{Step: sockit.StepClose, FD: 3},
	}
	for _, e := range want {
		o.Observe(e)
	}
	if len(got) != len(want) {
		t.Fatalf("observed %d events, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].String() != want[i].String() || got[i].FD != want[i].FD {
			t.Errorf("event %d mismatch (-want +got):\n-%v\n+%v", i, want[i], got[i])
		}
	}
}
