//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// TestMain runs the tests with the leak checks; started with the
// arguments "fake-server MODE" it stands in for a server instead
// (fakeServer).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "fake-server" {
		os.Exit(fakeServer(os.Args[2]))
	}
	os.Exit(testkit.Main(m))
}

// echoServer serves service.Echo on 127.0.0.1:0 on the given backend.
func echoServer(t *testing.T, be engine.Backend) string {
	t.Helper()
	return echoServerConfig(t, &engine.Config{Backend: be})
}

// echoServerConfig serves service.Echo on 127.0.0.1:0 with cfg.
func echoServerConfig(t *testing.T, cfg *engine.Config) string {
	t.Helper()
	_, ep := testkit.ServeEngine(t, cfg, "tcp4", service.Echo{})
	return ep.Addr
}

// TestLoadCounts runs the generator briefly against an in-process echo
// server and checks that it counts and verifies every message. There are
// no timing assertions: the machine may be busy.
func TestLoadCounts(t *testing.T) {
	tests := []struct {
		name string
		spec LoadSpec
	}{
		{name: "open loop", spec: LoadSpec{Conns: 20, Size: 64, Window: 2, Rate: 4000}},
		{name: "open loop spin", spec: LoadSpec{Conns: 5, Size: 64, Window: 1, Rate: 2000, Spin: true}},
		{name: "closed loop large", spec: LoadSpec{Conns: 4, Size: 16 << 10, Window: 1}},
		{name: "closed loop window", spec: LoadSpec{Conns: 3, Size: 100, Window: 4}},
	}
	for _, be := range []engine.Backend{engine.BackendEpoll, engine.BackendStd} {
		for _, tt := range tests {
			t.Run(string(be)+"/"+tt.name, func(t *testing.T) {
				spec := tt.spec
				spec.Addr = echoServer(t, be)
				spec.Warmup, spec.Duration, spec.Drain = 50*time.Millisecond, 300*time.Millisecond, 5*time.Second
				spec.ServerPID = os.Getpid()
				res, err := runLoad(spec, hooks{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Mismatched != 0 || res.Extra != 0 || res.Lost != 0 || res.Unsent != 0 || res.ConnErrors != 0 {
					t.Fatalf("checks failed: %s", problems(res, 0))
				}
				if res.Echoed == 0 || res.Echoed != res.Sent {
					t.Errorf("echoed %d of %d messages sent, want all and more than 0", res.Echoed, res.Sent)
				}
				if res.WindowMsgs == 0 || res.WindowMsgs > res.Echoed || res.WindowBytes != res.WindowMsgs*uint64(spec.Size) {
					t.Errorf("window: %d messages, %d bytes of %d echoed", res.WindowMsgs, res.WindowBytes, res.Echoed)
				}
				if res.Latency.Count == 0 || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
					t.Errorf("latency: %+v", res.Latency)
				}
				if res.Window <= 0 || res.ServerRSS <= 0 {
					t.Errorf("samples: window %v, RSS %d", res.Window, res.ServerRSS)
				}
				if spec.Rate > 0 {
					// Open loop: every slot of warm-up and window was sent.
					want := uint64(spec.Rate * (spec.Warmup + spec.Duration).Seconds())
					if d := int64(res.Sent) - int64(want); d < -int64(spec.Conns) || d > int64(spec.Conns) {
						t.Errorf("sent %d messages, want %d ± %d", res.Sent, want, spec.Conns)
					}
				}
			})
		}
	}
}

// TestLoadIdle opens connections, echoes one message on each and holds them.
func TestLoadIdle(t *testing.T) {
	addr := echoServer(t, engine.BackendEpoll)
	var got *LoadResult
	spec := LoadSpec{Addr: addr, Source: "127.0.0.3", Conns: 300, FirstID: 1000, Size: 64, Window: 1, Idle: true, Hold: 50 * time.Millisecond}
	res, err := runLoad(spec, hooks{idle: func(r *LoadResult) { c := *r; got = &c }})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("the idle hook was not called")
	}
	if res.Echoed != 300 || res.Sent != 300 || problems(res, 300) != "" {
		t.Errorf("sent %d, echoed %d: %s", res.Sent, res.Echoed, problems(res, 300))
	}
}

