package tcpstate_test

import (
	"net"
	"os"
	"testing"

	"github.com/sockit/sockit/tcpstate"
)

// Owners finds this process as the owner of its own listener, with its
// command name, as ss -p would.
func TestOwners(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: uint16(ln.Addr().(*net.TCPAddr).Port)})
	if err != nil {
		t.Fatal(err)
	}
	var inode uint64
	for _, s := range socks {
		if s.State == tcpstate.Listen && s.Local.String() == ln.Addr().String() {
			inode = s.Inode
		}
	}
	if inode == 0 {
		t.Fatalf("no inode for our listener among %+v", socks)
	}
	owners, err := tcpstate.Owners()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := owners[inode]
	if !ok || p.PID != os.Getpid() || p.Name == "" {
		t.Fatalf("owner of our listener = %+v (found %v), want pid %d with a name", p, ok, os.Getpid())
	}
}
