//go:build !linux

package tcpstate

import "context"

func probe(context.Context, string, string, ProbeOptions) (*ProbeReport, error) {
	return nil, ErrUnsupported
}
