//go:build !linux

package tcpstate

import (
	"context"
	"fmt"
)

type stateTracer struct{}

func newStateTracer(Filter) (*stateTracer, error) {
	return nil, fmt.Errorf("tracepoint sock:inet_sock_set_state: %w", ErrUnsupported)
}

func (*stateTracer) run(context.Context, func(Transition)) error { return ErrUnsupported }

func (*stateTracer) close() error { return nil }
