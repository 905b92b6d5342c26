//go:build linux

package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// report collects every run and renders the Markdown.
type report struct {
	machine               machine
	command               string
	started               time.Time
	took                  time.Duration
	rounds                int
	order                 []string
	httpOrder             []string    // the HTTP cases' servers
	servers               []serverDef // in order
	skipped               []skip      // servers left out of the run, and why
	quick                 bool
	cases                 []caseDef
	runs                  []*runResult
	loadBefore, loadAfter string
	spin                  bool
	nice                  int
}

// median of the field f over the rounds of case c on server s that did
// not fail; NaN if none.
func (rp *report) median(c, s string, f func(*runResult) float64) float64 {
	var v []float64
	for _, r := range rp.runs {
		if r.Case == c && r.Server == s && r.Err == "" {
			v = append(v, f(r))
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (rp *report) spread(c, s string, f func(*runResult) float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rp.runs {
		if r.Case == c && r.Server == s && r.Err == "" {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
	}
	return lo, hi
}

// checks summarises the failed checks and errors of case c on server s.
func (rp *report) checks(c, s string) string {
	var p []string
	for _, r := range rp.runs {
		if r.Case != c || r.Server != s {
			continue
		}
		switch {
		case r.Err != "":
			p = append(p, fmt.Sprintf("r%d FAILED: %s", r.Round, r.Err))
		case r.Problems != "":
			p = append(p, fmt.Sprintf("r%d: %s", r.Round, r.Problems))
		}
	}
	if len(p) == 0 {
		return "ok"
	}
	return strings.ReplaceAll(strings.Join(p, "; "), "|", "/")
}

func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// refs are the servers a table gives ratios to, of those given, in that
// order: the ones in this run.
func (rp *report) refs(names ...string) []string {
	var r []string
	for _, n := range names {
		if slices.Contains(rp.order, n) {
			r = append(r, n)
		}
	}
	return r
}

// ratioCols renders the header cells, separator cells and, per row, the
// ratio cells of a table's ratio columns: a server's median of f in case
// c over each reference's.
type ratioCols struct {
	rp   *report
	refs []string
}

func (rc ratioCols) head() string {
	var b strings.Builder
	for _, r := range rc.refs {
		b.WriteString(" × " + r + " |")
	}
	return b.String()
}

func (rc ratioCols) sep() string { return strings.Repeat("---|", len(rc.refs)) }

func (rc ratioCols) cells(c string, v float64, f func(*runResult) float64) string {
	var b strings.Builder
	for _, r := range rc.refs {
		b.WriteString(" " + ratio(v, rc.rp.median(c, r, f)) + " |")
	}
	return b.String()
}

var (
	cpuOf   = func(r *runResult) float64 { return r.CPUPerMsg }
	rateOf  = func(r *runResult) float64 { return r.MsgsPerSec }
	mbOf    = func(r *runResult) float64 { return r.MBPerSec }
	p50Of   = func(r *runResult) float64 { return r.P50 }
	p99Of   = func(r *runResult) float64 { return r.P99 }
	rssOf   = func(r *runResult) float64 { return r.RSS }
	ldOf    = func(r *runResult) float64 { return r.LoaderBusy }
	c0Of    = func(r *runResult) float64 { return r.Core0Other }
	kibOf   = func(r *runResult) float64 { return r.KiBPerConn }
	rssIdle = func(r *runResult) float64 { return r.RSSIdle }
	rssBase = func(r *runResult) float64 { return r.RSSBefore }
)

func (rp *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := rp.machine
	w("# sockit echo benchmark\n\n")
	if rp.quick {
		w("**Quick run (-quick): one short round, fewer idle connections — a smoke test, not a measurement.**\n\n")
	}
	w("Command: `%s` (from the repository root)  \n", rp.command)
	w("Date: %s; took %s; %d round(s) per case and server, servers in turn (%s), medians shown.  \n",
		rp.started.Format("2006-01-02 15:04 MST"), rp.took.Round(time.Second), rp.rounds, strings.Join(rp.order, ", "))
	w("Machine: %d CPUs, %s; %s; %s; %s; RLIMIT_NOFILE %d; ephemeral ports %s.  \n", m.NProc, m.CPU, m.Kernel, m.Go, m.GCC, m.NoFile, m.PortRange)
	w("sockit built from the working tree at %s.  \n", m.Commit)
	spin := "it polls without sleeping (-spin), so an echo never has to wake it, as a remote client would not; *loader busy* is the share of the window it spent on sends and echoes rather than polling"
	if !rp.spin {
		spin = "it sleeps in epoll_pwait2 until the next send is due (-spin=false); *loader busy* is the share of the window it spent on sends and echoes"
	}
	w("Placement: each server a fresh process on CPU 0 (`taskset -c 0`, GOMAXPROCS=1%s); the load generator on CPU 1 (`taskset -c 1`, GOMAXPROCS=1), one thread, epoll, non-blocking sockets; %s. Niceness of both: %d.  \n", rp.multiNote(), spin, rp.nice)
	rp.serverList(w)
	w("Load average before / after: %s / %s. Other people's unit tests may run on this machine meanwhile: the column *CPU 0 other* is CPU 0's busy time not spent by the server, in %% of the window; high values mean noise (it comes from tick-sampled /proc/stat, so it is good to about ±10 points and can dip below 0). Noise lowers a server's CPU/msg (more events per wake-up) and raises its latency; p99 in particular follows the noise more than the server.\n\n", rp.loadBefore, rp.loadAfter)

	var timed, idle, churn, httpc []caseDef
	for _, c := range rp.cases {
		switch {
		case c.http:
			httpc = append(httpc, c)
		case c.idle:
			idle = append(idle, c)
		case c.churn:
			churn = append(churn, c)
		default:
			timed = append(timed, c)
		}
	}
	if len(timed) > 0 {
		w("## Throughput, CPU and latency\n\n")
		for _, c := range timed {
			w("- **(%s)** %s\n", c.id, c.title)
		}
		w("\nCPU µs/msg is the server's utime+stime (/proc/PID/stat) over the measured window divided by the messages echoed in it (range over rounds in brackets). ")
		w("The × columns divide it by that server's median: *c*, C on epoll, and *c-uring*, C on io_uring, are the yardsticks. ")
		w("MB/s is echoed payload, one direction. Latency counts from when a message was due (open loop) or sent (closed loop) to the last byte of its echo, checked. RSS is VmRSS at the window's end.\n\n")
		rc := ratioCols{rp, rp.refs("c", "c-uring", "std")}
		w("| case | server | CPU µs/msg |%s msgs/s | MB/s | p50 µs | p99 µs | RSS MiB | loader busy %% | CPU 0 other %% | checks |\n", rc.head())
		w("|---|---|---|%s---|---|---|---|---|---|---|---|\n", rc.sep())
		for _, c := range timed {
			for _, s := range rp.order {
				cpu := rp.median(c.id, s, cpuOf)
				lo, hi := rp.spread(c.id, s, cpuOf)
				rng := ""
				if rp.rounds > 1 && !math.IsInf(lo, 0) {
					rng = fmt.Sprintf(" [%s–%s]", num(lo, 2), num(hi, 2))
				}
				w("| %s | %s | %s%s |%s %s | %s | %s | %s | %s | %s | %s | %s |\n", c.id, s,
					num(cpu, 2), rng, rc.cells(c.id, cpu, cpuOf),
					num(rp.median(c.id, s, rateOf), 0), num(rp.median(c.id, s, mbOf), 1),
					num(rp.median(c.id, s, p50Of), 0), num(rp.median(c.id, s, p99Of), 0),
					num(rp.median(c.id, s, rssOf), 1), num(rp.median(c.id, s, ldOf), 0),
					num(rp.median(c.id, s, c0Of), 1), rp.checks(c.id, s))
			}
		}
		w("\n")
	}
	if len(idle) > 0 {
		w("## Idle connections\n\n")
		for _, c := range idle {
			w("- **(%s)** %s; %d load generator processes (the descriptor limit is per process). RSS before is the fresh server's; RSS idle is read after every connection echoed its message and 2 s of idleness. KiB/conn = (idle − before) / connections.\n\n", c.id, c.title, c.loaders)
		}
		rc := ratioCols{rp, rp.refs("c", "c-uring", "std")}
		w("| case | server | conns | RSS before MiB | RSS idle MiB | KiB/conn |%s checks |\n", rc.head())
		w("|---|---|---|---|---|---|%s---|\n", rc.sep())
		for _, c := range idle {
			for _, s := range rp.order {
				k := rp.median(c.id, s, kibOf)
				w("| %s | %s | %d | %s | %s | %s |%s %s |\n", c.id, s, c.conns,
					num(rp.median(c.id, s, rssBase), 1), num(rp.median(c.id, s, rssIdle), 1), num(k, 3),
					rc.cells(c.id, k, kibOf), rp.checks(c.id, s))
			}
		}
		w("\n")
	}
	if len(churn) > 0 {
		rp.churnTable(w, churn)
	}
	if len(httpc) > 0 {
		rp.httpTable(w, httpc)
	}
	rp.targets(w)
	rp.raw(w)
	return b.String()
}

// multiNote names the servers that run with more than one GOMAXPROCS.
func (rp *report) multiNote() string {
	var p []string
	for _, d := range rp.servers {
		if d.procs > 1 {
			p = append(p, fmt.Sprintf("%s: GOMAXPROCS=%d", d.name, d.procs))
		}
	}
	if len(p) == 0 {
		return ""
	}
	return "; " + strings.Join(p, ", ") + ", still on CPU 0 alone"
}

// churnTable renders the connection churn cases.
func (rp *report) churnTable(w func(string, ...any), churn []caseDef) {
	w("## Connection churn\n\n")
	for _, c := range churn {
		w("- **(%s)** %s\n", c.id, c.title)
	}
	w("\nEach connection: socket, connect, one 64 B message, its echo checked, close with SO_LINGER 0 (a reset: no TIME_WAIT on either side); as one ends the load generator opens the next, so the given number are always under way. ")
	w("CPU µs/conn is the server's utime+stime over the measured window divided by the connections that completed in it (range over rounds in brackets); conns/s counts them. ")
	w("Latency runs from the socket(2) call to the last byte of the echo: connect, accept, echo. ")
	w("On loopback the handshake and the reset are processed in the softirq of the sender, mostly the load generator's CPU; the server's share is accept4, registering the connection, the read, the write (and delivering it), the read that sees the reset and the close. ")
	w("One load generator thread does all the client side of that handshake, so it is usually the limit (*loader busy* near 100 %%): then the server is not saturated, conns/s and latency (about the connections in flight ÷ conns/s) are mostly the generator's own, and CPU µs/conn is the comparison. ")
	w("A faster round also lowers a server's CPU/conn (more events per wake-up), and rounds drift together with the machine: compare servers within a round (*Every round*) as well as by medians.\n\n")
	var multi []serverDef
	for _, d := range rp.servers {
		if d.procs > 1 {
			multi = append(multi, d)
		}
	}
	if len(multi) > 0 {
		w("Multi-loop variants: ")
		for i, d := range multi {
			if i > 0 {
				w("; ")
			}
			w("**%s** = %s", d.name, d.note)
		}
		w(". **Both loops share one core**, as every server here is pinned to CPU 0 alone: their CPU per connection does not show what a second core would add, it compares the cost of the two ways connections reach the loops — *shared*: one listener on one loop accepts and hands every other connection to the other loop through its task queue (a lock, and an eventfd write when that loop sleeps); *reuseport*: a SO_REUSEPORT listener per loop, the kernel picks one per connection, each loop keeps what it accepts. The single-loop *epoll* is the baseline for both.\n\n")
	}
	rc := ratioCols{rp, rp.refs("c", "c-uring", "epoll")}
	w("| case | server | CPU µs/conn |%s conns/s | p50 µs | p99 µs | RSS MiB | loader busy %% | CPU 0 other %% | checks |\n", rc.head())
	w("|---|---|---|%s---|---|---|---|---|---|---|\n", rc.sep())
	for _, c := range churn {
		for _, s := range rp.order {
			cpu := rp.median(c.id, s, cpuOf)
			lo, hi := rp.spread(c.id, s, cpuOf)
			rng := ""
			if rp.rounds > 1 && !math.IsInf(lo, 0) {
				rng = fmt.Sprintf(" [%s–%s]", num(lo, 2), num(hi, 2))
			}
			w("| %s | %s | %s%s |%s %s | %s | %s | %s | %s | %s | %s |\n", c.id, s,
				num(cpu, 2), rng, rc.cells(c.id, cpu, cpuOf),
				num(rp.median(c.id, s, rateOf), 0),
				num(rp.median(c.id, s, p50Of), 0), num(rp.median(c.id, s, p99Of), 0),
				num(rp.median(c.id, s, rssOf), 1), num(rp.median(c.id, s, ldOf), 0),
				num(rp.median(c.id, s, c0Of), 1), rp.checks(c.id, s))
		}
	}
	w("\n")
}

// targets compares the medians with the goals set for sockit's engine
// backends: the epoll ones, and the io_uring ones where the uring server
// ran (issue 19). Rows whose servers did not run are left out.
func (rp *report) targets(w func(string, ...any)) {
	type target struct {
		text string
		got  float64
		ok   bool
	}
	var ts []target
	have := func(c string) bool {
		return slices.ContainsFunc(rp.cases, func(d caseDef) bool { return d.id == c })
	}
	// cmp: srv's median of f in case c is at most limit times vs's; srv
	// may name several servers ("epoll|uring"), of which the best counts.
	cmp := func(c, srv string, f func(*runResult) float64, vs string, limit float64, what string) {
		if !have(c) {
			return
		}
		best := math.NaN()
		for _, s := range strings.Split(srv, "|") {
			if v := rp.median(c, s, f); !math.IsNaN(v) && (math.IsNaN(best) || v < best) {
				best = v
			}
		}
		o := rp.median(c, vs, f)
		if math.IsNaN(best) || math.IsNaN(o) || o == 0 {
			return
		}
		name := srv
		if strings.Contains(srv, "|") {
			name = "best of " + strings.ReplaceAll(srv, "|", ", ")
		}
		ts = append(ts, target{fmt.Sprintf("(%s) %s %s ≤ %.2f× %s", c, name, what, limit, vs), best / o, best/o <= limit})
	}
	for _, c := range []string{"a", "b"} {
		cmp(c, "epoll", cpuOf, "c", 1.05, "CPU/msg")
		cmp(c, "epoll", cpuOf, "std", 0.75, "CPU/msg")
	}
	cmp("c", "epoll", cpuOf, "c", 1.0, "CPU/msg")
	for _, c := range []string{"a", "b", "c"} {
		cmp(c, "epoll", p99Of, "c", 1.2, "p99")
	}
	if have("d") {
		if k := rp.median("d", "epoll", kibOf); !math.IsNaN(k) {
			ts = append(ts, target{"(d) epoll idle ≤ 0.3 KiB/conn", k, k <= 0.3})
		}
	}
	cmp("a", "uring", cpuOf, "c", 0.90, "CPU/msg")
	cmp("b", "uring", cpuOf, "c", 1.0, "CPU/msg")
	cmp("f", "uring", cpuOf, "c", 0.85, "CPU/msg")
	for _, c := range []string{"a", "b", "f"} {
		cmp(c, "uring", cpuOf, "c-uring", 1.05, "CPU/msg")
	}
	cmp("c", "epoll|uring", cpuOf, "c", 1.05, "CPU/msg")
	for _, c := range []string{"a", "b"} {
		cmp(c, "uring", p99Of, "c", 1.2, "p99")
	}
	if len(ts) == 0 {
		return
	}
	w("## Targets (sockit's backends, medians)\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		got := fmt.Sprintf("%.2f×", t.got)
		if strings.Contains(t.text, "KiB") {
			got = fmt.Sprintf("%.3f KiB", t.got)
		}
		met := "yes"
		if !t.ok {
			met = "**no**"
		}
		w("| %s | %s | %s |\n", t.text, got, met)
	}
	w("\n")
}

// serverList says what each server of the run is, and which were left
// out and why.
func (rp *report) serverList(w func(string, ...any)) {
	var p []string
	for _, d := range rp.servers {
		p = append(p, fmt.Sprintf("**%s** %s", d.name, d.about))
	}
	w("Servers: %s.  \n", strings.Join(p, "; "))
	if len(rp.skipped) > 0 {
		var k []string
		for _, s := range rp.skipped {
			k = append(k, fmt.Sprintf("**%s** (%s)", s.Server, s.Why))
		}
		w("Skipped, not available here: %s.  \n", strings.Join(k, "; "))
	}
}

// raw lists every round, for the spread.
func (rp *report) raw(w func(string, ...any)) {
	w("## Every round\n\n")
	w("CPU µs/msg by /proc/PID/stat (10 ms ticks) and by schedstat (ns, threads alive at the window's end); latencies in µs. In churn cases each message is a connection: µs/conn and conns/s.\n\n")
	w("*busy before*: CPUs the machine used just before the run, none of it ours (the harness waits up to -quiet for it to fall under 0.25).\n\n")
	w("| case | server | round | busy before | CPU µs/msg | schedstat µs/msg | msgs/s | p50 | p99 | p99.9 | max | loader CPU %% / busy %% | CPU 0 other %% | RSS/idle | checks |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rp.runs {
		chk := "ok"
		switch {
		case r.Err != "":
			chk = "FAILED: " + r.Err
		case r.Problems != "":
			chk = r.Problems
		}
		chk = strings.ReplaceAll(chk, "|", "/")
		if r.Conns > 0 {
			w("| %s | %s | %d | %.2f | | | | | | | | | | %.3f KiB/conn (%.1f → %.1f MiB, %d conns, connect %s) | %s |\n", r.Case, r.Server, r.Round,
				r.BusyBefore, r.KiBPerConn, r.RSSBefore, r.RSSIdle, r.Conns, r.ConnectTotal.Round(time.Millisecond), chk)
			continue
		}
		w("| %s | %s | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f / %.0f | %.1f | %.1f MiB | %s |\n", r.Case, r.Server, r.Round,
			r.BusyBefore, r.CPUPerMsg, r.SchedPerMsg, r.MsgsPerSec, r.P50, r.P99, r.P999, r.Max, r.LoaderCPU, r.LoaderBusy, r.Core0Other, r.RSS, chk)
	}
	w("\n")
}
