package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// selfCommand is how the user runs this sockit again, for the commands a
// verb suggests (serve's "try:" lines): see selfName.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "sockit"
	}
	onPath := false
	if p, err := exec.LookPath("sockit"); err == nil {
		a, errA := os.Stat(p)
		b, errB := os.Stat(exe)
		onPath = errA == nil && errB == nil && os.SameFile(a, b)
	}
	_, err = os.Stat(filepath.Join("cmd", "sockit", "main.go"))
	return selfName(os.Args[0], exe, onPath, err == nil)
}

// selfName is how to run the executable exe, started as arg0, again:
// "sockit" when PATH finds it by that name; under `go run` (exe is in the
// go tool's build cache or a go-build directory), "go run ./cmd/sockit"
// from the module's root (inModule), where the README's first command
// runs it; else the path it was started by ("./sockit"), or "sockit".
func selfName(arg0, exe string, onPath, inModule bool) string {
	switch {
	case onPath:
		return "sockit"
	case strings.Contains(filepath.ToSlash(exe), "/go-build"):
		if inModule {
			return "go run ./cmd/sockit"
		}
		return "sockit"
	case strings.ContainsRune(arg0, filepath.Separator) || strings.ContainsRune(arg0, '/'):
		return arg0
	}
	return "sockit"
}
