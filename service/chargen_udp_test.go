package service_test

import (
	"bytes"
	"testing"

	"github.com/sockit/sockit/service"
)

// Chargen never answers a datagram with more than it carried (and never
// more than RFC 864's 512 characters): an empty datagram, the cheapest a
// forger can send, gets an empty answer, not up to 512 bytes aimed at
// whoever the forged source names.
func TestChargenUDPNoAmplification(t *testing.T) {
	t.Parallel()
	_, addr := serveUDP(t, service.Chargen{})
	c := dialUDP(t, addr)
	for _, tt := range []struct {
		name string
		size int
		max  int
	}{
		{name: "empty", size: 0, max: 0},
		{name: "one byte", size: 1, max: 1},
		{name: "ten bytes", size: 10, max: 10},
		{name: "2000 bytes", size: 2000, max: 512},
	} {
		longest := 0
		for i := 0; i < 64; i++ {
			got := roundTrip(t, c, bytes.Repeat([]byte("q"), tt.size))
			if len(got) > tt.max {
				t.Fatalf("%s: answer %d is %d bytes, want at most %d", tt.name, i, len(got), tt.max)
			}
			if err := checkChargen(got, 0); err != nil {
				t.Fatalf("%s: answer %d: %v", tt.name, i, err)
			}
			longest = max(longest, len(got))
		}
		if tt.max > 0 && longest == 0 {
			t.Errorf("%s: 64 answers, all empty; want random lengths up to %d", tt.name, tt.max)
		}
	}
}
