package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/internal/version"
)

// VersionOptions are the inputs of `sockit version`.
type VersionOptions struct {
	IO   IOStreams
	JSON bool
	info func() version.Info // version.Get; tests replace it
}

// NewCmdVersion builds `sockit version`, which says what `sockit --version`
// says, or with --json all of the build information.
func NewCmdVersion(app *App, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{info: version.Get}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print sockit's version: module version, commit and its time, Go version, OS/arch",
		Long: `Print the version of this sockit binary, read from the build information the
go tool writes into it: the module version ("(devel)" under go run or from a
checkout), the VCS commit and its time (and "modified" if the checkout had
changes), the Go version and the OS/architecture. The same as sockit --version.`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the build information as one JSON object")
	return cmd
}

func runVersion(opts *VersionOptions) error {
	in := opts.info()
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	_, err := fmt.Fprintln(opts.IO.Out, in)
	return err
}
