package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/sockit/sockit"
)

// PayloadKind is what the messages carry.
type PayloadKind string

// The payload kinds.
const (
	PayloadRandom PayloadKind = "random" // pseudo-random bytes, different on every connection and message
	PayloadZeros  PayloadKind = "zeros"  // all zero bytes
	PayloadFile   PayloadKind = "file"   // each message is the content of a file
)

// Payload is the content of the messages.
type Payload struct {
	Kind PayloadKind
	Data []byte // PayloadFile: the file's content
}

// ParsePayload reads a payload's text form: random, zeros or @file (the
// file's content).
func ParsePayload(s string) (Payload, error) {
	switch {
	case s == "" || s == string(PayloadRandom):
		return Payload{Kind: PayloadRandom}, nil
	case s == string(PayloadZeros):
		return Payload{Kind: PayloadZeros}, nil
	case strings.HasPrefix(s, "@"):
		data, err := os.ReadFile(s[1:])
		if err != nil {
			return Payload{}, &sockit.OptionError{Owner: optionsOwner, Fields: []string{"Payload"}, Reason: "file: " + err.Error(), Err: err}
		}
		if len(data) == 0 {
			return Payload{}, badOption("Payload", fmt.Sprintf("file %s is empty", s[1:]))
		}
		if len(data) > MaxSize {
			return Payload{}, badOption("Payload", fmt.Sprintf("file %s has %d bytes; at most %d", s[1:], len(data), MaxSize))
		}
		return Payload{Kind: PayloadFile, Data: data}, nil
	}
	return Payload{}, badOption("Payload", fmt.Sprintf("%q is not random, zeros or @file", s))
}

// stream is the byte sequence every connection sends: byte o of a
// connection's stream is pool[(seed+o) % period]. pool holds period + size
// bytes, so that any message — size bytes from any offset — is one
// contiguous slice of it, written without a copy. Verification compares
// what comes back with the same function of the offset.
type stream struct {
	pool    []byte
	period  int
	size    int
	perConn bool // each connection starts at its own place in the pool
}

// randomPeriod is the random stream's period: a prime, so that message k
// of a connection starts at a different place in the pool than message
// k+1 for any message size below it.
const randomPeriod = 65521

func newStream(p Payload, size int) *stream {
	s := &stream{size: size}
	switch p.Kind {
	case PayloadFile:
		s.period = len(p.Data)
		s.pool = append(append(make([]byte, 0, 2*len(p.Data)), p.Data...), p.Data...)
	case PayloadZeros:
		s.period = 1
		s.pool = make([]byte, 1+size)
	default:
		s.perConn = true
		s.period = randomPeriod
		if size >= randomPeriod {
			s.period = size | 1 // odd, so consecutive messages still differ
		}
		s.pool = make([]byte, s.period+size)
		rng := rand.NewChaCha8([32]byte{'s', 'o', 'c', 'k', 'i', 't'})
		rng.Read(s.pool[:s.period])
		copy(s.pool[s.period:], s.pool[:size])
	}
	return s
}

// seedFor is where connection id's stream starts in the pool.
func (s *stream) seedFor(id int) int {
	if !s.perConn {
		return 0 // zeros; a file, whose every message is the whole file
	}
	return int(uint64(id) * 2654435761 % uint64(s.period))
}

// message returns the size bytes at stream offset off of the connection
// seeded seed. off is always a multiple of size.
func (s *stream) message(seed int, off int64) []byte {
	start := int((int64(seed) + off) % int64(s.period))
	return s.pool[start : start+s.size]
}

// check compares got with the stream at offset off and returns the index
// of the first byte that differs, or -1.
func (s *stream) check(seed int, off int64, got []byte) int {
	done := 0
	for done < len(got) {
		start := int((int64(seed) + off + int64(done)) % int64(s.period))
		n := min(len(got)-done, len(s.pool)-start)
		want := s.pool[start : start+n]
		part := got[done : done+n]
		if string(want) != string(part) { // compiled to a memequal, no allocation
			for i := range part {
				if part[i] != want[i] {
					return done + i
				}
			}
		}
		done += n
	}
	return -1
}

// expected is the byte the stream has at offset off.
func (s *stream) expected(seed int, off int64) byte {
	return s.pool[(int64(seed)+off)%int64(s.period)]
}
