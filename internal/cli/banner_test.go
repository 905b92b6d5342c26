package cli

import (
	"strings"
	"testing"

	"github.com/sockit/sockit/endpoint"
)

// A listener on the wildcard address is marked as reachable from other
// machines; loopback and Unix listeners are not.
func TestAllInterfacesNote(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ep   string
		want bool
	}{
		{ep: "tcp://:7007", want: true},
		{ep: "tcp://0.0.0.0:7007", want: true},
		{ep: "tcp6://[::]:7007", want: true},
		{ep: "udp://:7007", want: true},
		{ep: "ws://0.0.0.0:80/x", want: true},
		{ep: "tcp://127.0.0.1:7007", want: false},
		{ep: "tcp6://[::1]:7007", want: false},
		{ep: "unix:///tmp/s.sock", want: false},
	} {
		got := allInterfaces(endpoint.MustParse(tt.ep))
		if strings.Contains(got, "ALL interfaces") != tt.want {
			t.Errorf("%s: note %q, want it: %v", tt.ep, got, tt.want)
		}
	}
}