// corrupter echoes, but flips one byte in every 50th message of 64 bytes.
func corrupter(t *testing.T) string {
	t.Helper()
	return testkit.Serve(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for n := 0; ; n++ {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if n%50 == 49 {
				buf[40] ^= 0xff
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}).String()
}

// TestLoadDetectsCorruption checks that altered echoes are caught.
func TestLoadDetectsCorruption(t *testing.T) {
	spec := LoadSpec{Addr: corrupter(t), Conns: 2, Size: 64, Window: 1, Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: 5 * time.Second}
	res, err := runLoad(spec, hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mismatched == 0 || res.Echoed == 0 {
		t.Fatalf("mismatched %d, echoed %d: want both above 0", res.Mismatched, res.Echoed)
	}
	if want := (res.Echoed + res.Mismatched) / 50; res.Mismatched < want-2 || res.Mismatched > want+2 {
		t.Errorf("mismatched %d of %d, want about 1 in 50", res.Mismatched, res.Echoed+res.Mismatched)
	}
}

// TestLoaderLines reads the load generator's protocol.
func TestLoaderLines(t *testing.T) {
	windows := 0
	res, err := loaderLines(strings.NewReader("window\nresult {\"Conns\":7}\n"), func() { windows++ })
	if err != nil || res.Conns != 7 || windows != 1 {
		t.Errorf("got %+v, %v, %d windows", res, err, windows)
	}
	if _, err := loaderLines(strings.NewReader("error boom\n"), nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("error line: got %v", err)
	}
	if _, err := loaderLines(&bytes.Buffer{}, nil); err == nil {
		t.Error("no result: want an error")
	}
}

// TestLoadChurn runs the churn load (connect, one echo, close) briefly
// against in-process servers, the epoll ones with both accept modes.
func TestLoadChurn(t *testing.T) {
	configs := []struct {
		name string
		cfg  engine.Config
	}{
		{name: "epoll", cfg: engine.Config{Backend: engine.BackendEpoll}},
		{name: "std", cfg: engine.Config{Backend: engine.BackendStd}},
		{name: "epoll-shared2", cfg: engine.Config{Backend: engine.BackendEpoll, Loops: 2, Accept: engine.AcceptShared}},
		{name: "epoll-reuseport2", cfg: engine.Config{Backend: engine.BackendEpoll, Loops: 2, Accept: engine.AcceptReusePort}},
	}
	for _, tt := range configs {
		for _, spin := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/spin=%v", tt.name, spin), func(t *testing.T) {
				cfg := tt.cfg
				spec := LoadSpec{Addr: echoServerConfig(t, &cfg), Source: "127.0.0.4", Conns: 16, FirstID: 7, Size: 64, Window: 1, Churn: true, Spin: spin,
					Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Drain: 5 * time.Second, ServerPID: os.Getpid()}
				res, err := runLoad(spec, hooks{})
				if err != nil {
					t.Fatal(err)
				}
				if p := problems(res, 0); p != "" {
					t.Fatalf("checks failed: %s", p)
				}
				// Every connection opened sent its message and got it back.
				if res.Echoed == 0 || res.Echoed != res.Sent || res.Opened != res.Sent {
					t.Errorf("opened %d, sent %d, echoed %d: want all equal and above 0", res.Opened, res.Sent, res.Echoed)
				}
				if res.WindowMsgs == 0 || res.WindowMsgs > res.Echoed || res.WindowBytes != res.WindowMsgs*64 {
					t.Errorf("window: %d connections, %d bytes of %d", res.WindowMsgs, res.WindowBytes, res.Echoed)
				}
				if res.Latency.Count == 0 || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
					t.Errorf("latency: %+v", res.Latency)
				}
			})
		}
	}
}

// TestLoadChurnRefused: a churn run against a port nobody listens on
// counts failed connections, gives up opening new ones, and ends.
func TestLoadChurnRefused(t *testing.T) {
	spec := LoadSpec{Addr: testkit.Refused(t), Conns: 4, Size: 64, Window: 1, Churn: true,
		Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: time.Second}
	res, err := runLoad(spec, hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnErrors == 0 || res.ConnErrors > maxChurnErrors+uint64(spec.Conns) || res.Echoed != 0 || res.FirstError == "" {
		t.Errorf("conn errors %d (%q), echoed %d: want some errors, at most %d, none echoed", res.ConnErrors, res.FirstError, res.Echoed, maxChurnErrors+spec.Conns)
	}
}
