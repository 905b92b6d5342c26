// Package service holds the classic Internet test services as engine
// handlers: echo (RFC 862), discard (RFC 863), chargen (RFC 864) and daytime
// (RFC 867). Each has a stream Handler for tcp, unix and unixpacket and a
// PacketHandler for udp and unixgram. A Guard stands in front of the
// PacketHandlers: it refuses datagrams whose forged source would make a
// service answer itself, another service or a whole network, and limits
// the answers each source gets.
package service

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
)

// Names lists the services Lookup knows.
var Names = []string{"echo", "discard", "chargen", "daytime"}

// Lookup returns the stream and datagram handlers of the named service.
func Lookup(name string) (engine.Handler, engine.PacketHandler, error) {
	switch name {
	case "echo":
		return Echo{}, Echo{}, nil
	case "discard":
		return Discard{}, Discard{}, nil
	case "chargen":
		return Chargen{}, Chargen{}, nil
	case "daytime":
		return Daytime{}, Daytime{}, nil
	}
	return nil, nil, sockit.BadOption("service.Lookup", "name", fmt.Sprintf("names an unknown service %q (want %s)", name, strings.Join(Names, ", ")))
}

// Echo sends back every byte it receives (RFC 862). When the client
// half-closes, Echo finishes sending what it holds and then half-closes too:
// the four-way teardown of a socket tutorial.
type Echo struct{}

func (Echo) OnOpen(engine.Conn) {}

func (Echo) OnData(c engine.Conn, in []byte) int {
	if _, err := c.Write(in); err != nil {
		c.Abort()
	}
	return len(in)
}

func (Echo) OnPeerClose(c engine.Conn)  { c.CloseWrite() }
func (Echo) OnClose(engine.Conn, error) {}
func (Echo) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if from != nil {
		pc.WriteTo(p, from)
	}
}

// Discard reads and drops everything (RFC 863), and closes when the client
// half-closes.
type Discard struct{}

func (Discard) OnOpen(engine.Conn)                           {}
func (Discard) OnData(_ engine.Conn, in []byte) int          { return len(in) }
func (Discard) OnPeerClose(c engine.Conn)                    { c.Close() }
func (Discard) OnClose(engine.Conn, error)                   {}
func (Discard) OnPacket(engine.PacketConn, []byte, net.Addr) {}

// chargenLines is one full cycle of the RFC 864 pattern: 95 lines of 72
// printable characters, each starting one character further along the
// printable ASCII range, ended by CRLF.
var chargenLines = func() []byte {
	const first, count, width = ' ', 95, 72
	b := make([]byte, 0, count*(width+2))
	for i := 0; i < count; i++ {
		for j := 0; j < width; j++ {
			b = append(b, byte(first+(i+j)%count))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

// ChargenPattern returns n bytes of the chargen stream from its start, for
// clients and tests that check what they received.
func ChargenPattern(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, chargenLines[:min(len(chargenLines), n-len(out))]...)
	}
	return out
}

// Chargen sends the RFC 864 character pattern until the client closes the
// connection, ignoring what it receives; it writes as output drains, so a
// slow client slows it down rather than growing the server. A half-close
// from the client does not stop it (the RFC stops on the client's close).
// Over datagrams it answers each one with a random 0 to 512 characters of
// the pattern (RFC 864), but never more than the datagram it answers
// carried: a datagram's source can be forged, and an answer larger than the
// question would make chargen an amplifier aimed wherever the forger
// likes. An empty datagram gets an empty answer.
//
// Echo, Chargen and Daytime answer every datagram from anyone: on a network
// where strangers can send, serve them behind a Guard, which refuses
// forged sources that would loop and rate-limits the rest.
type Chargen struct{}

func (Chargen) OnOpen(c engine.Conn)                { c.Write(chargenLines) }
func (Chargen) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (Chargen) OnPeerClose(engine.Conn)             {}
func (Chargen) OnClose(engine.Conn, error)          {}

// OnDrain keeps a few pattern cycles queued.
func (Chargen) OnDrain(c engine.Conn) {
	for i := 0; i < 8; i++ {
		if _, err := c.Write(chargenLines); err != nil {
			return
		}
	}
}

func (Chargen) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if from != nil {
		pc.WriteTo(chargenLines[:chargenAnswerLen(len(p))], from)
	}
}

// chargenMaxDatagram is the most characters Chargen sends in answer to one
// datagram (RFC 864).
const chargenMaxDatagram = 512

// chargenAnswerLen returns the length of Chargen's answer to a datagram of
// n bytes: random, from 0 to n or chargenMaxDatagram, whichever is less.
func chargenAnswerLen(n int) int { return rand.IntN(min(n, chargenMaxDatagram) + 1) }

// Daytime sends the current date and time as one human-readable line and
// closes (RFC 867). Now, if set, replaces time.Now.
type Daytime struct {
	Now func() time.Time
}

// DaytimeLayout is the line Daytime sends, before its CRLF.
const DaytimeLayout = "Monday, January 2, 2006 15:04:05-MST"

func (d Daytime) line() []byte {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return []byte(now().Format(DaytimeLayout) + "\r\n")
}

func (d Daytime) OnOpen(c engine.Conn) {
	c.Write(d.line())
	c.Close()
}
func (Daytime) OnData(_ engine.Conn, in []byte) int { return len(in) }
func (Daytime) OnPeerClose(engine.Conn)             {}
func (Daytime) OnClose(engine.Conn, error)          {}
func (d Daytime) OnPacket(pc engine.PacketConn, _ []byte, from net.Addr) {
	if from != nil {
		pc.WriteTo(d.line(), from)
	}
}
