package version

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{name: "release from a checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sockit/sockit", Version: "v1.2.3"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-05T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			want: "sockit v1.2.3 (commit 0123456789ab, 2026-12-05T10:00:00Z, modified) go1.26.8 linux/amd64"},
		{name: "go run: no version, no VCS",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sockit/sockit"}},
			want: "sockit (devel) go1.26.8 linux/amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := FromBuildInfo(&tt.bi, "linux", "amd64").String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGet: a test binary has build information, with the Go version and
// the platform it runs on.
func TestGet(t *testing.T) {
	t.Parallel()
	in := Get()
	if in.GoVersion == "" || in.OS == "" || in.Arch == "" || in.Version == "" {
		t.Errorf("Get() = %+v, want the Go version, the platform and a version", in)
	}
}
