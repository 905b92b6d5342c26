package tunnel

import (
	"errors"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// TestFeedSplits: the handshake takes a proxy's answer however it is
// split, stops exactly at its end (what follows is the tunnel's), and
// says what the proxy said.
func TestFeedSplits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, proxy, target string
		answer              string
		wantErr             error
	}{
		{name: "socks5, no auth, IPv4 reply", proxy: "socks5://p:1", target: "127.0.0.1:9",
			answer: "\x05\x00" + "\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x09"},
		{name: "socks5, user, name reply", proxy: "socks5://u:pw@p:1", target: "example.test:80",
			answer: "\x05\x02" + "\x01\x00" + "\x05\x00\x00\x03\x04host\x00\x50"},
		{name: "socks5, refused", proxy: "socks5://p:1", target: "[::1]:9",
			answer: "\x05\x00" + "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", wantErr: syscall.ECONNREFUSED},
		{name: "socks5, bad password", proxy: "socks5://u:pw@p:1", target: "127.0.0.1:9",
			answer: "\x05\x02" + "\x01\x01", wantErr: ErrProxyAuth},
		{name: "http, 200", proxy: "http://p:1", target: "127.0.0.1:9",
			answer: "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n"},
		{name: "http, 407", proxy: "http://p:1", target: "127.0.0.1:9",
			answer: "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", wantErr: ErrProxyAuth},
	}
	for _, tt := range tests {
		for split := 1; split <= len(tt.answer); split++ {
			u, _ := url.Parse(tt.proxy)
			h, _, err := New(u, tt.target)
			if err != nil {
				t.Fatalf("%s: New: %v", tt.name, err)
			}
			in := []byte(tt.answer + "tunnel bytes")
			var done bool
			var ferr error
			for len(in) > 0 && !done && ferr == nil {
				n := min(split, len(in))
				var used int
				used, _, done, ferr = h.Feed(in[:n])
				in = in[used:]
				if used == 0 && !done && ferr == nil {
					t.Fatalf("%s, split %d: Feed took nothing of %q", tt.name, split, in[:n])
				}
			}
			switch {
			case tt.wantErr != nil && !errors.Is(ferr, tt.wantErr):
				t.Fatalf("%s, split %d: error %v, want %v", tt.name, split, ferr, tt.wantErr)
			case tt.wantErr == nil && (ferr != nil || !done || string(in) != "tunnel bytes"):
				t.Fatalf("%s, split %d: done %v, err %v, left %q; want open with the tunnel's bytes left", tt.name, split, done, ferr, in)
			}
		}
	}
}

// FuzzFeed feeds any bytes, in any split, to both handshakes: no panic,
// never more taken than given, and an open tunnel only after a whole
// answer.
func FuzzFeed(f *testing.F) {
	f.Add([]byte("\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x09"), uint8(3), false)
	f.Add([]byte("\x05\x02\x01\x00\x05\x00\x00\x03\x04host\x00\x50"), uint8(1), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nrest"), uint8(5), true)
	f.Fuzz(func(t *testing.T, b []byte, split uint8, http bool) {
		proxy := "socks5://u:p@h:1"
		if http {
			proxy = "http://h:1"
		}
		u, _ := url.Parse(proxy)
		h, _, err := New(u, "example.test:80")
		if err != nil {
			t.Fatal(err)
		}
		step := int(split%16) + 1
		for len(b) > 0 {
			n := min(step, len(b))
			used, _, done, err := h.Feed(b[:n])
			if used < 0 || used > n {
				t.Fatalf("Feed took %d of %d", used, n)
			}
			if done || err != nil || used == 0 {
				return
			}
			b = b[used:]
		}
	})
}
