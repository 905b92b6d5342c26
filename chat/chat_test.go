package chat_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sockit/sockit/chat"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// reader collects the lines a client reads, in a goroutine of its own.
type reader struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func readLines(c net.Conn) *reader {
	r := &reader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) has(want string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func (r *reader) from(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if rest, ok := strings.CutPrefix(l, name+": "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// Many clients, one of them not reading: every line reaches every client
// that reads, in order, and the one that does not is dropped with a
// notice to the others; WebSocket clients are in the same room.
func TestRoom(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		room := chat.New(chat.Options{MaxQueue: 128 << 10})
		srv := testkit.NewServer(t, &engine.Config{Backend: b, SendBuf: 4096})
		tcp := testkit.Listen(t, srv, endpoint.MustParse("tcp://127.0.0.1:0"), room.Stream())
		wsep := testkit.Listen(t, srv, endpoint.MustParse("tcp://127.0.0.1:0"), ws.NewServer(room.Messages(), ws.ServerOptions{}))

		const readers = 12
		var conns []net.Conn
		var rs []*reader
		for i := 0; i < readers; i++ {
			c := testkit.Dial(t, "tcp", tcp.Addr)
			conns = append(conns, c)
			rs = append(rs, readLines(c))
		}
		slow := testkit.DialSmall(t, tcp.Addr, 4096) // never reads
		wc, err := ws.Dial(testkit.Context(t), testkit.Dial(t, "tcp", wsep.Addr), "/", ws.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "everyone to join", func() bool { return room.Stats().Here == readers+2 })

		sender := conns[0]
		name := sender.LocalAddr().String()
		slowName := slow.LocalAddr().String()
		var wsLines atomic.Int64
		wsDone := make(chan struct{})
		go func() { // the browser reads what is said, as text messages
			defer close(wsDone)
			for {
				op, msg, err := wc.ReadMessage()
				if err != nil {
					return
				}
				if op == ws.OpText && strings.HasPrefix(string(msg), name+": line ") {
					wsLines.Add(1)
				}
			}
		}()
		// The sender talks in bursts, as people do; every reader keeps up,
		// the one that never reads falls behind until it is dropped.
		const lines, burst = 8000, 400
		for sent := 0; sent < lines; sent += burst {
			var sb strings.Builder
			for i := sent; i < sent+burst; i++ {
				fmt.Fprintf(&sb, "line %04d %s\n", i, strings.Repeat("x", 80))
			}
			if _, err := sender.Write([]byte(sb.String())); err != nil {
				t.Fatal(err)
			}
			for i, r := range rs[1:] {
				testkit.Eventually(t, fmt.Sprintf("reader %d to get the burst", i+1), func() bool { return len(r.from(name)) >= sent+burst })
			}
		}
		if err := wc.WriteMessage(ws.OpText, []byte("hello from a browser")); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs[1:] {
			got := r.from(name)
			for k := range got {
				if !strings.HasPrefix(got[k], fmt.Sprintf("line %04d ", k)) {
					t.Fatalf("reader %d: line %d is %q", i+1, k, got[k])
				}
			}
			testkit.Eventually(t, "the drop notice", func() bool { return r.has("* " + slowName + " was dropped") })
			testkit.Eventually(t, "the browser's message", func() bool { return r.has(": hello from a browser") })
		}
		testkit.Eventually(t, "the browser to get every line", func() bool { return wsLines.Load() == lines })
		if st := room.Stats(); st.Dropped != 1 || st.Here != readers+1 {
			t.Errorf("Stats %+v, want the slow client dropped and the rest here", st)
		}
		wc.Close(ws.CloseNormal, "")
		testkit.Receive(t, wsDone, "the browser's end")
		for _, c := range conns {
			c.Close()
		}
		for _, r := range rs {
			testkit.Receive(t, r.done, "the reader's end")
		}
	})
}

// Long lines are said in pieces; a client that half-closes after an
// unended line has it said, then leaves.
func TestPartialLineAndLeave(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		room := chat.New(chat.Options{MaxLine: 8})
		_, ep := testkit.ServeEngine(t, &engine.Config{Backend: b}, "tcp", room.Stream())
		a := testkit.Dial(t, "tcp", ep.Addr)
		ra := readLines(a)
		testkit.Eventually(t, "a's welcome", func() bool { return ra.has("* welcome") })
		c := testkit.Dial(t, "tcp", ep.Addr)
		c.Write([]byte("0123456789abc\r\nlast words"))
		c.(*net.TCPConn).CloseWrite()
		name := c.LocalAddr().String()
		testkit.Eventually(t, "the pieces, the last words and the leaving", func() bool {
			got := ra.from(name)
			return len(got) == 4 && got[0] == "01234567" && got[1] == "89abc" && got[2] == "last wor" && got[3] == "ds" && ra.has("* "+name+" left")
		})
		a.Close()
		testkit.Receive(t, ra.done, "the reader's end")
	})
}
