package bench_test

import (
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// A refused port is counted by kind, the run still ends by itself, and the
// first error keeps its errno for the caller.
func TestRefused(t *testing.T) {
	o := quick(endpoint.Endpoint{Scheme: "tcp", Addr: testkit.Refused(t)})
	res := run(t, o)
	if res.ConnsUp != 0 || !hasError(res, "connect: connection refused") {
		t.Fatalf("conns up %d, errors %v; want 8 refusals", res.ConnsUp, res.Errors)
	}
	if res.Errors[0].Count != 8 {
		t.Errorf("counted %d refusals, want 8", res.Errors[0].Count)
	}
	if res.ConnectError() == nil {
		t.Error("ConnectError is nil")
	}
}

// Peers that reset are counted, and their unanswered bytes are missing.
func TestResetCounted(t *testing.T) {
	ep, _ := server(t, "tcp", testkit.Resetter{})
	res := run(t, quick(ep))
	if !hasError(res, "connection reset") {
		t.Errorf("errors %v, want resets counted", res.Errors)
	}
	if res.Check.ShortConns != 8 {
		t.Errorf("short connections %d, want all 8", res.Check.ShortConns)
	}
}

// A unixpacket message longer than the socket's send buffer fails its
// write with EMSGSIZE, named as such and counted once per connection (not
// again when the failure closes the connection).
func TestUnixpacketTooLongCountedOnce(t *testing.T) {
	ep, _ := server(t, "unixpacket", service.Echo{})
	o := quick(ep)
	o.Conns, o.Size = 2, 8<<20 // above any default net.core.wmem_default
	res := run(t, o)
	if len(res.Errors) != 1 || res.Errors[0].Kind != "write: message too long" || res.Errors[0].Count != 2 {
		t.Errorf("errors %+v, want one write: message too long per connection", res.Errors)
	}
}
