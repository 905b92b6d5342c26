package tcpstate

import (
	"context"
	"net/netip"
	"time"
)

// ProbeOptions configure Probe. The zero value uses the defaults.
type ProbeOptions struct {
	// Message is what each test sends; nil means "sockit probe\n".
	Message []byte
	// Wait bounds each wait for the peer: for its answer, its FIN, or for
	// it to close first. 0 means 1 second. A peer that stays quiet longer
	// is reported as quiet, so the probe takes up to a few times Wait.
	Wait time.Duration
	// ConnectTimeout bounds each connect; 0 means 5 seconds.
	ConnectTimeout time.Duration
}

func (o ProbeOptions) message() []byte {
	if o.Message == nil {
		return []byte("sockit probe\n")
	}
	return o.Message
}

func (o ProbeOptions) wait() time.Duration {
	if o.Wait <= 0 {
		return time.Second
	}
	return o.Wait
}

func (o ProbeOptions) connectTimeout() time.Duration {
	if o.ConnectTimeout <= 0 {
		return 5 * time.Second
	}
	return o.ConnectTimeout
}

// Outcome is how a connection ended in one probe test.
type Outcome string

// The outcomes.
const (
	OutcomeAnswered Outcome = "answered" // the peer sent data, then FIN
	OutcomeClosed   Outcome = "closed"   // the peer sent FIN without data
	OutcomeReset    Outcome = "reset"    // an RST ended the connection
	OutcomeQuiet    Outcome = "quiet"    // nothing came within ProbeOptions.Wait
	OutcomeFIN      Outcome = "fin"      // an orderly close: the socket went on to FIN_WAIT or TIME_WAIT
	OutcomeSkipped  Outcome = "skipped"  // the test could not run; see Reason
)

// ProbeReport is what Probe found out. Each part names the connection it
// used, from our side.
type ProbeReport struct {
	Addr        string      `json:"addr"`
	HalfClose   HalfClose   `json:"half_close"`
	UnreadClose UnreadClose `json:"unread_close"`
	Linger0     Linger0     `json:"linger0"`
	TimeWait    TimeWaitWho `json:"time_wait"`
}

// Conn names one probe connection: our end and the peer's.
type Conn struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
}

// HalfClose is test 1: send Message, shutdown(SHUT_WR), read until EOF.
// A peer that drains and answers (echo) ends with OutcomeAnswered; one
// that closes on EOF without answering ends with OutcomeClosed.
type HalfClose struct {
	Conn
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Outcome  Outcome `json:"outcome"`
	// AfterShutdown is our state right after shutdown(SHUT_WR): FIN_WAIT_1
	// until the peer ACKs our FIN, then FIN_WAIT_2.
	AfterShutdown State `json:"after_shutdown"`
	// AfterPeerFIN is our state once the peer's FIN came (TIME_WAIT), or
	// when the wait ended.
	AfterPeerFIN State `json:"after_peer_fin"`
	// PeerState is the peer socket's state then, when the peer is on this
	// machine (sock_diag sees it); 0 otherwise. CLOSED means it is gone.
	PeerState State         `json:"peer_state,omitempty"`
	Took      time.Duration `json:"took_ns"`
}

// UnreadClose is test 2: send Message, wait for the peer's answer, leave it
// unread and close(2). tcp(7) and RFC 2525 §2.17 say the kernel then
// resets the connection instead of sending FIN, so no TIME_WAIT stays.
type UnreadClose struct {
	Conn
	Unread  int     `json:"unread"`
	Outcome Outcome `json:"outcome"`
	After   State   `json:"after"` // our socket right after close: CLOSED when reset
	// PeerState is the peer socket's state after our close, when the peer
	// is on this machine: CLOSED (gone) when it took the RST.
	PeerState State  `json:"peer_state,omitempty"`
	Reason    string `json:"reason,omitempty"` // why the test was skipped
}

// Linger0 is test 3: set SO_LINGER with a zero timeout and close(2). The
// kernel resets the connection at once: no FIN, no TIME_WAIT.
type Linger0 struct {
	Conn
	Outcome   Outcome `json:"outcome"`
	After     State   `json:"after"`
	PeerState State   `json:"peer_state,omitempty"`
}

// TimeWaitWho is test 4 with what test 1 left: who holds TIME_WAIT, and
// for how long.
type TimeWaitWho struct {
	// OursAfterHalfClose is test 1's connection, which we closed first:
	// TIME_WAIT with Left of its 60s to go, or CLOSED when the peer closed
	// first or reset.
	OursAfterHalfClose State         `json:"ours_after_half_close"`
	Left               time.Duration `json:"left_ns,omitempty"`
	// PeerClosesFirst is whether the peer closed a connection on its own,
	// within Wait, without our sending anything (a daytime server does;
	// an echo server waits for the client).
	PeerClosesFirst bool `json:"peer_closes_first"`
	// PeerResets is whether the peer, instead, reset that connection on
	// its own (an RST, so no one holds TIME_WAIT for it).
	PeerResets bool `json:"peer_resets,omitempty"`
	Conn       Conn `json:"conn"`
	// Holder is "us", "peer" or "none" (the peer reset): the side that
	// sent FIN first holds TIME_WAIT. PeerState and PeerLeft are the
	// peer's TIME_WAIT as sock_diag shows it, when the peer is on this
	// machine.
	Holder    string        `json:"holder"`
	PeerState State         `json:"peer_state,omitempty"`
	PeerLeft  time.Duration `json:"peer_left_ns,omitempty"`
}

// Probe connects to a TCP address ("host:port") several times and tests
// how the peer handles the end of a connection. It returns a
// *sockit.Error with Op "connect" when it cannot connect. It needs Linux
// (TCP_INFO and sock_diag).
func Probe(ctx context.Context, network, addr string, o ProbeOptions) (*ProbeReport, error) {
	return probe(ctx, network, addr, o)
}
