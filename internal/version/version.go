// Package version says which sockit is running, from the build information
// the go tool writes into every binary (runtime/debug.ReadBuildInfo): the
// module version, the VCS commit and its time, whether the work tree had
// changes, the Go version, and the OS and architecture. The CLI prints it
// (sockit --version, sockit version) and bench stamps its results with it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what a binary knows of its own build. A field the build did not
// record is empty: `go run` and `go test` record no module version
// ("(devel)"), and a build outside a VCS checkout (or with -buildvcs=false)
// records no commit.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`            // "v1.2.3", a pseudo-version, or "(devel)"
	Commit    string `json:"commit,omitempty"`   // vcs.revision
	Time      string `json:"time,omitempty"`     // vcs.time: the commit's time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // vcs.modified: the work tree had changes
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Get returns this binary's Info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(unknown)", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	}
	return FromBuildInfo(bi, runtime.GOOS, runtime.GOARCH)
}

// FromBuildInfo reads bi, built for goos and goarch.
func FromBuildInfo(bi *debug.BuildInfo, goos, goarch string) Info {
	in := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion, OS: goos, Arch: goarch}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is one line: "sockit v1.2.3 (commit 0123456789ab, 2026-12-05T10:00:00Z,
// modified) go1.26.8 linux/amd64".
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sockit %s", in.Version)
	var vcs []string
	if in.Commit != "" {
		vcs = append(vcs, "commit "+short(in.Commit))
	}
	if in.Time != "" {
		vcs = append(vcs, in.Time)
	}
	if in.Modified {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(vcs, ", "))
	}
	fmt.Fprintf(&b, " %s %s/%s", in.GoVersion, in.OS, in.Arch)
	return b.String()
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
