package endpoint_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/endpoint"
)

// FuzzParse checks that Parse never panics, that what it accepts survives a
// round trip through String, and that what it rejects is a *ParseError.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", " ", "8080", ":8080", "host:8080", "[::1]:7007", "::1:80", "/tmp/x.sock", "./x.sock",
		"tcp://127.0.0.1:7007", "tcp4://127.0.0.1:80", "tcp6://[::1]:80", "tcp6://[fe80::1%eth0]:22",
		"udp://localhost:53", "udp4://0.0.0.0:0", "udp6://[::]:5353", "TCP://Example.COM:80",
		"unix:///tmp/s.sock", "unix://@name", "unixgram://@", "unixpacket://./p.sock", "unix://",
		"tpc://x", "ws://", "tls://x:1", "://", "tcp://", "tcp://localhost", "tcp://localhost:abc",
		"tcp://localhost:70000", "tcp4://[::1]:80", "tcp6://127.0.0.1:80", "tcp://bad!host:80",
		"tcp://localhost:80/x", "tcp://[127.0.0.1]:80", "tcp://[::1]", "tcp://1.2.3.4%x:80",
		"unix:///a\x00b", "unix:///" + strings.Repeat("a", 107), "99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := endpoint.Parse(s)
		if err != nil {
			var pe *endpoint.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T (%v), want *endpoint.ParseError", s, err, err)
			}
			if !errors.Is(err, sockit.ErrBadEndpoint) {
				t.Fatalf("Parse(%q) error %v does not match sockit.ErrBadEndpoint", s, err)
			}
			if pe.Input != s {
				t.Fatalf("Parse(%q) ParseError.Input mismatch (-want +got):\n-%q\n+%q", s, s, pe.Input)
			}
			if e != (endpoint.Endpoint{}) {
				t.Fatalf("Parse(%q) returned %#v with an error, want the zero Endpoint", s, e)
			}
			return
		}
		if !slices.Contains(endpoint.Schemes, e.Scheme) {
			t.Fatalf("Parse(%q) scheme %q is not in Schemes", s, e.Scheme)
		}
		again, err := endpoint.Parse(e.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, but Parse(%q) error: %v", s, e, e.String(), err)
		}
		if again != e {
			t.Fatalf("round trip of %q mismatch (-want +got):\n-%#v\n+%#v", s, e, again)
		}
	})
}
