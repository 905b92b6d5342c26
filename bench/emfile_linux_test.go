package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// helperEnv makes the test binary a bench run with a descriptor limit of
// 40, against the endpoint in the variable, printing its result as JSON.
const helperEnv = "SOCKIT_BENCH_EMFILE_HELPER"

func helperMain() int {
	lim := unix.Rlimit{Cur: 40, Max: 40}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 2
	}
	ep, err := endpoint.Parse(os.Getenv(helperEnv))
	if err != nil {
		return 2
	}
	res, err := bench.Run(context.Background(), bench.Options{Endpoint: ep, Conns: 100, Loops: 1,
		Duration: 300 * time.Millisecond, Drain: 5 * time.Second})
	if err != nil {
		return 3
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// Out of descriptors, connections fail with EMFILE, which is counted by
// kind; the connections that did open are measured and the run ends.
func TestEMFILECounted(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	cmd := testkit.HelperCommand("^$", helperEnv+"="+ep.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var res bench.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("helper output: %v\n%s", err, out)
	}
	if res.ConnsUp == 0 || res.ConnsUp == 100 {
		t.Errorf("%d connections opened under a limit of 40 descriptors; want some, not all", res.ConnsUp)
	}
	var emfile uint64
	for _, e := range res.Errors {
		if e.Kind == "socket: too many open files" || e.Kind == "connect: too many open files" {
			emfile += e.Count
		}
	}
	if emfile == 0 || int64(emfile)+res.ConnsUp != 100 {
		t.Errorf("errors %+v with %d connections up; want every failed connection counted as too many open files", res.Errors, res.ConnsUp)
	}
	if res.Messages == 0 || res.Check.MismatchedMsgs != 0 {
		t.Errorf("the open connections measured %d messages, %d mismatched", res.Messages, res.Check.MismatchedMsgs)
	}
}
