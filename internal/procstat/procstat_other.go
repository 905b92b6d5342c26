//go:build !linux

// Package procstat reads what Linux's /proc says about a process and the
// machine; elsewhere every call fails with ErrUnsupported.
package procstat

import (
	"errors"
	"time"
)

// ErrUnsupported: there is no /proc to read here.
var ErrUnsupported = errors.New("procstat: needs Linux /proc")

func CPU(pid int) (time.Duration, error)                         { return 0, ErrUnsupported }
func RSS(pid int) (int64, error)                                 { return 0, ErrUnsupported }
func PeakRSS(pid int) (int64, error)                             { return 0, ErrUnsupported }
func CPUTime(name string) (busy, total time.Duration, err error) { return 0, 0, ErrUnsupported }
func RaiseNoFile() (uint64, error)                               { return 0, ErrUnsupported }
func MemTotal() (int64, error)                                   { return 0, ErrUnsupported }
