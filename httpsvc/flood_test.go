package httpsvc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

// flood is n pipelined requests of /anything/0 … /anything/n-1, about
// 150 bytes each, for responses of about 500.
func flood(n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "GET /anything/%d HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\n\r\n", i, strings.Repeat("p", 100))
	}
	return []byte(sb.String())
}

// A client that pipelines many requests before it reads any response is
// held to a bounded share of the server's memory (its further requests
// wait, unread, while its responses do), and then gets every response,
// in order; half a head after them still gets its 408.
func TestPipelinedFlood(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		svc := httpsvc.New(httpsvc.Options{MaxOutput: 64 << 10, HeaderTimeout: 200 * time.Millisecond})
		cfg := &engine.Config{Backend: b, HighWatermark: 64 << 10, SendBuf: 16 << 10}
		srv, ep := testkit.ServeEngine(t, cfg, "tcp", svc)
		c := dial(t, ep.Addr)
		const n = 3000
		reqs := append(flood(n), "GET /never-whole HTTP/1.1\r\n"...)
		done := make(chan error, 1)
		go func() { _, err := c.c.Write(reqs); done <- err }()
		most := int64(0)
		testkit.Eventually(t, "the server to answer some", func() bool {
			most = max(most, srv.Stats().Held)
			return svc.Stats().Requests > 10
		})
		for i := range n {
			r, err := c.tryRead("GET")
			if err != nil {
				t.Fatalf("response %d: %v (stats %+v)", i, err, svc.Stats())
			}
			if d := describe(t, r); d.Request != i+1 || d.Path != fmt.Sprintf("/anything/%d", i) {
				t.Fatalf("response %d: %+v", i, d)
			}
			most = max(most, srv.Stats().Held)
		}
		if r := c.read("GET"); r.status != 408 {
			t.Errorf("the half head after them: %d, want 408", r.status)
		}
		c.expectEOF()
		if err := testkit.Receive(t, done, "the write"); err != nil {
			t.Fatal(err)
		}
		// It wrote about 450 KB of requests for 1.5 MB of responses; the
		// server holds a few reads of them at a time.
		if most > 512<<10 {
			t.Errorf("the server held up to %d bytes for one client that pipelines ahead of what it reads", most)
		}
	})
}

// A client that reads nothing of its responses for IdleTimeout is closed
// (reset once the engine's Linger runs out), whether its requests wait or
// a file is being sent to it.
func TestNotReadingTimesOut(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		dir, _ := root(t)
		svc := httpsvc.New(httpsvc.Options{Root: dir, MaxOutput: 64 << 10, IdleTimeout: 300 * time.Millisecond})
		cfg := &engine.Config{Backend: b, HighWatermark: 64 << 10, SendBuf: 16 << 10, Linger: 50 * time.Millisecond}
		srv, ep := testkit.ServeEngine(t, cfg, "tcp", svc)
		reqs := flood(3000)
		pipelined := testkit.DialSmall(t, ep.Addr, 4096)
		go pipelined.Write(reqs) // ends with the connection
		file := testkit.DialSmall(t, ep.Addr, 4096)
		file.Write([]byte(get("/big.bin")))
		testkit.Eventually(t, "both to be closed", func() bool {
			return srv.Stats().Active == 0 && svc.Stats().Timeouts == 2
		})
	})
}

// The idle timer does not cut a head under way short: that is
// HeaderTimeout's (here the longer of the two).
func TestHeadOutlastsIdle(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		_, addr := serve(t, b, httpsvc.Options{IdleTimeout: 50 * time.Millisecond, HeaderTimeout: 300 * time.Millisecond})
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\nHost:")
		if r := c.read("GET"); r.status != 408 {
			t.Errorf("a slow head: %d, want 408", r.status)
		}
		c.expectEOF()
	})
}

// A client that pipelines requests and then reads nothing for a while
// holds the server back: the server stops reading it, with part of a
// request head read and the rest waiting in the socket. That time is the
// server's, not the head's: once the client reads, every request is
// answered, none with 408.
func TestPipelinedPauseIsNotHeadTime(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const headTimeout = 100 * time.Millisecond
		svc := httpsvc.New(httpsvc.Options{MaxOutput: 64 << 10, HeaderTimeout: headTimeout, IdleTimeout: testkit.Timeout})
		cfg := &engine.Config{Backend: b, HighWatermark: 64 << 10, SendBuf: 16 << 10}
		srv, ep := testkit.ServeEngine(t, cfg, "tcp", svc)
		c := dial(t, ep.Addr)
		const n = 3000
		done := make(chan error, 1)
		go func() { _, err := c.c.Write(flood(n)); done <- err }()
		testkit.Eventually(t, "the server to hold back", func() bool {
			return svc.Stats().Requests > 10 && srv.Stats().Held > 0
		})
		// The client reads nothing for a span of several HeaderTimeouts:
		// the span is the case under test, not a stand-in for an event.
		time.Sleep(5 * headTimeout)
		for i := range n {
			r, err := c.tryRead("GET")
			if err != nil {
				t.Fatalf("response %d: %v (stats %+v)", i, err, svc.Stats())
			}
			if d := describe(t, r); d.Request != i+1 {
				t.Fatalf("response %d: %+v", i, d)
			}
		}
		if err := testkit.Receive(t, done, "the write"); err != nil {
			t.Fatal(err)
		}
	})
}
