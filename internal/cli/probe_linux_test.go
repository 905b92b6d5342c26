package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

func probeOpts(ep string) (*ProbeOptions, *bytes.Buffer) {
	out := new(bytes.Buffer)
	return &ProbeOptions{IO: IOStreams{In: strings.NewReader(""), Out: out, ErrOut: out}, Endpoint: ep,
		Wait: probeWait, ConnectTimeout: testkit.Timeout}, out
}

// probeWait bounds each wait of a probe in the tests: loopback peers answer
// in microseconds, but a loaded CI machine under -race may take a while to
// run them, and too short a wait would call an echo server quiet. A quiet
// peer costs this much per test, so the probes run in parallel.
const probeWait = time.Second

// probe tells sockit's echo service, which answers after a half-close, from
// a server that closes at EOF.
func TestProbeEchoAndCloseOnEOF(t *testing.T) {
	t.Parallel()
	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		testProbeEcho(t)
	})
	t.Run("close on EOF", func(t *testing.T) {
		t.Parallel()
		testProbeCloseOnEOF(t)
	})
}

func testProbeEcho(t *testing.T) {
	srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}})
	opts, out := probeOpts(srv.endpoint(0))
	if err := runProbe(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "probe of echo", out.String(),
		"1. Half-close: we sent 13 bytes", "✓ the peer drained it and answered after our FIN: 13 bytes back",
		"our socket: ESTABLISHED → ", "FIN_WAIT_1", "→ TIME_WAIT",
		"2. Close with unread data", "our kernel sent RST, not FIN", "the peer's socket (on this machine) is gone too",
		"3. SO_LINGER 0", "RST at once",
		"4. TIME_WAIT", "we hold it:", "it leaves closing to the\n   client")
}

func testProbeCloseOnEOF(t *testing.T) {
	eof := rawServer(t, func(c *net.TCPConn, stop <-chan struct{}) {
		c.SetDeadline(time.Now().Add(testkit.Timeout))
		io.Copy(io.Discard, c)
	})
	opts, out := probeOpts(eof)
	if err := runProbe(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "probe of close-on-EOF", out.String(), "✗ the peer closed at our FIN without answering",
		"2. Close with unread data", "– not tested: the peer did not answer our message")
}

// The words for a peer that resets on its own, and for one that closes
// first and holds TIME_WAIT.
func TestProbeTimeWaitWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tw   tcpstate.TimeWaitWho
		want string
	}{
		{tw: tcpstate.TimeWaitWho{PeerResets: true, Holder: "none"}, want: "the peer reset a connection on its own"},
		{tw: tcpstate.TimeWaitWho{PeerClosesFirst: true, Holder: "peer", PeerState: tcpstate.TimeWait, PeerLeft: 59 * time.Second},
			want: "so it holds TIME_WAIT: 59.0s of 60s left on its side"},
		{tw: tcpstate.TimeWaitWho{PeerClosesFirst: true, Holder: "peer"}, want: "on another machine"},
		{tw: tcpstate.TimeWaitWho{Holder: "us"}, want: "it leaves closing to the\n   client"},
	} {
		var out bytes.Buffer
		writeTimeWait(&out, &tcpstate.ProbeReport{TimeWait: tc.tw}, time.Second)
		testkit.MustContain(t, "time wait", out.String(), tc.want)
	}
}

func TestProbeJSON(t *testing.T) {
	t.Parallel()
	srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp6://[::1]:0"}})
	opts, out := probeOpts(srv.endpoint(0))
	opts.JSON = true
	if err := runProbe(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var r tcpstate.ProbeReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	if r.HalfClose.Outcome != tcpstate.OutcomeAnswered || r.TimeWait.OursAfterHalfClose != tcpstate.TimeWait {
		t.Errorf("report %+v, want an answer after half-close and TIME_WAIT held by us", r)
	}
}

func TestProbeErrors(t *testing.T) {
	t.Parallel()
	opts, _ := probeOpts(refused(t))
	testkit.MustContain(t, "refused", errorOf(t, runProbe(context.Background(), opts), ExitConnect),
		"connect tcp 127.0.0.1:", "connection refused (nothing listens there)")
	opts, _ = probeOpts("udp://" + testkit.QuietUDP(t))
	testkit.MustContain(t, "udp", errorOf(t, runProbe(context.Background(), opts), ExitUsage), "probe tests how a TCP connection ends")
	opts, _ = probeOpts("tpc://x")
	errorOf(t, runProbe(context.Background(), opts), ExitUsage)
}
