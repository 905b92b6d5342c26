package cli

import (
	"context"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// --states: the client that half-closes first sees SYN_SENT → ESTABLISHED,
// FIN_WAIT_1 → FIN_WAIT_2 and TIME_WAIT; the echo server sees CLOSE_WAIT,
// then LAST_ACK and CLOSED.
func TestStatesNarration(t *testing.T) {
	t.Parallel()
	for _, b := range testkit.Backends() {
		engine := string(b)
		srv := startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Engine: engine, Verbose: true, States: true})
		opts, out, errOut := sendOpts(srv.endpoint(0), "hello")
		opts.Verbose, opts.States = true, true
		if err := runSend(context.Background(), opts); err != nil {
			t.Fatalf("runSend = %v\n%s", err, errOut)
		}
		if out.String() != "hello\n" {
			t.Errorf("printed %q", out.String())
		}
		testkit.MustContain(t, "client narration", errOut.String(),
			"→ 127.0.0.1:", "[state CLOSED → (SYN_SENT) → ESTABLISHED]",
			"write 6 bytes [state ESTABLISHED]",
			"shutdown(SHUT_WR) [state ",
			"read 0: peer sent FIN [state ",
			"close [state TIME_WAIT]")
		testkit.MustContain(t, "FIN_WAIT_1 on the client", errOut.String(), "FIN_WAIT_1")
		server := srv.errOut.WaitFor(t, "close [state")
		testkit.MustContain(t, engine+" server narration", server,
			"[state LISTEN → (SYN_RECV) → ", "read 0: peer sent FIN [state ", "CLOSE_WAIT]", "LAST_ACK")
		testkit.MustContain(t, "listen", server, "listen backlog=", "[state LISTEN]")
	}
}
