package ws_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// When the engine shuts down, an idle WebSocket client gets a close frame
// (1001, going away) at once, and the close handshake ends within the
// shutdown's grace: no connection has to be cut.
func TestShutdownSendsGoingAway(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv, err := engine.NewServer(&engine.Config{Backend: b})
		if err != nil {
			t.Fatal(err)
		}
		addr, err := srv.Listen(endpoint.Endpoint{Scheme: "tcp4", Addr: "127.0.0.1:0"}, ws.NewServer(ws.Echo{}, ws.ServerOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		nc, err := net.Dial("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		bc, err := ws.Dial(ctx, nc, "/", ws.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := bc.WriteMessage(ws.OpText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, data, err := bc.ReadMessage(); err != nil || string(data) != "hi" {
			t.Fatalf("echo: %q, %v", data, err)
		}

		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(ctx) }()
		_, _, err = bc.ReadMessage() // answers the close frame
		var ce *ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.CloseGoingAway {
			t.Fatalf("after the server began to shut down, the client read %v; want a close frame 1001", err)
		}
		bc.Close(ws.CloseNormal, "") // waits for the server to close TCP first, then closes

		if err := <-shut; err != nil {
			t.Fatalf("Shutdown = %v, want nil: the close handshake ends it", err)
		}
		if f := srv.Stats().Forced; f != 0 {
			t.Fatalf("Shutdown cut %d connections", f)
		}
	})
}
