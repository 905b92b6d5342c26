package endpoint_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want endpoint.Endpoint
	}{
		{name: "tcp", in: "tcp://127.0.0.1:7007", want: endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:7007"}},
		{name: "tcp host name", in: "tcp://localhost:80", want: endpoint.Endpoint{Scheme: "tcp", Addr: "localhost:80"}},
		{name: "tcp empty host", in: "tcp://:0", want: endpoint.Endpoint{Scheme: "tcp", Addr: ":0"}},
		{name: "tcp4", in: "tcp4://127.0.0.1:80", want: endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:80"}},
		{name: "tcp4 host name", in: "tcp4://example.com:443", want: endpoint.Endpoint{Scheme: "tcp4", Addr: "example.com:443"}},
		{name: "tcp6", in: "tcp6://[::1]:7007", want: endpoint.Endpoint{Scheme: "tcp6", Addr: "[::1]:7007"}},
		{name: "tcp6 zone", in: "tcp6://[fe80::1%eth0]:22", want: endpoint.Endpoint{Scheme: "tcp6", Addr: "[fe80::1%eth0]:22"}},
		{name: "udp", in: "udp://localhost:53", want: endpoint.Endpoint{Scheme: "udp", Addr: "localhost:53"}},
		{name: "udp4", in: "udp4://0.0.0.0:0", want: endpoint.Endpoint{Scheme: "udp4", Addr: "0.0.0.0:0"}},
		{name: "udp6", in: "udp6://[::]:5353", want: endpoint.Endpoint{Scheme: "udp6", Addr: "[::]:5353"}},
		{name: "unix", in: "unix:///tmp/s.sock", want: endpoint.Endpoint{Scheme: "unix", Addr: "/tmp/s.sock"}},
		{name: "unix relative", in: "unix://./s.sock", want: endpoint.Endpoint{Scheme: "unix", Addr: "./s.sock"}},
		{name: "unix abstract", in: "unix://@name", want: endpoint.Endpoint{Scheme: "unix", Addr: "@name"}},
		{name: "unixgram", in: "unixgram:///run/g.sock", want: endpoint.Endpoint{Scheme: "unixgram", Addr: "/run/g.sock"}},
		{name: "unixgram abstract", in: "unixgram://@gram", want: endpoint.Endpoint{Scheme: "unixgram", Addr: "@gram"}},
		{name: "unixpacket", in: "unixpacket:///run/p.sock", want: endpoint.Endpoint{Scheme: "unixpacket", Addr: "/run/p.sock"}},
		{name: "unix path of 107 bytes", in: "unix:///" + strings.Repeat("a", 106), want: endpoint.Endpoint{Scheme: "unix", Addr: "/" + strings.Repeat("a", 106)}},
		{name: "abstract name of 108 bytes", in: "unix://@" + strings.Repeat("a", 107), want: endpoint.Endpoint{Scheme: "unix", Addr: "@" + strings.Repeat("a", 107)}},
		{name: "bare colon port", in: ":8080", want: endpoint.Endpoint{Scheme: "tcp", Addr: ":8080"}},
		{name: "bare host port", in: "host:8080", want: endpoint.Endpoint{Scheme: "tcp", Addr: "host:8080"}},
		{name: "bare port", in: "8080", want: endpoint.Endpoint{Scheme: "tcp", Addr: ":8080"}},
		{name: "bare port zero", in: "0", want: endpoint.Endpoint{Scheme: "tcp", Addr: ":0"}},
		{name: "bare port max", in: "65535", want: endpoint.Endpoint{Scheme: "tcp", Addr: ":65535"}},
		{name: "bare bracketed IPv6", in: "[::1]:7007", want: endpoint.Endpoint{Scheme: "tcp", Addr: "[::1]:7007"}},
		{name: "bracketed IPv6 full", in: "tcp://[2001:db8::1]:443", want: endpoint.Endpoint{Scheme: "tcp", Addr: "[2001:db8::1]:443"}},
		{name: "bracketed IPv4 loses brackets", in: "tcp://[127.0.0.1]:80", want: endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:80"}},
		{name: "upper-case scheme", in: "TCP://Example.COM:80", want: endpoint.Endpoint{Scheme: "tcp", Addr: "Example.COM:80"}},
		{name: "trailing-dot host name", in: "tcp://localhost.:80", want: endpoint.Endpoint{Scheme: "tcp", Addr: "localhost.:80"}},
	}
	layered := []struct {
		name string
		in   string
		want endpoint.Endpoint
	}{
		{name: "tls", in: "tls://127.0.0.1:7443", want: endpoint.Endpoint{Scheme: "tls", Addr: "127.0.0.1:7443"}},
		{name: "ws", in: "ws://127.0.0.1:7080/echo", want: endpoint.Endpoint{Scheme: "ws", Addr: "127.0.0.1:7080", Path: "/echo"}},
		{name: "ws no path", in: "ws://localhost:7080", want: endpoint.Endpoint{Scheme: "ws", Addr: "localhost:7080", Path: "/"}},
		{name: "ws default port", in: "ws://localhost/a/b", want: endpoint.Endpoint{Scheme: "ws", Addr: "localhost:80", Path: "/a/b"}},
		{name: "wss default port", in: "WSS://[::1]/x", want: endpoint.Endpoint{Scheme: "wss", Addr: "[::1]:443", Path: "/x"}},
		{name: "http default port and path", in: "http://127.0.0.1", want: endpoint.Endpoint{Scheme: "http", Addr: "127.0.0.1:80", Path: "/"}},
		{name: "https with a path", in: "https://[::1]:8443/plaintext", want: endpoint.Endpoint{Scheme: "https", Addr: "[::1]:8443", Path: "/plaintext"}},
	}
	for _, tt := range layered {
		got, err := endpoint.Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			continue
		}
		if again, err := endpoint.Parse(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %#v, %v", tt.in, again, err)
		}
		if got.Network() != "tcp" || !got.IsLayered() {
			t.Errorf("%q: Network %q, layered %v; want tcp, true", tt.in, got.Network(), got.IsLayered())
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := endpoint.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) mismatch (-want +got):\n-%#v\n+%#v", tt.in, tt.want, got)
			}
			again, err := endpoint.Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(%q) (round trip of %q) error: %v", got.String(), tt.in, err)
			}
			if again != got {
				t.Errorf("Parse(e.String()) round trip mismatch (-want +got):\n-%#v\n+%#v", got, again)
			}
			if got.Network() != got.Scheme {
				t.Errorf("Network() mismatch (-want +got):\n-%q\n+%q", got.Scheme, got.Network())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	allSchemes := "tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket, tls, ws, wss, http, https"
	tests := []struct {
		name     string
		in       string
		wantPart string
		wantMsg  string   // the whole message, when it is pinned down exactly
		contains []string // words the message must contain
	}{
		{name: "empty", in: "", wantPart: "address", contains: []string{"empty endpoint", "want scheme://address"}},
		{name: "blank", in: " \t ", wantPart: "address", contains: []string{"empty endpoint", "tcp://127.0.0.1:7007"}},
		{
			name: "unknown scheme", in: "tpc://x", wantPart: "scheme",
			wantMsg: `bad endpoint "tpc://x": unknown scheme "tpc" (want ` + allSchemes + `)`,
		},
		{name: "empty scheme", in: "://x:1", wantPart: "scheme", contains: []string{`unknown scheme ""`, allSchemes}},
		{name: "ws without host", in: "ws://", wantPart: "address", contains: []string{"missing host:port"}},
		{name: "ws query", in: "ws://127.0.0.1:80/x?y=1", wantPart: "path", contains: []string{`unexpected "?" in the path`}},
		{name: "ws bad port", in: "wss://h:99999/x", wantPart: "port", contains: []string{"port 99999 is out of range"}},
		{name: "tls without port", in: "TLS://example.com", wantPart: "port", contains: []string{"missing port"}},
		{name: "tcp missing address", in: "tcp://", wantPart: "address", contains: []string{"missing host:port", "tcp://127.0.0.1:7007"}},
		{name: "tcp6 missing address", in: "tcp6://", wantPart: "address", contains: []string{"missing host:port", "tcp6://[::1]:7007"}},
		{name: "missing port", in: "tcp://localhost", wantPart: "port", contains: []string{"missing port", "want tcp://127.0.0.1:7007"}},
		{name: "bare host missing port", in: "localhost", wantPart: "port", contains: []string{"missing port"}},
		{name: "empty port", in: "tcp://localhost:", wantPart: "port", contains: []string{`port "" is not a number`, "0 to 65535"}},
		{name: "port abc", in: "tcp://localhost:abc", wantPart: "port", contains: []string{`port "abc" is not a number`, "a port from 0 to 65535"}},
		{name: "signed port", in: "tcp://localhost:+80", wantPart: "port", contains: []string{`port "+80" is not a number`}},
		{name: "negative port", in: "udp://localhost:-1", wantPart: "port", contains: []string{`port "-1" is not a number`}},
		{name: "port 70000", in: "tcp://localhost:70000", wantPart: "port", contains: []string{"port 70000 is out of range", "a port from 0 to 65535"}},
		{name: "port 65536", in: "udp4://127.0.0.1:65536", wantPart: "port", contains: []string{"port 65536 is out of range"}},
		{name: "port beyond int", in: "tcp://localhost:99999999999999999999", wantPart: "port", contains: []string{"port 99999999999999999999 is out of range"}},
		{name: "bare port 70000", in: "70000", wantPart: "port", contains: []string{`bad endpoint "70000"`, "port 70000 is out of range"}},
		{name: "unbracketed IPv6", in: "::1:80", wantPart: "host", contains: []string{`bad endpoint "::1:80"`, "needs brackets", "(want [::1]:80, or [::1:80]:PORT for the address ::1:80)"}},
		{name: "unbracketed IPv6 with scheme", in: "tcp6://::1:80", wantPart: "host", contains: []string{"needs brackets", "(want tcp6://[::1]:80, or tcp6://[::1:80]:PORT for the address ::1:80)"}},
		{name: "unbracketed IPv6 and a 5-digit port", in: "::1:17090", wantPart: "host", contains: []string{"(want [::1]:17090)"}},
		{name: "unbracketed IPv6 without a port", in: "udp6://fe80::1", wantPart: "host", contains: []string{"(want udp6://[fe80::1]:PORT)"}},
		{name: "unbracketed IPv6 with a zone", in: "fe80::1%eth0:80", wantPart: "host", contains: []string{"(want [fe80::1%eth0]:80)"}},
		{name: "unix scheme without slashes", in: "unix:/tmp/x.sock", wantPart: "scheme", contains: []string{"a scheme is followed by ://", "(want unix:///tmp/x.sock)"}},
		{name: "unix scheme and a relative path", in: "unix:x.sock", wantPart: "scheme", contains: []string{"(want unix://x.sock)"}},
		{name: "tcp scheme without slashes", in: "tcp:8080", wantPart: "scheme", contains: []string{"(want tcp://:8080)"}},
		{name: "udp scheme without slashes", in: "UDP:127.0.0.1:53", wantPart: "scheme", contains: []string{"(want UDP://127.0.0.1:53)"}},
		{name: "tcp4 with IPv6", in: "tcp4://[::1]:80", wantPart: "host", contains: []string{"tcp4 needs an IPv4 address, not ::1", "tcp4://127.0.0.1:80"}},
		{name: "udp4 with IPv6", in: "udp4://[2001:db8::1]:53", wantPart: "host", contains: []string{"udp4 needs an IPv4 address"}},
		{name: "tcp6 with IPv4", in: "tcp6://127.0.0.1:80", wantPart: "host", contains: []string{"tcp6 needs an IPv6 address, not 127.0.0.1", "tcp6://[::1]:80"}},
		{name: "udp6 with IPv4", in: "udp6://10.0.0.1:53", wantPart: "host", contains: []string{"udp6 needs an IPv6 address"}},
		{name: "bad host name", in: "tcp://bad!host:80", wantPart: "host", contains: []string{`host "bad!host" is neither an IP address nor a valid host name`, "localhost"}},
		{name: "host label starts with hyphen", in: "tcp://-x.example:80", wantPart: "host", contains: []string{`host "-x.example"`}},
		{name: "host empty label", in: "tcp://a..b:80", wantPart: "host", contains: []string{`host "a..b"`}},
		{name: "host label too long", in: "tcp://" + strings.Repeat("a", 64) + ":80", wantPart: "host", contains: []string{"valid host name"}},
		{name: "bad zone host", in: "tcp://[%eth0]:80", wantPart: "host", contains: []string{"valid host name"}},
		{name: "trailing path", in: "tcp://localhost:80/x", wantPart: "address", contains: []string{`unexpected "/x" after the address`, "host:port only"}},
		{name: "trailing query", in: "udp://localhost:80?a=b", wantPart: "address", contains: []string{`unexpected "?a=b"`}},
		{name: "bracket without port", in: "tcp://[::1]", wantPart: "address", contains: []string{"missing port", "tcp://127.0.0.1:7007"}},
		{name: "unix empty path", in: "unix://", wantPart: "path", contains: []string{"missing socket path", "unix:///path/to/file.sock or unix://@abstract-name"}},
		{name: "unixgram empty path", in: "unixgram://", wantPart: "path", contains: []string{"missing socket path"}},
		{name: "unix empty abstract name", in: "unix://@", wantPart: "path", contains: []string{"abstract name is empty", "unix://@name"}},
		{
			name: "unix path of 108 bytes", in: "unix:///" + strings.Repeat("a", 107), wantPart: "path",
			contains: []string{"path is 108 bytes, longer than the 107 a Unix socket address holds", "a shorter path"},
		},
		{
			name: "abstract name of 109 bytes", in: "unixgram://@" + strings.Repeat("a", 108), wantPart: "path",
			contains: []string{"path is 109 bytes, longer than the 108 a Unix socket address holds"},
		},
		{name: "unixpacket long path", in: "unixpacket://" + strings.Repeat("x", 300), wantPart: "path", contains: []string{"path is 300 bytes"}},
		{name: "path with NUL", in: "unix:///tmp/a\x00b.sock", wantPart: "path", contains: []string{"path contains a NUL byte", "a file path"}},
		{
			name: "bare path", in: "/tmp/x.sock", wantPart: "scheme",
			contains: []string{"a path needs a scheme", "unix:///tmp/x.sock, unixgram:///tmp/x.sock or unixpacket:///tmp/x.sock"},
		},
		{name: "bare relative path", in: "./x.sock", wantPart: "scheme", contains: []string{"unix://./x.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := endpoint.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tt.in, got)
			}
			if got != (endpoint.Endpoint{}) {
				t.Errorf("Parse(%q) endpoint on error mismatch (-want +got):\n-%#v\n+%#v", tt.in, endpoint.Endpoint{}, got)
			}
			var pe *endpoint.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T (%v), want *endpoint.ParseError", tt.in, err, err)
			}
			if !errors.Is(err, sockit.ErrBadEndpoint) {
				t.Errorf("errors.Is(%v, sockit.ErrBadEndpoint) = false, want true", err)
			}
			if k := sockit.KindOf(err); k != sockit.KindBadEndpoint {
				t.Errorf("KindOf mismatch (-want +got):\n-%v\n+%v", sockit.KindBadEndpoint, k)
			}
			if pe.Part != tt.wantPart {
				t.Errorf("Part mismatch (-want +got):\n-%q\n+%q\n(error: %v)", tt.wantPart, pe.Part, err)
			}
			if pe.Input != tt.in {
				t.Errorf("Input mismatch (-want +got):\n-%q\n+%q", tt.in, pe.Input)
			}
			if pe.Reason == "" || pe.Want == "" {
				t.Errorf("Reason %q, Want %q: both must say something", pe.Reason, pe.Want)
			}
			msg := err.Error()
			if tt.wantMsg != "" && msg != tt.wantMsg {
				t.Errorf("Error() mismatch (-want +got):\n-%s\n+%s", tt.wantMsg, msg)
			}
			if !strings.HasPrefix(msg, "bad endpoint ") || !strings.HasSuffix(msg, " (want "+pe.Want+")") {
				t.Errorf("Error() = %q, want \"bad endpoint ...: reason (want %s)\"", msg, pe.Want)
			}
			for _, c := range tt.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("Error() = %q, want it to contain %q", msg, c)
				}
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *endpoint.ParseError
		want string
	}{
		{
			name: "with want",
			err:  &endpoint.ParseError{Input: "x", Part: "port", Reason: "missing port", Want: "tcp://127.0.0.1:7007"},
			want: `bad endpoint "x": missing port (want tcp://127.0.0.1:7007)`,
		},
		{
			name: "without want",
			err:  &endpoint.ParseError{Input: "x", Part: "port", Reason: "missing port"},
			want: `bad endpoint "x": missing port`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() mismatch (-want +got):\n-%s\n+%s", tt.want, got)
			}
			if !errors.Is(tt.err, sockit.ErrBadEndpoint) {
				t.Errorf("errors.Is(%v, sockit.ErrBadEndpoint) = false, want true", tt.err)
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in             string
		wantUnix       bool
		wantPacket     bool
		wantBoundaries bool
		wantAbstract   bool
	}{
		{in: "tcp://127.0.0.1:1"},
		{in: "tcp4://127.0.0.1:1"},
		{in: "tcp6://[::1]:1"},
		{in: "udp://127.0.0.1:1", wantPacket: true, wantBoundaries: true},
		{in: "udp4://127.0.0.1:1", wantPacket: true, wantBoundaries: true},
		{in: "udp6://[::1]:1", wantPacket: true, wantBoundaries: true},
		{in: "unix:///tmp/s", wantUnix: true},
		{in: "unix://@s", wantUnix: true, wantAbstract: true},
		{in: "unixgram:///tmp/s", wantUnix: true, wantPacket: true, wantBoundaries: true},
		{in: "unixgram://@s", wantUnix: true, wantPacket: true, wantBoundaries: true, wantAbstract: true},
		{in: "unixpacket:///tmp/s", wantUnix: true, wantBoundaries: true},
		{in: "unixpacket://@s", wantUnix: true, wantBoundaries: true, wantAbstract: true},
		{in: "unix://./@s", wantUnix: true}, // an @ later in the path is an ordinary file name
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			e := endpoint.MustParse(tt.in)
			checks := []struct {
				name string
				got  bool
				want bool
			}{
				{name: "IsUnix", got: e.IsUnix(), want: tt.wantUnix},
				{name: "IsPacket", got: e.IsPacket(), want: tt.wantPacket},
				{name: "KeepsBoundaries", got: e.KeepsBoundaries(), want: tt.wantBoundaries},
				{name: "IsAbstract", got: e.IsAbstract(), want: tt.wantAbstract},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s() mismatch (-want +got):\n-%v\n+%v", c.name, c.want, c.got)
				}
			}
		})
	}
}

