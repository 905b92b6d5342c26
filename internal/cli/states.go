package cli

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/tcpstate"
)

// stateNotes is the --states part of the -v narration: after each step on a
// TCP socket it reads the socket's state (getsockopt TCP_INFO, or sock_diag
// once the descriptor is closed or has handed the connection to a TIME_WAIT
// mini-socket) and says which states the socket went through since the
// previous step: "[state ESTABLISHED → FIN_WAIT_1]", or "[state
// ESTABLISHED]" when nothing changed. On loopback the peer answers within microseconds, often
// before the step's system call returns, so states passed through unseen
// are filled in from the TCP state diagram and shown in parentheses.
//
// Steps reach it from several goroutines (one per engine loop), hence the
// lock; a descriptor number closed on one loop and reused on another can
// momentarily mix up two sockets' histories.
type stateNotes struct {
	mu    sync.Mutex
	socks map[int]*sockHistory // by descriptor
	told  bool                 // the platform's lack of TCP_INFO was said once
}

type sockHistory struct {
	local, remote netip.AddrPort
	state         tcpstate.State
}

func newStateNotes() *stateNotes { return &stateNotes{socks: map[int]*sockHistory{}} }

// stateNote is what --states says after one step: the socket's state now
// (State), the state at its previous step (From, 0 when there was none)
// and the states it passed through on the way (Path, ending at State; the
// ones before the last were inferred from the TCP state diagram), or Warn
// once when the platform cannot tell. The zero stateNote says nothing.
type stateNote struct {
	State, From tcpstate.State
	Path        []tcpstate.State
	Warn        string
}

// text is the note as the narration prints it: " [state ESTABLISHED →
// (FIN_WAIT_1) FIN_WAIT_2]", " [state LISTEN]", or "".
func (s stateNote) text() string {
	switch {
	case s.Warn != "":
		return " [--states: " + s.Warn + "]"
	case s.State == 0:
		return ""
	case len(s.Path) == 0:
		return " [state " + s.State.String() + "]"
	}
	parts := []string{s.From.String()}
	for i, st := range s.Path {
		if i < len(s.Path)-1 {
			parts = append(parts, "("+st.String()+")")
		} else {
			parts = append(parts, st.String())
		}
	}
	return " [state " + strings.Join(parts, " → ") + "]"
}

// note returns the state note for e, the zero one when e is not a step on
// a TCP socket whose state can be read.
func (n *stateNotes) note(e sockit.Event) stateNote {
	if e.FD < 0 || e.Err != nil || !strings.HasPrefix(e.Net, "tcp") {
		return stateNote{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch e.Step {
	case sockit.StepListen:
		return n.readFD(e.FD, nil)
	case sockit.StepConnected:
		h := &sockHistory{local: addrPortOf(e.Local), remote: addrPortOf(e.Peer), state: tcpstate.Closed}
		n.socks[e.FD] = h
		return n.readFD(e.FD, h)
	case sockit.StepAccept:
		h := &sockHistory{local: addrPortOf(e.Local), remote: addrPortOf(e.Peer), state: tcpstate.Listen}
		n.socks[e.FD] = h
		return n.readFD(e.FD, h)
	case sockit.StepRead, sockit.StepWrite, sockit.StepShutdown:
		if h := n.socks[e.FD]; h != nil {
			return n.readFD(e.FD, h)
		}
	case sockit.StepClose:
		h := n.socks[e.FD]
		if h == nil {
			return stateNote{}
		}
		// The descriptor is gone (and its number may already be reused):
		// ask sock_diag about the connection instead.
		delete(n.socks, e.FD)
		return h.advance(lookupState(h))
	}
	return stateNote{}
}

// readFD reads the state of fd; h, when known, gets the transition.
func (n *stateNotes) readFD(fd int, h *sockHistory) stateNote {
	st, err := tcpstate.StateOf(fd)
	if errors.Is(err, tcpstate.ErrUnsupported) && !n.told {
		n.told = true
		return stateNote{Warn: err.Error()}
	}
	if err != nil {
		return stateNote{}
	}
	if h == nil {
		return stateNote{State: st}
	}
	if st == tcpstate.Closed {
		st = lookupState(h)
	}
	return h.advance(st)
}

// lookupState asks sock_diag about h's connection: TIME_WAIT, an orphan's
// FIN_WAIT, or CLOSED when the kernel has forgotten it.
func lookupState(h *sockHistory) tcpstate.State {
	if !h.local.IsValid() || !h.remote.IsValid() {
		return tcpstate.Closed
	}
	s, found, err := tcpstate.Lookup(h.local, h.remote)
	if err != nil || !found {
		return tcpstate.Closed
	}
	return s.State
}

// advance moves h to st and notes the way there.
func (h *sockHistory) advance(st tcpstate.State) stateNote {
	from := h.state
	h.state = st
	return stateNote{State: st, From: from, Path: tcpstate.Path(from, st)}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
