package bench_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/service"
)

// Open loop: the run sends at the rate asked, whatever the echoes do.
func TestOpenLoopRate(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Rate = 2000
	o.Warmup = 0
	o.Duration = time.Second
	res := run(t, o)
	if !res.OK() {
		t.Fatalf("errors %v, verification %+v", res.Errors, res.Check)
	}
	// 2000 msgs/s for one second: each connection's messages are due on a
	// fixed schedule, so the number due in the window — timed, or never
	// sent — is exact up to one per connection at the edges.
	if got := uint64(res.Latency.Count) + res.Unsent; got < 2000-8 || got > 2000+8 {
		t.Errorf("%d messages timed + %d unsent in the window, want 2000 ± 8", res.Latency.Count, res.Unsent)
	}
}

// Sink only sends; the server's byte count matches what was sent.
func TestSink(t *testing.T) {
	ep, srv := server(t, "tcp", service.Discard{})
	o := quick(ep)
	o.Mode = bench.ModeSink
	res := run(t, o)
	if len(res.Errors) != 0 || res.TotalSentBytes == 0 {
		t.Fatalf("errors %v, sent %d bytes", res.Errors, res.TotalSentBytes)
	}
	if st := srv.Stats(); st.BytesIn != res.TotalSentBytes {
		t.Errorf("server read %d bytes, bench sent %d", st.BytesIn, res.TotalSentBytes)
	}
}

// Source only reads.
func TestSource(t *testing.T) {
	ep, _ := server(t, "tcp", service.Chargen{})
	o := quick(ep)
	o.Mode = bench.ModeSource
	res := run(t, o)
	if res.TotalRecvBytes == 0 || res.TotalSentBytes != 0 || res.BytesPerSec == 0 {
		t.Fatalf("source run: received %d, sent %d, %v B/s", res.TotalRecvBytes, res.TotalSentBytes, res.BytesPerSec)
	}
}

// A server that accepts and then reads nothing: the run still ends by
// itself once the window and the drain are over, counts what was due and
// never sent, the connections cut at the drain's end and the bytes that
// never came back, and reports no latency rather than a latency of zero.
func TestStalledServer(t *testing.T) {
	ep, _ := server(t, "tcp", staller{})
	o := quick(ep)
	o.Rate = 1000
	o.Drain = 300 * time.Millisecond
	begin := time.Now()
	res := run(t, o)
	if took, most := time.Since(begin), o.Warmup+o.Duration+o.Drain+3*time.Second; took > most {
		t.Errorf("the run took %v; want it over soon after warm-up, window and drain (%v)", took, o.Warmup+o.Duration+o.Drain)
	}
	if res.Latency.Count != 0 || res.Unsent == 0 {
		t.Errorf("latency %+v, %d unsent; want nothing timed and the due messages counted unsent", res.Latency, res.Unsent)
	}
	if !hasError(res, "drain: cut off") || res.Check.ShortConns != 8 || res.Check.MissingBytes != res.TotalSentBytes {
		t.Errorf("errors %v, verification %+v, sent %d bytes; want 8 connections cut, all bytes missing", res.Errors, res.Check, res.TotalSentBytes)
	}
	var text strings.Builder
	res.WriteText(&text)
	if !strings.Contains(text.String(), "latency       none measured") || strings.Contains(text.String(), "p50 0 ") {
		t.Errorf("text report:\n%s", text.String())
	}
	validJSON(t, res)
}

// Open loop over UDP against a server that answers nothing: what was due
// in the window and never sent, because the pipeline stayed full, is
// counted as on a stream.
func TestUDPOpenLoopUnsent(t *testing.T) {
	ep, _ := server(t, "udp", staller{})
	o := quick(ep)
	o.Conns, o.Depth, o.Rate = 2, 1, 1000
	o.Drain = 100 * time.Millisecond
	res := run(t, o)
	// 1000/s over 350 ms of warm-up and window, one message sent per
	// socket before the pipeline filled: about 348 never went out.
	if res.Unsent < 250 || res.Unsent > 360 {
		t.Errorf("%d unsent, want about 348 (sent %d)", res.Unsent, res.TotalSentMsgs)
	}
	validJSON(t, res)
}
