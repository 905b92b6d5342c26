package engine_test

import (
	"os"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// TestMain fails the package if a test leaves a goroutine or a descriptor
// behind: every server must end everything it started (contract 5).
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
