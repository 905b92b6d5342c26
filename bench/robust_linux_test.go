package bench_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
)

// fullBacklog is a loopback listener with a backlog of one that never
// accepts: once its queue is full the kernel drops further SYNs (tcp(7)),
// so their connects hang until they time out.
func fullBacklog(t *testing.T) endpoint.Endpoint {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return endpoint.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)}
}

// Ctrl-C while dials hang does not wait for the connect timeout: the run
// ends within the drain, and the dials still under way are cut.
func TestInterruptWhileDialsHang(t *testing.T) {
	ep := fullBacklog(t)
	o := quick(ep)
	o.ConnectTimeout = time.Minute
	o.Drain = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("an interrupt while dials hang took %v to end the run", took)
	}
	if res.ConnsUp == 8 {
		t.Skip("every connect completed: this kernel queued them all")
	}
	validJSON(t, res)
}

// A unixpacket message longer than the socket's send buffer fails its
// write with EMSGSIZE, named as such and counted once per connection (not
// again when the failure closes the connection).
func TestUnixpacketTooLongCountedOnce(t *testing.T) {
	srv, err := engine.NewServer(&engine.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr, err := srv.Listen(endpoint.Endpoint{Scheme: "unixpacket", Addr: filepath.Join(t.TempDir(), "s.sock")}, service.Echo{})
	if err != nil {
		t.Fatal(err)
	}
	o := quick(endpoint.Endpoint{Scheme: "unixpacket", Addr: addr.String()})
	o.Conns, o.Size = 2, 8<<20 // above any default net.core.wmem_default
	res := run(t, o)
	if len(res.Errors) != 1 || res.Errors[0].Kind != "write: message too long" || res.Errors[0].Count != 2 {
		t.Errorf("errors %+v, want one write: message too long per connection", res.Errors)
	}
}
