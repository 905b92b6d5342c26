package bench_test

import (
	"testing"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// Over TLS and WebSocket, as sockit serve runs them (WebSocket echo keeps
// each message whole), every byte comes back, and the run ends with the
// close handshake: nothing is cut off by the drain.
func TestEchoLayers(t *testing.T) {
	for _, scheme := range []string{"tls", "ws", "wss"} {
		for _, mode := range []bench.Mode{bench.ModeEcho, bench.ModeSink} {
			t.Run(scheme+"/"+string(mode), func(t *testing.T) {
				srv := testkit.NewServer(t, &engine.Config{Loops: 1})
				ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), Messages: ws.Echo{}})
				var h engine.Handler = service.Echo{}
				if mode == bench.ModeSink {
					ls = layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
					h = service.Discard{}
				}
				ep := endpoint.Endpoint{Scheme: scheme, Addr: "127.0.0.1:0", Path: "/"}
				if !ep.IsWebSocket() {
					ep.Path = ""
				}
				addr, err := ls.Listen(srv, ep, h)
				if err != nil {
					t.Fatal(err)
				}
				o := quick(ep.WithAddr(addr))
				o.Insecure, o.Mode = true, mode
				res := run(t, o)
				if !res.OK() || len(res.Errors) != 0 {
					t.Fatalf("run not clean: errors %v, verification %+v", res.Errors, res.Check)
				}
				if res.Messages == 0 || res.TotalSentBytes != res.TotalSentMsgs*100 {
					t.Errorf("%d messages measured, %d bytes sent in %d messages", res.Messages, res.TotalSentBytes, res.TotalSentMsgs)
				}
				// A closed-loop sink sends Depth messages a connection, then
				// more from OnDrain only, which must reach it through the
				// layers. (How many more depends on the machine's speed.)
				if most := uint64(o.Conns * o.Depth); mode == bench.ModeSink && res.TotalSentMsgs <= most {
					t.Errorf("the sink sent %d messages, %d at most without OnDrain: OnDrain did not reach it", res.TotalSentMsgs, most)
				}
				if mode == bench.ModeEcho && res.Check.CheckedBytes != res.TotalSentBytes {
					t.Errorf("checked %d bytes of the %d sent", res.Check.CheckedBytes, res.TotalSentBytes)
				}
			})
		}
	}
}
