//go:build !linux

package bench

import "time"

// Elsewhere the run reports no CPU or memory figures.
func processCPU(pid int) (time.Duration, bool)         { return 0, false }
func processRSS(pid int) (int64, bool)                 { return 0, false }
func raiseFDLimit() uint64                             { return 0 }
func machineCPU() (busy, total time.Duration, ok bool) { return 0, 0, false }
func kernelRelease() string                            { return "" }
