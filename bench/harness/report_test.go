//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestChurnReport renders a report with a churn case and checks its table.
func TestChurnReport(t *testing.T) {
	m := servers(programs{"sockit": "SOCKIT", "cecho": "CECHO"})
	var e caseDef
	for _, c := range cases(false) {
		if c.id == "e" {
			e = c
		}
	}
	if !e.churn {
		t.Fatal("case e is not a churn case")
	}
	rp := &report{rounds: 1, order: []string{"epoll", "epoll-shared2", "c"}, cases: []caseDef{e}, spin: true}
	for _, s := range rp.order {
		rp.servers = append(rp.servers, m[s])
	}
	for i, s := range rp.order {
		rp.runs = append(rp.runs, &runResult{Case: "e", Server: s, Round: 1, CPUPerMsg: float64(10 + i), MsgsPerSec: 9000, P50: 100, P99: 900,
			Load: &LoadResult{Opened: 36000}})
	}
	md := rp.markdown()
	for _, want := range []string{"## Connection churn", "| e | epoll-shared2 | 11.00 | 0.92× | 1.10× | 9000 |", "Both loops share one core", "epoll-shared2: GOMAXPROCS=2"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "## Throughput") {
		t.Errorf("a churn case went into the message table:\n%s", md)
	}
}

// TestReportYardsticks renders a report with both C yardsticks, a peer and
// a skipped server: ratio columns to each yardstick that ran (none to std,
// which did not), the list of servers, the skipped one with its reason,
// and the io_uring targets.
func TestReportYardsticks(t *testing.T) {
	m := servers(programs{"sockit": "SOCKIT", "cecho": "CECHO", "cecho_uring": "CU", "gnet": "GNET"})
	rp := &report{rounds: 1, order: []string{"epoll", "uring", "c", "c-uring", "gnet"}, spin: true,
		skipped: []skip{{Server: "netpoll", Why: "not built: go build: no network"}}}
	for _, c := range cases(true) {
		if c.id == "a" || c.id == "d" || c.id == "f" {
			rp.cases = append(rp.cases, c)
		}
	}
	for _, s := range rp.order {
		rp.servers = append(rp.servers, m[s])
	}
	cpu := map[string]float64{"epoll": 12, "uring": 9, "c": 10, "c-uring": 8, "gnet": 11}
	for _, s := range rp.order {
		rp.runs = append(rp.runs,
			&runResult{Case: "a", Server: s, Round: 1, CPUPerMsg: cpu[s], MsgsPerSec: 40000, P50: 50, P99: 100},
			&runResult{Case: "f", Server: s, Round: 1, CPUPerMsg: cpu[s] * 0.8, MsgsPerSec: 120000, P50: 500, P99: 900},
			&runResult{Case: "d", Server: s, Round: 1, Conns: 2000, KiBPerConn: cpu[s] / 40})
	}
	md := rp.markdown()
	for _, want := range []string{
		"| case | server | CPU µs/msg | × c | × c-uring | msgs/s |",
		"| a | uring | 9.00 | 0.90× | 1.12× | 40000 |",
		"| a | gnet | 11.00 | 1.10× | 1.38× | 40000 |",
		"| case | server | conns | RSS before MiB | RSS idle MiB | KiB/conn | × c | × c-uring | checks |",
		"| d | c-uring | 2000 | 0.0 | 0.0 | 0.200 | 0.80× | 1.00× | ok |",
		"**c-uring** cecho_uring.c: C on io_uring",
		"**gnet** gnet echo (bench/peers/gnet)",
		"Skipped, not available here: **netpoll** (not built: go build: no network)",
		"| (a) uring CPU/msg ≤ 0.90× c | 0.90× | yes |",
		"| (a) uring CPU/msg ≤ 1.05× c-uring | 1.12× | **no** |",
		"| (a) epoll CPU/msg ≤ 1.05× c | 1.20× | **no** |",
		"| f | uring | 7.20 | 0.90× | 1.12× | 120000 |",
		"| (f) uring CPU/msg ≤ 0.85× c | 0.90× | **no** |",
		"| (f) uring CPU/msg ≤ 1.05× c-uring | 1.12× | **no** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "× std") {
		t.Errorf("a ratio to std, which did not run:\n%s", md)
	}
}
