package bench_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// An interrupt ends the window early and still reports.
func TestInterrupt(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(p bench.Progress) {
		if p.Phase == "measure" {
			cancel()
		}
	}
	done := make(chan *bench.Result, 1)
	go func() {
		res, _ := bench.Run(ctx, o)
		done <- res
	}()
	select {
	case res := <-done:
		if res == nil || !res.OK() || res.Messages == 0 {
			t.Fatalf("interrupted run: %+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an interrupted run did not end within 30s")
	}
	cancel()
}

// Ctrl-C while connections are still being dialed at --connect-rate ends
// the run at once rather than after the whole schedule of dials.
func TestInterruptWhileConnecting(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Conns = 100
	o.ConnectRate = 10 // ten seconds of dials
	o.Duration = time.Hour
	res := runInterrupted(t, o, 5*time.Second)
	if res.ConnsUp == 0 || res.ConnsUp >= 100 || len(res.Errors) != 0 {
		t.Errorf("%d connections up, errors %v; want the few dialed before the interrupt, cleanly", res.ConnsUp, res.Errors)
	}
	validJSON(t, res)
}

// Cancelling a multi-process run reaches the workers: they end their
// windows early and the merged result still comes back.
func TestRunWorkersInterrupt(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Conns, o.Warmup, o.Duration = 4, 0, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The workers report progress about once a second, from their
	// measured window on: then their signal handlers are in place.
	o.Progress = func(p bench.Progress) {
		if p.Phase == "measure" && p.ConnsUp == 4 {
			cancel()
		}
	}
	done := make(chan error, 1)
	var res *bench.Result
	go func() {
		var err error
		res, err = bench.RunWorkers(ctx, o, 2, func(int) *exec.Cmd {
			c := testkit.HelperCommand("^$", workerEnv+"=1")
			c.Stderr = os.Stderr
			return c
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunWorkers: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled multi-process run did not end within 30s")
	}
	if res.Procs != 2 || res.ConnsUp != 4 || res.Messages == 0 || !res.OK() {
		t.Errorf("merged result: procs %d, %d up, %d messages, errors %v, verification %+v", res.Procs, res.ConnsUp, res.Messages, res.Errors, res.Check)
	}
	validJSON(t, res)
}

// Ctrl-C while dials hang does not wait for the connect timeout: the run
// ends within the drain, and the dials still under way are cut.
func TestInterruptWhileDialsHang(t *testing.T) {
	ep := endpoint.Endpoint{Scheme: "tcp", Addr: testkit.FullBacklog(t)}
	o := quick(ep)
	o.ConnectTimeout = time.Minute
	o.Drain = 500 * time.Millisecond
	res := runInterrupted(t, o, 10*time.Second)
	if res.ConnsUp == 8 {
		t.Skip("every connect completed: this kernel queued them all")
	}
	validJSON(t, res)
}

// runInterrupted runs o and interrupts it 300 ms in, as a Ctrl-C would; the
// run must end within limit, and returns what it measured.
func runInterrupted(t *testing.T, o bench.Options, limit time.Duration) *bench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > limit {
		t.Errorf("the interrupted run took %v to end, want at most %v", took, limit)
	}
	return res
}
