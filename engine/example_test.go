package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
)

// An echo server in a few lines, and a client that sends one message,
// half-closes and prints the reply.
func Example() {
	srv, err := engine.NewServer(nil) // nil Config: the defaults
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	addr, err := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), service.Echo{})
	if err != nil {
		panic(err)
	}

	c, err := client.Dial(context.Background(), endpoint.MustParse("tcp://"+addr.String()), client.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	client.Send(context.Background(), c, []byte("hello, sockets\n"), os.Stdout, client.SendOptions{})
	// Output: hello, sockets
}

// A handler of your own: upper-case what arrives, and answer a half-close
// with a goodbye before closing.
type shout struct{}

func (shout) OnOpen(engine.Conn) {}
func (shout) OnData(c engine.Conn, in []byte) int {
	out := make([]byte, len(in))
	for i, b := range in {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		out[i] = b
	}
	c.Write(out)
	return len(in)
}
func (shout) OnPeerClose(c engine.Conn) {
	c.Write([]byte("BYE\n"))
	c.CloseWrite()
}
func (shout) OnClose(engine.Conn, error) {}

func ExampleHandler() {
	srv, _ := engine.NewServer(nil)
	defer srv.Shutdown(context.Background())
	addr, _ := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), shout{})

	c, _ := client.Dial(context.Background(), endpoint.MustParse("tcp://"+addr.String()), client.Options{})
	defer c.Close()
	var reply strings.Builder
	client.Send(context.Background(), c, []byte("quiet please\n"), &reply, client.SendOptions{})
	fmt.Print(reply.String())
	// Output:
	// QUIET PLEASE
	// BYE
}
