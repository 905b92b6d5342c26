//go:build !linux

package tcpstate

import (
	"context"
	"fmt"
)

type capture struct{}

func newCapture(Filter) (*capture, error) {
	return nil, fmt.Errorf("packet capture: %w", ErrUnsupported)
}

func (*capture) run(context.Context, func(Packet)) error { return ErrUnsupported }

func (*capture) close() error { return nil }
