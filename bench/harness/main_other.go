//go:build !linux

// Command harness benchmarks sockit's echo server against C echo servers
// (epoll, io_uring) and other Go engines. It needs Linux (epoll, io_uring,
// /proc, taskset).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "harness: the benchmark harness runs on Linux only")
	os.Exit(1)
}
