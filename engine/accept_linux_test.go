package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
)

// Both ways of spreading connections over loops serve every connection,
// with two loops so that the hand-off between loops is exercised.
func TestAcceptModes(t *testing.T) {
	for _, mode := range []engine.AcceptMode{engine.AcceptDefault, engine.AcceptShared, engine.AcceptReusePort} {
		t.Run(fmt.Sprintf("accept=%q", mode), func(t *testing.T) {
			t.Parallel()
			srv, err := engine.NewServer(&engine.Config{Backend: engine.BackendEpoll, Loops: 2, Accept: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			addr, err := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), service.Echo{})
			if err != nil {
				t.Fatal(err)
			}
			const conns = 200
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i := range conns {
				wg.Go(func() {
					c, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(30 * time.Second))
					msg := []byte(fmt.Sprintf("conn %d", i))
					if _, err := c.Write(msg); err != nil {
						errs <- err
						return
					}
					c.(*net.TCPConn).CloseWrite()
					got, err := io.ReadAll(c)
					if err != nil || !bytes.Equal(got, msg) {
						errs <- fmt.Errorf("conn %d: got %q, %v; want %q then EOF", i, got, err, msg)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := srv.Stats().Accepted; got != conns {
				t.Errorf("Stats().Accepted = %d, want %d", got, conns)
			}
		})
	}
}

// With AcceptReusePort, a port already taken fails the whole Listen and
// leaves no listener of its own behind.
func TestAcceptReusePortInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv, err := engine.NewServer(&engine.Config{Backend: engine.BackendEpoll, Loops: 2, Accept: engine.AcceptReusePort})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Listen(endpoint.MustParse("tcp://"+taken.Addr().String()), service.Echo{}); err == nil {
		t.Fatalf("Listen on a taken port succeeded")
	}
}
