package bench

import (
	"os"
	"runtime"
	"strings"
	"time"
)

// Schema names the form of a Result's JSON (and of the interval objects):
// it changes when a key is renamed or removed or changes meaning.
const Schema = "sockit.bench/2"

// Meta says how, where and when a run was made, for a reader of its
// report months later; which sockit made it (its version, Go version, OS
// and architecture) is the Result's Sockit.
type Meta struct {
	Schema    string    `json:"schema"`
	Command   string    `json:"command,omitempty"`
	StartTime time.Time `json:"start_time"`
	Host      string    `json:"host"`
	Kernel    string    `json:"kernel,omitempty"` // the kernel release (Linux)
	CPUs      int       `json:"cpus"`
}

// newMeta describes a run of o that began at start.
func newMeta(o *Options, start time.Time) Meta {
	host, _ := os.Hostname()
	return Meta{Schema: Schema, Command: strings.Join(o.Command, " "), StartTime: start.UTC(), Host: host, Kernel: kernelRelease(), CPUs: runtime.NumCPU()}
}
