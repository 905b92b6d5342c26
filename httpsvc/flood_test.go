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

// A client that pipelines many requests before it reads any response is
// held to a bounded share of the server's memory (reading it stops while
// its responses wait), is not idle meanwhile, and then gets every
// response, in order.
func TestPipelinedFlood(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const idle = 100 * time.Millisecond
		svc := httpsvc.New(httpsvc.Options{MaxOutput: 64 << 10, IdleTimeout: idle})
		cfg := &engine.Config{Backend: b, HighWatermark: 64 << 10, SendBuf: 16 << 10}
		srv, ep := testkit.ServeEngine(t, cfg, "tcp", svc)
		c := dial(t, ep.Addr)
		const n = 3000
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, "GET /anything/%d HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\n\r\n", i, strings.Repeat("p", 100))
		}
		done := make(chan error, 1)
		go func() { _, err := c.c.Write([]byte(sb.String())); done <- err }()
		most := int64(0)
		testkit.Eventually(t, "the server to answer some", func() bool {
			most = max(most, srv.Stats().Held)
			return svc.Stats().Requests > 10
		})
		// Its requests wait, so it is not idle: it keeps its connection
		// past IdleTimeout. (Nothing shows a timer that did not fire;
		// this waits for it to have been due, three times over.)
		time.Sleep(3 * idle)
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
		if err := testkit.Receive(t, done, "the write"); err != nil {
			t.Fatal(err)
		}
		// It wrote about 450 KB of requests for 1.5 MB of responses.
		if most > 256<<10 {
			t.Errorf("the server held up to %d bytes for one client that pipelines ahead of what it reads", most)
		}
	})
}
