package tcpstate_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// serveTest runs handle for every connection to a new listener on host
// until the test ends, and returns the listener's address.
func serveTest(t *testing.T, host string, handle func(*net.TCPConn)) string {
	t.Helper()
	return testkit.ServeAt(t, net.JoinHostPort(host, "0"), func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		handle(c.(*net.TCPConn))
	}).String()
}

// echo answers every byte and half-closes after the client's FIN, as
// sockit's echo service does.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
	io.Copy(io.Discard, c)
}

// closeOnEOF reads until the client's FIN and closes without answering.
func closeOnEOF(c *net.TCPConn) { io.Copy(io.Discard, c) }

// daytime answers at once and closes first (RFC 867).
func daytime(c *net.TCPConn) { c.Write([]byte(time.Now().Format(time.RFC1123) + "\n")) }

// probeWait bounds each wait of a probe in the tests: what a peer on
// loopback does takes microseconds, but a loaded CI machine running -race
// may take long to schedule it, and a test that waited too little would
// call an echo server quiet. A quiet peer costs this much per test, so
// the tests run in parallel.
const probeWait = time.Second

// probeBoth probes an echo server and one that closes on EOF, at once.
func probeBoth(t *testing.T, host string) (good, bad *tcpstate.ProbeReport) {
	t.Helper()
	o := tcpstate.ProbeOptions{Wait: probeWait, ConnectTimeout: waitLimit}
	goodAddr, badAddr := serveTest(t, host, echo), serveTest(t, host, closeOnEOF)
	var wg sync.WaitGroup
	var errGood, errBad error
	wg.Go(func() { good, errGood = tcpstate.Probe(context.Background(), "tcp", goodAddr, o) })
	wg.Go(func() { bad, errBad = tcpstate.Probe(context.Background(), "tcp", badAddr, o) })
	wg.Wait()
	if errGood != nil || errBad != nil {
		t.Fatalf("Probe: echo %v, close-on-EOF %v", errGood, errBad)
	}
	return good, bad
}

func TestProbeTellsEchoFromCloseOnEOF(t *testing.T) {
	t.Parallel()
	for _, host := range loopbacks {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			testProbeTellsEchoFromCloseOnEOF(t, host)
		})
	}
}

func testProbeTellsEchoFromCloseOnEOF(t *testing.T, host string) {
	good, bad := probeBoth(t, host)
	if h := good.HalfClose; h.Outcome != tcpstate.OutcomeAnswered || h.Received != h.Sent || h.AfterPeerFIN != tcpstate.TimeWait {
		t.Errorf("%s echo: half-close %+v, want answered with every byte, then TIME_WAIT", host, h)
	}
	if h := bad.HalfClose; h.Outcome != tcpstate.OutcomeClosed || h.Received != 0 {
		t.Errorf("%s close-on-EOF: half-close %+v, want closed without an answer", host, h)
	}
	if u := good.UnreadClose; u.Outcome != tcpstate.OutcomeReset || u.Unread == 0 || u.After != tcpstate.Closed || u.PeerState != tcpstate.Closed {
		t.Errorf("%s echo: unread close %+v, want a reset with unread bytes and both sides gone", host, u)
	}
	if u := bad.UnreadClose; u.Outcome != tcpstate.OutcomeSkipped || u.Reason == "" {
		t.Errorf("%s close-on-EOF: unread close %+v, want skipped with a reason (it never answers)", host, u)
	}
	for _, r := range []*tcpstate.ProbeReport{good, bad} {
		if l := r.Linger0; l.Outcome != tcpstate.OutcomeReset || l.After != tcpstate.Closed {
			t.Errorf("%s: SO_LINGER 0 %+v, want a reset", host, l)
		}
		if tw := r.TimeWait; tw.OursAfterHalfClose != tcpstate.TimeWait || tw.Holder != "us" || tw.PeerClosesFirst || tw.PeerResets {
			t.Errorf("%s: TIME_WAIT %+v, want held by us after test 1, and a peer that waits for the client", host, tw)
		}
	}
}

// A peer that resets a connection once data comes: the half-close ends in
// a reset, not an answer or a FIN.
func TestProbeResettingPeer(t *testing.T) {
	t.Parallel()
	resetOnData := func(c *net.TCPConn) {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			c.SetLinger(0)
		}
	}
	r, err := tcpstate.Probe(context.Background(), "tcp", serveTest(t, "127.0.0.1", resetOnData), tcpstate.ProbeOptions{Wait: probeWait, ConnectTimeout: waitLimit})
	if err != nil {
		t.Fatal(err)
	}
	if h := r.HalfClose; h.Outcome != tcpstate.OutcomeReset || h.Received != 0 {
		t.Errorf("half-close %+v, want reset", h)
	}
	if l := r.Linger0; l.Outcome != tcpstate.OutcomeReset {
		t.Errorf("SO_LINGER 0 %+v, want reset", l)
	}
}

func TestProbeFindsPeerThatClosesFirst(t *testing.T) {
	t.Parallel()
	r, err := tcpstate.Probe(context.Background(), "tcp", serveTest(t, "127.0.0.1", daytime), tcpstate.ProbeOptions{Wait: probeWait, ConnectTimeout: waitLimit})
	if err != nil {
		t.Fatal(err)
	}
	tw := r.TimeWait
	if !tw.PeerClosesFirst || tw.Holder != "peer" || tw.PeerState != tcpstate.TimeWait || tw.PeerLeft <= 0 {
		t.Errorf("TIME_WAIT %+v, want the peer to close first and hold TIME_WAIT", tw)
	}
}

func TestProbeRefused(t *testing.T) {
	t.Parallel()
	_, err := tcpstate.Probe(context.Background(), "tcp", testkit.Refused(t), tcpstate.ProbeOptions{})
	if sockit.KindOf(err) != sockit.KindRefused {
		t.Fatalf("Probe(closed port) = %v, want connection refused", err)
	}
}
