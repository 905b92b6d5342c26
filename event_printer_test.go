package sockit_test

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"unicode"

	"github.com/sockit/sockit"
)

// upper is a Printer that shouts, to see which words go through one.
type upper struct{}

func (upper) Translate(format string, a ...any) string {
	var b strings.Builder
	verb := false
	for _, r := range format { // the words shout, the verbs stay verbs
		if !verb {
			r = unicode.ToUpper(r)
		}
		verb = r == '%'
		b.WriteRune(r)
	}
	return fmt.Sprintf(b.String(), a...)
}
func (upper) Phrase(s string) string { return strings.ToUpper(s) }

// Narrate puts the sentences through the Printer and leaves the names of
// calls, errnos and addresses as the socket API spells them; String is
// Narrate in English.
func TestNarrateWithPrinter(t *testing.T) {
	t.Parallel()
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7}
	tests := []struct {
		e    sockit.Event
		want string
	}{
		{e: sockit.Event{Step: sockit.StepRead, FD: 3}, want: "read 0: PEER SENT FIN"},
		{e: sockit.Event{Step: sockit.StepRead, FD: 3, N: 5, Call: "recv(MSG_PEEK)"}, want: "recv(MSG_PEEK) 5 BYTES"},
		{e: sockit.Event{Step: sockit.StepRecvFrom, FD: 3, N: 1, Peer: peer}, want: "recvfrom 1 BYTE FROM 127.0.0.1:7"},
		{e: sockit.Event{Step: sockit.StepConnect, FD: 3, Net: "udp", Peer: peer}, want: "connect 127.0.0.1:7 (A DATAGRAM SOCKET'S CONNECT SENDS NOTHING: IT SETS THE DEFAULT PEER AND FILTERS WHAT IS RECEIVED)"},
		{e: sockit.Event{Step: sockit.StepPoll, FD: 5, N: 2, Detail: "fd 7 EPOLLIN, fd 8 EPOLLIN"}, want: "EPOLL_WAIT = 2 READY: fd 7 EPOLLIN, fd 8 EPOLLIN"},
		{e: sockit.Event{Step: sockit.StepRead, FD: 3, Err: syscall.ECONNRESET}, want: "read = -1 ECONNRESET: connection reset by peer"},
	}
	for _, tt := range tests {
		if got := tt.e.Narrate(upper{}); got != tt.want {
			t.Errorf("Narrate(%v) = %q, want %q", tt.e.Step, got, tt.want)
		}
		if got, want := tt.e.String(), tt.e.Narrate(nil); got != want {
			t.Errorf("String() = %q, Narrate(nil) = %q", got, want)
		}
	}
}
