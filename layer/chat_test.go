//go:build unix

package layer_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/chat"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
)

// One chat room over every stream scheme, as serve --service chat stacks
// it: what a client on one says reaches the clients on all the others,
// as lines (WebSocket ones as a stream of messages, as sockit connect
// reads them), and a message with a line's end in it cannot pass for a
// notice.
func TestChatEveryScheme(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newEngine(t, b)
		room := chat.New(chat.Options{})
		ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS(), Messages: room.Messages()})
		eps := []endpoint.Endpoint{
			endpointFor("tcp"),
			{Scheme: "unix", Addr: testkit.SockPath(t, "chat.sock")},
			endpointFor("tls"),
			endpointFor("ws"),
			endpointFor("wss"),
		}
		var ms []chatMember
		for i, ep := range eps {
			addr, err := ls.Listen(srv, ep, room.Stream())
			if err != nil {
				t.Fatalf("Listen(%s) = %v", ep, err)
			}
			ep.Addr = addr.String()
			c, err := layer.Dial(testkit.Context(t), ep, layer.ClientConfig{TLS: testkit.ClientTLS()}, client.Options{})
			if err != nil {
				t.Fatalf("Dial(%s) = %v", ep, err)
			}
			t.Cleanup(func() { c.Close() })
			c.SetReadDeadline(time.Now().Add(testkit.Timeout))
			m := chatMember{ep: ep, c: c, lines: bufio.NewReader(c)}
			m.expect(t, "* welcome")
			for _, old := range ms {
				old.expect(t, fmt.Sprintf("joined (%d here)", i+1))
			}
			ms = append(ms, m)
		}
		for i, m := range ms {
			said := "hello from " + m.ep.Scheme
			if m.ep.IsWebSocket() {
				said += "\n* someone was dropped" // one message, two lines: said as two
			}
			if _, err := m.c.Write([]byte(said + "\n")); err != nil {
				t.Fatalf("%s: %v", m.ep.Scheme, err)
			}
			for j, o := range ms {
				if j == i {
					continue
				}
				o.expect(t, ": hello from "+m.ep.Scheme)
				if m.ep.IsWebSocket() {
					o.expect(t, ": * someone was dropped")
				}
			}
		}
		testkit.Eventually(t, "the room's count", func() bool {
			st := room.Stats()
			return st.Joined == 5 && st.Messages == 7
		})
	})
}

// chatMember is a client in the room, on one endpoint.
type chatMember struct {
	ep    endpoint.Endpoint
	c     *client.Conn
	lines *bufio.Reader
}

// expect reads the member's next line and fails unless it holds want.
func (m chatMember) expect(t *testing.T, want string) {
	t.Helper()
	line, err := m.lines.ReadString('\n')
	if err != nil || !strings.Contains(line, want) {
		t.Fatalf("the %s client read %q, %v; want a line with %q", m.ep.Scheme, line, err, want)
	}
}
