package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Schema names the form of a Result's JSON (and of the interval objects):
// it changes when a key is renamed or removed or changes meaning.
const Schema = "sockit.bench/2"

// Meta says what made a run, where and when, for a reader of its report
// months later.
type Meta struct {
	Schema    string    `json:"schema"`
	Version   string    `json:"sockit_version"` // the module version, or the VCS revision of a build from a checkout; "(devel)" when neither is known
	Command   string    `json:"command,omitempty"`
	StartTime time.Time `json:"start_time"`
	Host      string    `json:"host"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	Kernel    string    `json:"kernel,omitempty"` // the kernel release (Linux)
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"go_version"`
}

// newMeta describes a run of o that began at start.
func newMeta(o *Options, start time.Time) Meta {
	host, _ := os.Hostname()
	return Meta{
		Schema: Schema, Version: version(), Command: strings.Join(o.Command, " "), StartTime: start.UTC(),
		Host: host, OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: kernelRelease(), CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(),
	}
}

// version is sockit's version from the build information.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(len(s.Value), 12)]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return "(devel) " + rev + dirty
}