// TestSchemesAllParse guards the exported list against schemes Parse rejects.
func TestSchemesAllParse(t *testing.T) {
	t.Parallel()
	if len(endpoint.Schemes) != 14 {
		t.Errorf("len(Schemes) mismatch (-want +got):\n-14\n+%d", len(endpoint.Schemes))
	}
	for _, s := range endpoint.Schemes {
		addr := "127.0.0.1:1"
		switch {
		case strings.HasPrefix(s, "unix"):
			addr = "/tmp/s.sock"
		case strings.HasSuffix(s, "6"):
			addr = "[::1]:1"
		}
		in := s + "://" + addr
		if s == "ws" || s == "wss" || s == "http" || s == "https" {
			in += "/x"
		}
		e, err := endpoint.Parse(in)
		if err != nil {
			t.Errorf("Parse(%q) error: %v", in, err)
			continue
		}
		if e.String() != in {
			t.Errorf("String() mismatch (-want +got):\n-%s\n+%s", in, e.String())
		}
	}
}

func TestMustParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantPanic bool
	}{
		{name: "good", in: "tcp://127.0.0.1:7007"},
		{name: "bad", in: "tpc://x", wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				endpoint.MustParse(tt.in)
			}()
			if gotPanic := recovered != nil; gotPanic != tt.wantPanic {
				t.Fatalf("MustParse(%q) panicked = %v (%v), want %v", tt.in, gotPanic, recovered, tt.wantPanic)
			}
			if tt.wantPanic {
				err, ok := recovered.(error)
				if !ok || !errors.Is(err, sockit.ErrBadEndpoint) {
					t.Errorf("MustParse(%q) panic value %#v, want an error matching sockit.ErrBadEndpoint", tt.in, recovered)
				}
			}
		})
	}
}

