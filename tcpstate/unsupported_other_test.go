//go:build !linux

package tcpstate_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// Off Linux every entry point says plainly that it is not available.
func TestUnsupported(t *testing.T) {
	_, err1 := tcpstate.Snapshot(tcpstate.Filter{})
	_, _, err2 := tcpstate.Lookup(netip.AddrPort{}, netip.AddrPort{})
	_, err3 := tcpstate.StateOf(0)
	_, err4 := tcpstate.NewStateTracer(tcpstate.Filter{})
	_, err5 := tcpstate.NewCapture(tcpstate.Filter{})
	_, err6 := tcpstate.Probe(context.Background(), "tcp", testkit.Refused(t), tcpstate.ProbeOptions{})
	_, err7 := tcpstate.NewPoller(tcpstate.Filter{}, 0)
	for i, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if !errors.Is(err, tcpstate.ErrUnsupported) {
			t.Errorf("entry point %d: %v, want ErrUnsupported", i+1, err)
		}
	}
}
