package http1_test

import (
	"os"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// TestMain fails the package if a test leaves a goroutine or a descriptor
// behind.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
