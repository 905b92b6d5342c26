//go:build !linux

// Command harness benchmarks sockit's echo server against a minimal C epoll
// echo server. It needs Linux (epoll, /proc, taskset).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "harness: the benchmark harness runs on Linux only")
	os.Exit(1)
}