func TestWithAddr(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := endpoint.MustParse("tcp://127.0.0.1:0")
	got := e.WithAddr(ln.Addr())
	want := endpoint.Endpoint{Scheme: "tcp", Addr: ln.Addr().String()}
	if got != want {
		t.Errorf("WithAddr mismatch (-want +got):\n-%#v\n+%#v", want, got)
	}
	if e.Addr != "127.0.0.1:0" {
		t.Errorf("WithAddr changed its receiver: Addr = %q", e.Addr)
	}
	again, err := endpoint.Parse(got.String())
	if err != nil || again != got {
		t.Errorf("Parse(%q) = %#v, %v; want %#v, nil", got.String(), again, err, got)
	}
}

// TestUnixPathLimit checks Parse's length limit against the kernel's: a path
// Parse accepts must not be refused by bind(2) as too long, and one it
// rejects must be.
func TestUnixPathLimit(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skipf("the 108-byte sun_path and the abstract namespace are Linux's; GOOS is %s", runtime.GOOS)
	}
	dir, err := os.MkdirTemp("", "ep")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The directory's name makes the abstract names unique to this run.
	unique := filepath.Base(dir)
	pad := func(prefix string, n int) string { return prefix + strings.Repeat("p", n-len(prefix)) }
	tests := []struct {
		name string
		addr string
	}{
		{name: "path of 107 bytes", addr: pad(dir+"/", 107)},
		{name: "path of 108 bytes", addr: pad(dir+"/", 108)},
		{name: "abstract name of 107 bytes", addr: pad("@"+unique+"a", 107)},
		{name: "abstract name of 108 bytes", addr: pad("@"+unique+"b", 108)},
		{name: "abstract name of 109 bytes", addr: pad("@"+unique+"c", 109)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, perr := endpoint.Parse("unix://" + tt.addr)
			ln, lerr := net.Listen("unix", tt.addr)
			if lerr == nil {
				ln.Close()
			}
			tooLong := errors.Is(lerr, syscall.EINVAL)
			if lerr != nil && !tooLong {
				t.Skipf("listen unix %s: %v (not a length error, so it says nothing of the limit)", tt.addr, lerr)
			}
			if gotAccept, wantAccept := perr == nil, !tooLong; gotAccept != wantAccept {
				t.Errorf("Parse accepts %d-byte %q = %v (%v), but bind(2) accepts it = %v (%v)",
					len(tt.addr), tt.addr, gotAccept, perr, wantAccept, lerr)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want endpoint.Endpoint
	}{
		{in: "tls://127.0.0.1:7443", want: endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:7443"}},
		{in: "ws://localhost:7080/echo", want: endpoint.Endpoint{Scheme: "tcp", Addr: "localhost:7080"}},
		{in: "wss://[::1]/x", want: endpoint.Endpoint{Scheme: "tcp", Addr: "[::1]:443"}},
		{in: "http://127.0.0.1:8080/anything", want: endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:8080"}},
		{in: "https://localhost", want: endpoint.Endpoint{Scheme: "tcp", Addr: "localhost:443"}},
		{in: "tcp6://[::1]:7", want: endpoint.Endpoint{Scheme: "tcp6", Addr: "[::1]:7"}},
		{in: "udp://127.0.0.1:53", want: endpoint.Endpoint{Scheme: "udp", Addr: "127.0.0.1:53"}},
		{in: "unixpacket:///tmp/p.sock", want: endpoint.Endpoint{Scheme: "unixpacket", Addr: "/tmp/p.sock"}},
	}
	for _, tt := range tests {
		ep := endpoint.MustParse(tt.in)
		got := ep.Transport()
		if got != tt.want {
			t.Errorf("MustParse(%q).Transport() = %#v, want %#v", tt.in, got, tt.want)
		}
		if got.IsLayered() {
			t.Errorf("MustParse(%q).Transport() = %v is layered", tt.in, got)
		}
		if got.Network() != ep.Network() {
			t.Errorf("MustParse(%q): the transport's network %q differs from the endpoint's %q", tt.in, got.Network(), ep.Network())
		}
	}
}
