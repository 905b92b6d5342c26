package ws_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/ws"
)

// An echo server on the engine, and the blocking client talking to it.
func ExampleNewServer() {
	srv, err := engine.NewServer(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	addr, err := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/echo"}))
	if err != nil {
		panic(err)
	}

	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ws.Dial(ctx, nc, "ws://"+addr.String()+"/echo", ws.ClientOptions{})
	if err != nil {
		panic(err)
	}
	c.WriteMessage(ws.OpText, []byte("hello"))
	op, msg, err := c.ReadMessage()
	fmt.Println(op, string(msg), err)
	fmt.Println(c.Close(ws.CloseNormal, "bye"))
	// Output:
	// text hello <nil>
	// <nil>
}
