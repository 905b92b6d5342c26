package bench_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

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

// unixpacket messages above the engine's default 64 KiB read buffer come
// back whole: the bench reads each in one piece.
func TestUnixpacketBigMessages(t *testing.T) {
	_, ep := testkit.ServeEngine(t, &engine.Config{Loops: 1, ReadBuffer: 1 << 20}, "unixpacket", service.Echo{})
	o := quick(ep)
	o.Conns, o.Size = 2, 100_000
	res := run(t, o)
	if !res.OK() || res.Messages == 0 {
		t.Fatalf("errors %v, verification %+v, %d messages", res.Errors, res.Check, res.Messages)
	}
}
