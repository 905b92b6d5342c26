package cli

import (
	"strings"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
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

// The banner's suggestions run sockit the way the user can: by name when
// PATH finds this binary, with go run under go run from the module's
// root, else by the path it was started by.
func TestSelfName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, arg0, exe  string
		onPath, inModule bool
		want             string
	}{
		{name: "installed", arg0: "sockit", exe: "/home/u/go/bin/sockit", onPath: true, want: "sockit"},
		{name: "installed, run by its path", arg0: "/home/u/go/bin/sockit", exe: "/home/u/go/bin/sockit", onPath: true, want: "sockit"},
		{name: "go run, cached", arg0: "/home/u/.cache/go-build/4b/4b7a-d/sockit", exe: "/home/u/.cache/go-build/4b/4b7a-d/sockit", inModule: true, want: "go run ./cmd/sockit"},
		{name: "go run, temporary", arg0: "/tmp/go-build123/b001/exe/sockit", exe: "/tmp/go-build123/b001/exe/sockit", inModule: true, want: "go run ./cmd/sockit"},
		{name: "go run of a remote module", arg0: "/tmp/go-build123/b001/exe/sockit", exe: "/tmp/go-build123/b001/exe/sockit", want: "sockit"},
		{name: "built here", arg0: "./sockit", exe: "/src/sockit/sockit", inModule: true, want: "./sockit"},
		{name: "built elsewhere", arg0: "/opt/sockit/bin/sockit", exe: "/opt/sockit/bin/sockit", want: "/opt/sockit/bin/sockit"},
		{name: "a name PATH finds elsewhere", arg0: "sockit", exe: "/usr/local/bin/sockit", want: "sockit"},
	} {
		if got := selfName(tt.arg0, tt.exe, tt.onPath, tt.inModule); got != tt.want {
			t.Errorf("%s: selfName(%q, %q, %v, %v) = %q, want %q", tt.name, tt.arg0, tt.exe, tt.onPath, tt.inModule, got, tt.want)
		}
	}
}

// The banner's try lines use ServeOptions.Self.
func TestBannerSelf(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0", "udp://127.0.0.1:0"}, Self: "go run ./cmd/sockit"})
	testkit.MustContain(t, "banner", s.out.String(),
		"try:  go run ./cmd/sockit send "+s.addrs[0].String()+" hello\n",
		"      go run ./cmd/sockit send udp://"+s.addrs[1].String()+" hello\n")
}
