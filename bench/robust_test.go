package bench_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
)

// staller accepts and never reads: its receive buffer fills and the
// bench's messages stay in flight.
type staller struct{}

func (staller) OnOpen(engine.Conn)                           {}
func (staller) OnData(engine.Conn, []byte) int               { return 0 }
func (staller) OnPeerClose(engine.Conn)                      {}
func (staller) OnClose(engine.Conn, error)                   {}
func (staller) OnPacket(engine.PacketConn, []byte, net.Addr) {}

// validJSON fails the test unless the result writes as JSON that parses
// back (encoding/json refuses NaN and ±Inf).
func validJSON(t *testing.T, res *bench.Result) {
	t.Helper()
	var js strings.Builder
	if err := res.WriteJSON(&js); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	var page strings.Builder
	if err := res.WriteHTML(&page); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
}

// A server that accepts and then reads nothing: the run still ends by
// itself once the window and the drain are over, counts what was due and
// never sent, the connections cut at the drain's end and the bytes that
// never came back, and reports no latency rather than a latency of zero.
func TestStalledServer(t *testing.T) {
	ep, _ := server(t, "tcp", staller{})
	o := quick(ep)
	o.Rate = 1000
	o.Drain = 300 * time.Millisecond
	begin := time.Now()
	res := run(t, o)
	if took, most := time.Since(begin), o.Warmup+o.Duration+o.Drain+3*time.Second; took > most {
		t.Errorf("the run took %v; want it over soon after warm-up, window and drain (%v)", took, o.Warmup+o.Duration+o.Drain)
	}
	if res.Latency.Count != 0 || res.Unsent == 0 {
		t.Errorf("latency %+v, %d unsent; want nothing timed and the due messages counted unsent", res.Latency, res.Unsent)
	}
	if !hasError(res, "drain: cut off") || res.Check.ShortConns != 8 || res.Check.MissingBytes != res.TotalSentBytes {
		t.Errorf("errors %v, verification %+v, sent %d bytes; want 8 connections cut, all bytes missing", res.Errors, res.Check, res.TotalSentBytes)
	}
	var text strings.Builder
	res.WriteText(&text)
	if !strings.Contains(text.String(), "latency       none measured") || strings.Contains(text.String(), "p50 0 ") {
		t.Errorf("text report:\n%s", text.String())
	}
	validJSON(t, res)
}

// Ctrl-C while connections are still being dialed at --connect-rate ends
// the run at once rather than after the whole schedule of dials.
func TestInterruptWhileConnecting(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Conns = 100
	o.ConnectRate = 10 // ten seconds of dials
	o.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("an interrupted connect phase took %v to end", took)
	}
	if res.ConnsUp == 0 || res.ConnsUp >= 100 || len(res.Errors) != 0 {
		t.Errorf("%d connections up, errors %v; want the few dialed before the interrupt, cleanly", res.ConnsUp, res.Errors)
	}
	validJSON(t, res)
}

// Rates that are not finite numbers, or so low that the schedule cannot
// be kept in nanoseconds, and a window that ends past what nanoseconds
// since 1970 can hold, are refused up front.
func TestRatesMustBeFinite(t *testing.T) {
	ep := endpoint.MustParse("tcp://127.0.0.1:9")
	for name, o := range map[string]bench.Options{
		"rate NaN":         {Endpoint: ep, Rate: math.NaN()},
		"rate +Inf":        {Endpoint: ep, Rate: math.Inf(1)},
		"connect-rate NaN": {Endpoint: ep, ConnectRate: math.NaN()},
		"connect-rate Inf": {Endpoint: ep, ConnectRate: math.Inf(1)},
		"rate tiny":        {Endpoint: ep, Rate: 1e-300},
		"duration huge":    {Endpoint: ep, Duration: math.MaxInt64, Warmup: time.Second},
	} {
		if _, err := bench.Run(context.Background(), o); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}

// unixpacket messages above the engine's default 64 KiB read buffer come
// back whole: the bench reads each in one piece.
func TestUnixpacketBigMessages(t *testing.T) {
	srv, err := engine.NewServer(&engine.Config{Loops: 1, ReadBuffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr, err := srv.Listen(endpoint.Endpoint{Scheme: "unixpacket", Addr: filepath.Join(t.TempDir(), "s.sock")}, service.Echo{})
	if err != nil {
		t.Fatal(err)
	}
	o := quick(endpoint.Endpoint{Scheme: "unixpacket", Addr: addr.String()})
	o.Conns, o.Size = 2, 100_000
	res := run(t, o)
	if !res.OK() || res.Messages == 0 {
		t.Fatalf("errors %v, verification %+v, %d messages", res.Errors, res.Check, res.Messages)
	}
}

// Open loop over UDP against a server that answers nothing: what was due
// in the window and never sent, because the pipeline stayed full, is
// counted as on a stream.
func TestUDPOpenLoopUnsent(t *testing.T) {
	ep, _ := server(t, "udp", staller{})
	o := quick(ep)
	o.Conns, o.Depth, o.Rate = 2, 1, 1000
	o.Drain = 100 * time.Millisecond
	res := run(t, o)
	// 1000/s over 350 ms of warm-up and window, one message sent per
	// socket before the pipeline filled: about 348 never went out.
	if res.Unsent < 250 || res.Unsent > 360 {
		t.Errorf("%d unsent, want about 348 (sent %d)", res.Unsent, res.TotalSentMsgs)
	}
	validJSON(t, res)
}

// workerEnv makes the test binary one worker of a multi-process run.
const workerEnv = "SOCKIT_BENCH_WORKER_HELPER"

func workerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench.ServeWorker(ctx, os.Stdin, os.Stdout); err != nil {
		return 1
	}
	return 0
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
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), workerEnv+"=1")
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

// dropper echoes datagrams, but never those whose sequence number (the
// first 8 bytes, big-endian) is 3 mod 7.
type dropper struct{ staller }

func (dropper) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if len(p) >= 8 && binary.BigEndian.Uint64(p)%7 != 3 && from != nil {
		pc.WriteTo(p, from)
	}
}

// Every datagram sent is accounted for, answered or lost, even when a
// lost one still holds its place in the pipeline while younger ones come
// back: none is overwritten and forgotten.
func TestUDPLossAccounted(t *testing.T) {
	ep, _ := server(t, "udp", dropper{})
	o := quick(ep)
	o.Conns, o.Depth = 2, 8
	o.Duration = 1500 * time.Millisecond // past the loss timeout, so that places are freed and reused
	res := run(t, o)
	if res.Check.LostDatagrams == 0 {
		t.Fatalf("no datagram counted lost: %+v", res.Check)
	}
	if got := res.TotalDoneMsgs + res.Check.LostDatagrams; got != res.TotalSentMsgs {
		t.Errorf("sent %d datagrams; %d answered + %d lost = %d", res.TotalSentMsgs, res.TotalDoneMsgs, res.Check.LostDatagrams, got)
	}
	if res.Check.ExtraBytes != 0 || res.Check.MismatchedMsgs != 0 {
		t.Errorf("verification %+v", res.Check)
	}
}
