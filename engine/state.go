package engine

// connState is where a connection is in its life. Every backend keeps one
// per connection and moves it only through on, with the events its I/O
// produces; the table below is the whole of the lifecycle contract (half-
// close, flush before FIN, Close discarding input until the peer's FIN,
// Abort), written once.
//
// The states pair the two directions the way TCP does:
//
//	            reading              writing
//	open        yes                  yes
//	flushing    yes                  output drains, then FIN (CloseWrite)
//	halfClosed  yes                  FIN sent               (FIN_WAIT on our side)
//	peerClosed  the peer's FIN came  yes                    (CLOSE_WAIT)
//	lastFlush   the peer's FIN came  output drains, then FIN, then done
//	closing     input discarded      output drains, then FIN (Close)
//	closingShut input discarded      FIN sent; done at the peer's FIN
//
// then done (close the descriptor), reset (close it with RST) and closed.
type connState uint8

const (
	stNone       connState = iota // not a state: "no change" in the table
	stConnecting                  // a dial waiting for connect(2) to complete
	stOpen
	stFlushing
	stHalfClosed
	stPeerClosed
	stLastFlush
	stClosing
	stClosingShut
	stDone   // to be closed with a plain close(2): finished, or failed
	stReset  // to be closed with RST (SO_LINGER 0): Abort, or a timeout that must not pass for an orderly end
	stClosed // the descriptor is closed and OnClose has been called
	numStates
)

var stateNames = [numStates]string{
	stNone: "none", stConnecting: "connecting", stOpen: "open", stFlushing: "flushing",
	stHalfClosed: "half-closed", stPeerClosed: "peer-closed", stLastFlush: "last-flush",
	stClosing: "closing", stClosingShut: "closing-shut", stDone: "done", stReset: "reset", stClosed: "closed",
}

func (s connState) String() string { return stateNames[s] }

// event is what happened to a connection.
type event uint8

const (
	evConnected  event = iota // a dial's connect(2) completed
	evPeerFIN                 // read returned 0: the peer will send nothing more
	evCloseWrite              // CloseWrite: FIN once output is flushed
	evClose                   // Close: as CloseWrite, and discard input until the peer's FIN, bounded by Linger
	evFINSent                 // shutdown(SHUT_WR) was made (the backend does it when finDue says so)
	evAbort                   // Abort, or Linger or WriteTimeout ran out: end with RST
	evFail                    // an I/O error, too much input, Shutdown's last resort: end with close(2)
	evClosed                  // the backend closed the descriptor
	numEvents
)

var eventNames = [numEvents]string{
	evConnected: "connected", evPeerFIN: "peer FIN", evCloseWrite: "CloseWrite", evClose: "Close",
	evFINSent: "FIN sent", evAbort: "abort", evFail: "fail", evClosed: "closed",
}

func (e event) String() string { return eventNames[e] }

// action is what the backend must do after a transition, besides what the
// new state tells by itself.
type action uint8

const (
	// actPeerClose: call the handler's OnPeerClose now.
	actPeerClose action = 1 << iota
	// actLinger: start Close's Linger deadline, unless it runs already.
	actLinger
)

type transition struct {
	to  connState // stNone: no change
	act action
}

// transitions is the lifecycle. A pair it does not name changes nothing:
// a second CloseWrite, a Close after the FIN of a Close, any event after
// the descriptor is closed.
var transitions = [numStates][numEvents]transition{
	stConnecting: {
		evConnected: {stOpen, 0},
		evAbort:     {stReset, 0},
		evFail:      {stDone, 0},
		evClosed:    {stClosed, 0},
	},
	stOpen: {
		evPeerFIN:    {stPeerClosed, actPeerClose},
		evCloseWrite: {stFlushing, 0},
		evClose:      {stClosing, actLinger},
		evAbort:      {stReset, 0},
		evFail:       {stDone, 0},
		evClosed:     {stClosed, 0},
	},
	stFlushing: {
		evPeerFIN: {stLastFlush, actPeerClose},
		evClose:   {stClosing, actLinger},
		evFINSent: {stHalfClosed, 0},
		evAbort:   {stReset, 0},
		evFail:    {stDone, 0},
		evClosed:  {stClosed, 0},
	},
	stHalfClosed: {
		evPeerFIN: {stDone, actPeerClose}, // both FINs: the orderly end
		evClose:   {stClosingShut, actLinger},
		evAbort:   {stReset, 0},
		evFail:    {stDone, 0},
		evClosed:  {stClosed, 0},
	},
	stPeerClosed: {
		evCloseWrite: {stLastFlush, 0},
		evClose:      {stLastFlush, actLinger},
		evAbort:      {stReset, 0},
		evFail:       {stDone, 0},
		evClosed:     {stClosed, 0},
	},
	stLastFlush: {
		evClose:   {stNone, actLinger},
		evFINSent: {stDone, 0}, // both FINs: the orderly end
		evAbort:   {stReset, 0},
		evFail:    {stDone, 0},
		evClosed:  {stClosed, 0},
	},
	stClosing: {
		evPeerFIN: {stLastFlush, 0}, // input is being discarded: the handler is not told
		evFINSent: {stClosingShut, 0},
		evAbort:   {stReset, 0},
		evFail:    {stDone, 0},
		evClosed:  {stClosed, 0},
	},
	stClosingShut: {
		evPeerFIN: {stDone, 0},
		evAbort:   {stReset, 0},
		evFail:    {stDone, 0},
		evClosed:  {stClosed, 0},
	},
	stDone: {
		evAbort:  {stReset, 0}, // an Abort that comes before the close still resets
		evClosed: {stClosed, 0},
	},
	stReset: {
		evClosed: {stClosed, 0},
	},
}

// on moves s through ev and returns what the backend must do.
func (s *connState) on(ev event) action {
	t := transitions[*s][ev]
	if t.to != stNone {
		*s = t.to
	}
	return t.act
}

// reads reports whether input is still read in s (paused or not).
func (s connState) reads() bool {
	switch s {
	case stOpen, stFlushing, stHalfClosed, stClosing, stClosingShut:
		return true
	}
	return false
}

// discards reports whether input read in s is dropped instead of handed
// to the handler (Close was asked for). Backpressure never stops reading
// then: the peer's FIN must get through.
func (s connState) discards() bool { return s == stClosing || s == stClosingShut }

// flushing reports whether s waits for output to drain before its FIN:
// once nothing is pending, the backend sends FIN and reports evFINSent.
func (s connState) flushing() bool {
	return s == stFlushing || s == stLastFlush || s == stClosing
}

// queues reports whether output can still be queued in s: until the FIN,
// so that data accepted before a close request goes out ahead of it.
func (s connState) queues() bool {
	switch s {
	case stOpen, stFlushing, stPeerClosed, stLastFlush, stClosing:
		return true
	}
	return false
}

// produces reports whether a Drainer may be asked for more output in s:
// no close has been asked for, so the output is not final.
func (s connState) produces() bool { return s == stOpen || s == stPeerClosed }

// ending reports whether the connection must be closed now (and with RST,
// for stReset).
func (s connState) ending() bool { return s == stDone || s == stReset }

// live reports whether s is a connection that is neither ending nor
// closed.
func (s connState) live() bool { return s != stNone && s < stDone }
