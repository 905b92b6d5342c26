package engine_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/service"
)

// goaway is an echo that says goodbye when the server shuts down: it
// writes a last line and closes.
type goaway struct {
	service.Echo
	calls atomic.Int32
}

func (g *goaway) OnShutdown(c engine.Conn) {
	g.calls.Add(1)
	c.Write([]byte("bye\n"))
	c.Close()
}

// Shutdown calls OnShutdown once on each open connection, on its loop like
// its other callbacks, and the connections it closes end within the grace:
// none has to be cut.
func TestShutdownHandler(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv, err := engine.NewServer(&engine.Config{Backend: b})
		if err != nil {
			t.Fatal(err)
		}
		g := &goaway{}
		addr := listen(t, srv, "tcp4", "127.0.0.1:0", g)
		var cs []net.Conn
		for i := 0; i < 3; i++ {
			c, err := dialConn(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("x"))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err) // the echo proves the connection is open
			}
			cs = append(cs, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(ctx) }()
		for i, c := range cs {
			c.SetReadDeadline(time.Now().Add(testkit.Timeout))
			got, err := io.ReadAll(c) // the goodbye, then the server's FIN
			if err != nil || string(got) != "bye\n" {
				t.Errorf("connection %d read %q, %v; want the goodbye and EOF", i, got, err)
			}
			c.Close() // our FIN: the server's Close is complete
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown = %v, want nil", err)
		}
		if n := g.calls.Load(); n != 3 {
			t.Errorf("OnShutdown called %d times, want 3", n)
		}
		if f := srv.Stats().Forced; f != 0 {
			t.Errorf("Shutdown cut %d connections", f)
		}
	})
}
