//go:build !linux

package bench_test

const helperEnv = "SOCKIT_BENCH_EMFILE_HELPER"

func helperMain() int { return 2 }
