package engine_test

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// drainLog is a Drainer that records the order of OnOpen and OnDrain.
type drainLog struct {
	testkit.Funcs
	mu    sync.Mutex
	calls []string
	drain chan struct{} // one value per OnDrain
	errs  chan error
}

func (d *drainLog) record(call string) {
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
}

func (d *drainLog) OnOpen(c engine.Conn) {
	d.record("open")
	d.Funcs.OnOpen(c)
}

func (d *drainLog) OnDrain(engine.Conn) {
	d.record("drain")
	select {
	case d.drain <- struct{}{}:
	default:
	}
}

func (d *drainLog) OnClose(_ engine.Conn, err error) { d.errs <- err }

func (d *drainLog) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// A Drainer's OnDrain comes once after OnOpen, as the Drainer doc says,
// and never once CloseWrite or Close was asked for.
func TestDrainerCalls(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		msg := []byte("the last words\n")
		tests := []struct {
			name      string
			open      func(c engine.Conn)
			wantDrain bool
		}{
			{name: "after open", open: nil, wantDrain: true},
			{name: "not after CloseWrite", open: func(c engine.Conn) { c.Write(msg); c.CloseWrite() }},
			{name: "not after Close", open: func(c engine.Conn) { c.Write(msg); c.Close() }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, b, engine.Config{})
				d := &drainLog{Funcs: testkit.Funcs{Open: tt.open}, drain: make(chan struct{}, 1), errs: make(chan error, 1)}
				c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", d))
				if tt.wantDrain {
					testkit.Receive(t, d.drain, "OnDrain after OnOpen")
				} else if got, err := testkit.ReadAll(c, len(msg)); err != nil || string(got) != string(msg) {
					t.Fatalf("read %q, %v; want %q, then EOF", got, err, msg)
				}
				if err := closeWrite(c); err != nil {
					t.Fatal(err)
				}
				if err := testkit.Receive(t, d.errs, "OnClose"); err != nil {
					t.Errorf("OnClose: %v, want nil", err)
				}
				calls := d.log()
				if tt.wantDrain && !slices.Equal(calls[:min(2, len(calls))], []string{"open", "drain"}) {
					t.Errorf("callbacks %v; want OnOpen, then OnDrain", calls)
				}
				if !tt.wantDrain && slices.Contains(calls, "drain") {
					t.Errorf("callbacks %v; want no OnDrain once output was closed", calls)
				}
			})
		}
	})
}

// A Drainer streams to a peer that only reads: every OnDrain's output is
// sent though no input and no other event follows it (the uring backend
// once left what OnDrain wrote queued until the next receive).
func TestDrainerStreams(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newServer(t, b, engine.Config{HighWatermark: 256 << 10, LowWatermark: 64 << 10})
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", service.Chargen{}))
		if err := c.SetDeadline(time.Now().Add(testkit.Timeout)); err != nil {
			t.Fatal(err)
		}
		const size = 8 << 20
		got := make([]byte, size)
		if n, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read %d of %d bytes: %v", n, size, err)
		}
		if !bytes.Equal(got, service.ChargenPattern(size)) {
			t.Error("the stream differs from the chargen pattern")
		}
	})
}
