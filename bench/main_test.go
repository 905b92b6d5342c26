package bench_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"os/signal"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	if os.Getenv(workerEnv) != "" {
		os.Exit(workerMain())
	}
	os.Exit(testkit.Main(m))
}

// server runs h on a fresh endpoint of network in this process and returns
// the endpoint and the server, whose Stats are the bytes it saw.
func server(t *testing.T, network string, h any) (endpoint.Endpoint, *engine.Server) {
	t.Helper()
	srv, ep := testkit.ServeEngine(t, &engine.Config{Loops: 1}, network, h)
	return ep, srv
}

func quick(ep endpoint.Endpoint) bench.Options {
	return bench.Options{Endpoint: ep, Conns: 8, Depth: 2, Size: 100, Warmup: 50 * time.Millisecond,
		Duration: 300 * time.Millisecond, Drain: 5 * time.Second, Loops: 1}
}

func run(t *testing.T, o bench.Options) *bench.Result {
	t.Helper()
	res, err := bench.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// corrupter echoes, but flips one bit of the byte at stream offset at.
type corrupter struct{ at int64 }

type corruptState struct{ off int64 }

func (c corrupter) OnOpen(conn engine.Conn) { conn.SetContext(&corruptState{}) }

func (c corrupter) OnData(conn engine.Conn, in []byte) int {
	st := conn.Context().(*corruptState)
	out := append([]byte(nil), in...)
	if i := c.at - st.off; i >= 0 && i < int64(len(out)) {
		out[i] ^= 0x20
	}
	st.off += int64(len(in))
	conn.Write(out)
	return len(in)
}

func (corrupter) OnPeerClose(conn engine.Conn) { conn.CloseWrite() }

func (corrupter) OnClose(engine.Conn, error) {}

func (corrupter) OnPacket(engine.PacketConn, []byte, net.Addr) {}

// truncator echoes only the first n bytes of a connection, then closes
// its side; extender adds one byte to every read.
type truncator struct{ n int64 }

func (t truncator) OnOpen(conn engine.Conn) { conn.SetContext(new(int64)) }

func (t truncator) OnData(conn engine.Conn, in []byte) int {
	done := conn.Context().(*int64)
	if room := t.n - *done; room > 0 {
		conn.Write(in[:min(int64(len(in)), room)])
	}
	*done += int64(len(in))
	if *done >= t.n {
		conn.CloseWrite()
	}
	return len(in)
}

func (truncator) OnPeerClose(conn engine.Conn) { conn.Close() }

func (truncator) OnClose(engine.Conn, error) {}

type extender struct{}

func (extender) OnOpen(engine.Conn) {}

func (extender) OnData(conn engine.Conn, in []byte) int {
	conn.Write(append(append([]byte(nil), in...), '!'))
	return len(in)
}

func (extender) OnPeerClose(conn engine.Conn) { conn.CloseWrite() }

func (extender) OnClose(engine.Conn, error) {}

func hasError(res *bench.Result, kind string) bool {
	for _, e := range res.Errors {
		if strings.Contains(e.Kind, kind) && e.Count > 0 {
			return true
		}
	}
	return false
}

// staller accepts and never reads: its receive buffer fills and the
// bench's messages stay in flight.
type staller struct{}

func (staller) OnOpen(engine.Conn) {}

func (staller) OnData(engine.Conn, []byte) int { return 0 }

func (staller) OnPeerClose(engine.Conn) {}

func (staller) OnClose(engine.Conn, error) {}

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

// dropper echoes datagrams, but never those whose sequence number (the
// first 8 bytes, big-endian) is 3 mod 7.
type dropper struct{ staller }

func (dropper) OnPacket(pc engine.PacketConn, p []byte, from net.Addr) {
	if len(p) >= 8 && binary.BigEndian.Uint64(p)%7 != 3 && from != nil {
		pc.WriteTo(p, from)
	}
}
