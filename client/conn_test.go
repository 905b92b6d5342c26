package client_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/internal/testkit"
)

// A Conn is a net.Conn by nettest's conformance suite, on every stream
// kind it dials; its peer is the plain accepted socket.
func TestConnConformance(t *testing.T) {
	forNetworks(t, []network{tcp4, tcp6, unixStream, unixPacket}, func(t *testing.T, nw network) {
		addr := nw.addr(t) // skips where the machine lacks the kind
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			if nw.scheme != "tcp4" && nw.scheme != "tcp6" {
				addr = testkit.SockPath(t, "nt.sock") // a fresh file per pipe
			}
			ln, err := net.Listen(nw.scheme, addr)
			if err != nil {
				return nil, nil, nil, err
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			ep := endpoint.Endpoint{Scheme: nw.scheme, Addr: ln.Addr().String()}
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			c, err := client.Dial(ctx, ep, client.Options{})
			peer := <-accepted
			if err != nil || peer == nil {
				if c != nil {
					c.Close()
				}
				if peer != nil {
					peer.Close()
				}
				return nil, nil, nil, errors.Join(err, errors.New("no connection"))
			}
			return c, peer, func() { c.Close(); peer.Close() }, nil
		})
	})
}
