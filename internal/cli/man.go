package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The manual pages in doc/man are made from the command tree by `sockit
// man DIR`; go generate runs it, and a test checks that they match.
//go:generate go run ../../cmd/sockit man ../../doc/man

// NewCmdMan builds `sockit man DIR`, hidden: it writes a manual page
// (section 1) for sockit and for each verb into DIR.
func NewCmdMan(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the manual pages (section 1) of sockit and its verbs into DIR",
		Hidden: true,
		Args:   argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			if err := writeManPages(NewRootCmd(&App{IO: app.IO, Hard: app.Hard}), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(app.IO.ErrOut, "manual pages written to %s\n", args[0])
			return nil
		},
	}
}

// writeManPages writes root's pages into dir. Flag defaults that depend
// on the machine the pages are made on are described instead of shown.
func writeManPages(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		for name, what := range machineDefaults[c.Name()] {
			if f := c.Flags().Lookup(name); f != nil {
				f.DefValue = what
			}
		}
	}
	return doc.GenManTree(root, &doc.GenManHeader{Title: "SOCKIT", Section: "1", Source: "sockit", Manual: "sockit manual"}, dir)
}

// machineDefaults are, per verb, the flags whose default is computed on
// the machine that runs sockit, and what the manual says instead.
var machineDefaults = map[string]map[string]string{
	"serve": {"engine": "epoll on Linux, std elsewhere", "max-pending-total": "a 32nd of the machine's memory"},
	"bench": {"engine": "epoll on Linux, std elsewhere"},
}
