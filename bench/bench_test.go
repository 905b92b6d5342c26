package bench_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/leaktest"
	"github.com/sockit/sockit/service"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	if os.Getenv(workerEnv) != "" {
		os.Exit(workerMain())
	}
	os.Exit(leaktest.Main(m))
}

// server runs h on network in this process and returns its endpoint and
// the server, whose Stats are the bytes it saw.
func server(t *testing.T, network string, h any) (endpoint.Endpoint, *engine.Server) {
	t.Helper()
	srv, err := engine.NewServer(&engine.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	at := "127.0.0.1:0"
	switch network {
	case "tcp6", "udp6":
		at = "[::1]:0"
	case "unix", "unixpacket", "unixgram":
		at = filepath.Join(t.TempDir(), "s.sock")
	}
	ep := endpoint.Endpoint{Scheme: network, Addr: at}
	var addr net.Addr
	if ep.IsPacket() {
		addr, err = srv.ListenPacket(ep, h.(engine.PacketHandler))
	} else {
		addr, err = srv.Listen(ep, h.(engine.Handler))
	}
	if err != nil {
		if network == "tcp6" || network == "udp6" {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	return endpoint.Endpoint{Scheme: network, Addr: addr.String()}, srv
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

// Against an echo server every byte comes back as sent, on every socket
// kind, and the run's totals equal the server's own counters to the byte.
func TestEchoEveryKind(t *testing.T) {
	for _, network := range []string{"tcp", "tcp6", "unix", "unixpacket", "udp", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			ep, srv := server(t, network, service.Echo{})
			res := run(t, quick(ep))
			if !res.OK() {
				t.Fatalf("run not clean: errors %v, verification %+v", res.Errors, res.Check)
			}
			if res.Messages == 0 || res.Latency.Count == 0 || res.Latency.P50 <= 0 {
				t.Errorf("nothing measured: %d messages, latency %+v", res.Messages, res.Latency)
			}
			if res.Check.CheckedBytes != res.TotalRecvBytes || res.TotalRecvBytes == 0 {
				t.Errorf("checked %d of %d bytes received", res.Check.CheckedBytes, res.TotalRecvBytes)
			}
			st := srv.Stats()
			if st.BytesIn != res.TotalSentBytes || st.BytesOut != res.TotalRecvBytes {
				t.Errorf("server saw %d in / %d out; bench sent %d, received %d", st.BytesIn, st.BytesOut, res.TotalSentBytes, res.TotalRecvBytes)
			}
			if res.TotalSentBytes != res.TotalSentMsgs*100 {
				t.Errorf("sent %d bytes in %d messages of 100", res.TotalSentBytes, res.TotalSentMsgs)
			}
		})
	}
}

// Payloads: zeros and a file come back intact too, and a file sets the
// message size.
func TestPayloads(t *testing.T) {
	ep, srv := server(t, "tcp", service.Echo{})
	file := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(file, []byte("GET / HTTP/1.0\r\n\r\n"), 0o600)
	for _, spec := range []string{"zeros", "@" + file} {
		p, err := bench.ParsePayload(spec)
		if err != nil {
			t.Fatal(err)
		}
		o := quick(ep)
		o.Payload = p
		if p.Kind == bench.PayloadFile {
			o.Size = 0
		}
		res := run(t, o)
		if !res.OK() || res.Messages == 0 {
			t.Errorf("%s: errors %v, verification %+v, %d messages", spec, res.Errors, res.Check, res.Messages)
		}
		if p.Kind == bench.PayloadFile && res.Size != 18 {
			t.Errorf("file payload: size %d, want the file's 18 bytes", res.Size)
		}
	}
	if st := srv.Stats(); st.BytesIn != st.BytesOut {
		t.Errorf("server in %d != out %d", st.BytesIn, st.BytesOut)
	}
	for _, bad := range []string{"ones", "@" + filepath.Join(t.TempDir(), "missing")} {
		if _, err := bench.ParsePayload(bad); err == nil {
			t.Errorf("ParsePayload(%q) succeeded", bad)
		}
	}
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
func (corrupter) OnPeerClose(conn engine.Conn)                 { conn.CloseWrite() }
func (corrupter) OnClose(engine.Conn, error)                   {}
func (corrupter) OnPacket(engine.PacketConn, []byte, net.Addr) {}

// A server that changes one byte is caught, with the exact offset and
// both values.
func TestVerifyCatchesCorruption(t *testing.T) {
	ep, _ := server(t, "tcp", corrupter{at: 1234})
	o := quick(ep)
	o.Conns = 1
	res := run(t, o)
	m := res.Check.FirstMismatch
	if res.Check.MismatchedMsgs != 1 || m == nil {
		t.Fatalf("verification %+v, want exactly one mismatched message", res.Check)
	}
	if m.Offset != 1234 || m.Want^m.Got != 0x20 {
		t.Errorf("first mismatch %+v, want offset 1234 with one bit flipped", *m)
	}
	if res.OK() {
		t.Error("OK() is true for a corrupted run")
	}
	// Without verification the same run counts no mismatch.
	o.NoVerify = true
	if res := run(t, o); res.Check.MismatchedMsgs != 0 || res.Verify {
		t.Errorf("--no-verify still checked: %+v", res.Check)
	}
}

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
func (truncator) OnClose(engine.Conn, error)   {}

type extender struct{}

func (extender) OnOpen(engine.Conn) {}
func (extender) OnData(conn engine.Conn, in []byte) int {
	conn.Write(append(append([]byte(nil), in...), '!'))
	return len(in)
}
func (extender) OnPeerClose(conn engine.Conn) { conn.CloseWrite() }
func (extender) OnClose(engine.Conn, error)   {}

// Short and long echoes are counted with their first offsets; a server
// closing early is an error of its own kind.
func TestShortAndExtraEchoes(t *testing.T) {
	t.Run("short", func(t *testing.T) {
		ep, _ := server(t, "tcp", truncator{n: 250})
		o := quick(ep)
		o.Conns = 1
		o.Depth = 4
		res := run(t, o)
		c := res.Check
		if c.ShortConns != 1 || c.MissingBytes == 0 || c.FirstShort == nil || c.FirstShort.Offset != 250 {
			t.Errorf("verification %+v (first short %+v), want one short connection from offset 250", c, c.FirstShort)
		}
		if res.TotalRecvBytes != 250 {
			t.Errorf("received %d bytes, want the 250 the server echoed", res.TotalRecvBytes)
		}
		if !hasError(res, "closed by the peer") {
			t.Errorf("errors %v, want the early close counted", res.Errors)
		}
	})
	t.Run("extra", func(t *testing.T) {
		ep, _ := server(t, "tcp", extender{})
		o := quick(ep)
		o.Conns, o.Depth = 1, 1 // one message at a time: each echo is the message and a '!'
		res := run(t, o)
		c := res.Check
		if c.ExtraBytes == 0 || c.FirstExtra == nil || c.FirstExtra.Got != '!' || c.FirstExtra.Offset != 100 || c.MismatchedMsgs != 0 {
			t.Errorf("verification %+v (first extra %+v), want extra bytes '!'", c, c.FirstExtra)
		}
	})
}

func hasError(res *bench.Result, kind string) bool {
	for _, e := range res.Errors {
		if strings.Contains(e.Kind, kind) && e.Count > 0 {
			return true
		}
	}
	return false
}

// A refused port is counted by kind, the run still ends by itself, and the
// first error keeps its errno for the caller.
func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o := quick(endpoint.Endpoint{Scheme: "tcp", Addr: addr})
	res := run(t, o)
	if res.ConnsUp != 0 || !hasError(res, "connect: connection refused") {
		t.Fatalf("conns up %d, errors %v; want 8 refusals", res.ConnsUp, res.Errors)
	}
	if res.Errors[0].Count != 8 {
		t.Errorf("counted %d refusals, want 8", res.Errors[0].Count)
	}
	if res.ConnectError() == nil {
		t.Error("ConnectError is nil")
	}
}

// resetter resets each connection after its first read.
type resetter struct{}

func (resetter) OnOpen(engine.Conn)                     {}
func (resetter) OnData(conn engine.Conn, in []byte) int { conn.Abort(); return len(in) }
func (resetter) OnPeerClose(conn engine.Conn)           { conn.Close() }
func (resetter) OnClose(engine.Conn, error)             {}

// Peers that reset are counted, and their unanswered bytes are missing.
func TestResetCounted(t *testing.T) {
	ep, _ := server(t, "tcp", resetter{})
	res := run(t, quick(ep))
	if !hasError(res, "connection reset") {
		t.Errorf("errors %v, want resets counted", res.Errors)
	}
	if res.Check.ShortConns != 8 {
		t.Errorf("short connections %d, want all 8", res.Check.ShortConns)
	}
}

// Open loop: the run sends at the rate asked, whatever the echoes do.
func TestOpenLoopRate(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	o := quick(ep)
	o.Rate = 2000
	o.Warmup = 0
	o.Duration = time.Second
	res := run(t, o)
	if !res.OK() {
		t.Fatalf("errors %v, verification %+v", res.Errors, res.Check)
	}
	// 2000 msgs/s for one second: each connection's messages are due on a
	// fixed schedule, so the number due in the window — timed, or never
	// sent — is exact up to one per connection at the edges.
	if got := uint64(res.Latency.Count) + res.Unsent; got < 2000-8 || got > 2000+8 {
		t.Errorf("%d messages timed + %d unsent in the window, want 2000 ± 8", res.Latency.Count, res.Unsent)
	}
}

// Sink only sends; the server's byte count matches what was sent.
func TestSink(t *testing.T) {
	ep, srv := server(t, "tcp", service.Discard{})
	o := quick(ep)
	o.Mode = bench.ModeSink
	res := run(t, o)
	if len(res.Errors) != 0 || res.TotalSentBytes == 0 {
		t.Fatalf("errors %v, sent %d bytes", res.Errors, res.TotalSentBytes)
	}
	if st := srv.Stats(); st.BytesIn != res.TotalSentBytes {
		t.Errorf("server read %d bytes, bench sent %d", st.BytesIn, res.TotalSentBytes)
	}
}

// Source only reads.
func TestSource(t *testing.T) {
	ep, _ := server(t, "tcp", service.Chargen{})
	o := quick(ep)
	o.Mode = bench.ModeSource
	res := run(t, o)
	if res.TotalRecvBytes == 0 || res.TotalSentBytes != 0 || res.BytesPerSec == 0 {
		t.Fatalf("source run: received %d, sent %d, %v B/s", res.TotalRecvBytes, res.TotalSentBytes, res.BytesPerSec)
	}
}

// Bad options are refused before anything connects.
func TestBadOptions(t *testing.T) {
	ep := endpoint.MustParse("tcp://127.0.0.1:9")
	udp := endpoint.MustParse("udp://127.0.0.1:9")
	for name, o := range map[string]bench.Options{
		"size":       {Endpoint: ep, Size: bench.MaxSize + 1},
		"depth":      {Endpoint: ep, Depth: bench.MaxDepth + 1},
		"rate":       {Endpoint: ep, Rate: -1},
		"mode":       {Endpoint: ep, Mode: "mirror"},
		"udp size":   {Endpoint: udp, Size: 70000},
		"udp seq":    {Endpoint: udp, Size: 4},
		"udp source": {Endpoint: udp, Mode: bench.ModeSource},
	} {
		if _, err := bench.Run(context.Background(), o); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}

// The JSON report carries the figures; the HTML report embeds them with
// the charts' script and nothing fetched from elsewhere.
func TestReports(t *testing.T) {
	ep, _ := server(t, "tcp", service.Echo{})
	res := run(t, quick(ep))
	var js strings.Builder
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	for _, k := range []string{"latency", "msgs_per_sec", "verification", "errors", "series", "connect_time", "bench"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var page strings.Builder
	if err := res.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	for _, want := range []string{`id="latency-chart"`, `id="throughput-chart"`, `"latency_curve"`, "sockit bench tcp://"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
	if strings.Contains(h, "http://") && !strings.Contains(h, "http://www.w3.org/2000/svg") || strings.Contains(h, "https://") || strings.Contains(h, " src=") {
		t.Error("HTML refers to something outside itself")
	}
	var text strings.Builder
	res.WriteText(&text)
	for _, want := range []string{"p99.9", "msgs/s", "verification", "errors        none"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

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
