package tcpstate_test

import (
	"os"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// TestMain fails the package if a test leaves goroutines or descriptors
// behind: tracefs pipes, packet sockets and netlink sockets included.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
