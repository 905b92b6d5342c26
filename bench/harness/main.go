//go:build linux

// Command harness benchmarks sockit's echo server against two C echo
// servers, on epoll and on io_uring, and against the Go engines gnet and
// netpoll, side by side, on one machine:
//
//	go run ./bench/harness            # the full run, about 20–30 minutes; writes bench/results.md
//	go run ./bench/harness -quick     # a smoke test, about 2 minutes
//
// It builds `sockit` once, compiles cecho.c and cecho_uring.c (liburing)
// with gcc -O2 and builds the peers in bench/peers, each a Go module of its
// own; a server whose program does not build or that does not start here
// (io_uring disabled, a backend sockit lacks) is skipped with a note. Then
// for each case it runs the servers in turn (epoll, uring, std, c, c-uring,
// gnet, netpoll, epoll, …) for a number of rounds, each server a fresh
// process pinned to CPU 0 (with GOMAXPROCS=1, or 2 for the two-loop epoll
// variants), and the load generator (this same program, started again
// with -loadgen) pinned to CPU 1. It reports medians over the rounds as a
// Markdown table on stdout and in -out.
//
// The load generator drives every connection from one thread with
// non-blocking sockets on epoll. In the open-loop cases each message has a
// time it is due, and its latency counts from then (no coordinated
// omission); every echoed byte is checked against what was sent.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sockit/sockit/internal/procstat"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the harness's flags.
type options struct {
	quick                  bool
	rounds                 int
	cases                  string
	servers                string
	httpServers            string
	out                    string
	jsonOut                string
	perf                   string
	keep                   bool
	spin                   bool
	nice                   int
	quietWait, quietBudget time.Duration
	loadgen                string // internal: run as a load generator with this spec
	args                   []string
}

func run(args []string) int {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "smoke test: 1 round, short durations, fewer idle connections (for CI)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per case and server (0 = 3, or 1 with -quick)")
	fs.StringVar(&o.cases, "cases", "a,b,c,d,e,f", "cases to run: a, b, c, d, e, f, and the HTTP cases h1, h2, h3, h4 (see the report)")
	fs.StringVar(&o.servers, "servers", defaultServers, "servers to compare, in the order they take turns, from epoll, uring, std, c, c-uring, gnet, netpoll, epoll-shared2, epoll-reuseport2; those that cannot be built or started here are skipped with a note")
	fs.StringVar(&o.httpServers, "http-servers", defaultHTTPServers, "HTTP servers to compare in the HTTP cases (h1 … h4), in turn: http (sockit), nethttp (Go's net/http), gnet-http (github.com/panjf2000/gnet/v2), the peers each built from its own module under bench/peers")
	fs.StringVar(&o.out, "out", "", "write the Markdown report here too (default bench/results.md; none with -quick)")
	fs.StringVar(&o.jsonOut, "json", "", "write every round's raw numbers here as JSON")
	fs.StringVar(&o.perf, "perf", "", "profile each server with perf record over each measured window, reports in this directory (inflates CPU numbers)")
	fs.BoolVar(&o.spin, "spin", true, "the load generator polls without sleeping (see LoadSpec.Spin); false: it sleeps in epoll_pwait2 until the next send is due")
	fs.DurationVar(&o.quietWait, "quiet", -1, "before each run, wait up to this long for other processes to use under 0.25 CPU (default 20s, 0 with -quick; 0 = don't wait)")
	fs.DurationVar(&o.quietBudget, "quiet-budget", 3*time.Minute, "the most the whole harness waits for quiet")
	fs.IntVar(&o.nice, "nice", 0, "run servers and load generators at this niceness (negative: ahead of other processes; needs root)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory with the built servers")
	fs.StringVar(&o.loadgen, "loadgen", "", "internal: run the load generator with this JSON LoadSpec")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.loadgen != "" {
		return loadgenMain(o.loadgen)
	}
	o.args = args
	if o.quietWait < 0 {
		o.quietWait = 20 * time.Second
		if o.quick {
			o.quietWait = 0
		}
	}
	if err := harness(&o); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	return 0
}

// loadgenMain is the load generator process: it runs one spec and prints
// "window" when the measured window starts, then "result JSON". An idle
// run holds its connections after the result until stdin ends.
func loadgenMain(specJSON string) int {
	var spec LoadSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Println("error", err)
		return 2
	}
	procstat.RaiseNoFile()
	w := bufio.NewWriter(os.Stdout)
	say := func(s string) {
		w.WriteString(s + "\n")
		w.Flush()
	}
	emit := func(r *LoadResult) {
		b, _ := json.Marshal(r)
		say("result " + string(b))
	}
	res, err := runLoad(spec, hooks{window: func() { say("window") }, idle: emit})
	if err != nil {
		say("error " + err.Error())
		return 1
	}
	if !spec.Idle {
		emit(res)
	}
	return 0
}

// loaderLine reads the load generator's lines until its result, calling
// onWindow at "window".
func loaderLines(r io.Reader, onWindow func()) (*LoadResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "window":
			if onWindow != nil {
				onWindow()
			}
		case "result":
			var res LoadResult
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				return nil, fmt.Errorf("load generator: bad result: %w", err)
			}
			return &res, nil
		case "error":
			return nil, errors.New("load generator: " + rest)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("load generator ended without a result")
}

// durations of a run, full or quick.
type timing struct {
	warmup, window, drain time.Duration
}

func (o *options) timing(c caseDef) timing {
	if o.quick {
		return timing{warmup: 300 * time.Millisecond, window: time.Second, drain: time.Second}
	}
	if c.churn {
		return timing{warmup: 500 * time.Millisecond, window: 4 * time.Second, drain: time.Second}
	}
	if c.closed {
		return timing{warmup: time.Second, window: 6 * time.Second, drain: 2 * time.Second}
	}
	return timing{warmup: 2 * time.Second, window: 8 * time.Second, drain: 3 * time.Second}
}
