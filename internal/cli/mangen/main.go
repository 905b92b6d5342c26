// Command mangen writes the manual pages (section 1) of sockit and of each
// of its verbs, made from the command tree, into the directory it is
// given: go generate ./internal/cli/mangen runs it for doc/man, and its test
// checks that doc/man is current. It is a program of its own so that the
// sockit binary does not carry the man page generator.
package main

//go:generate go run . ../../../doc/man

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/sockit/sockit/internal/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mangen DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}

// write makes dir and writes the pages into it.
func write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	app := &cli.App{IO: cli.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, Hard: context.Background()}
	return writeManPages(cli.NewRootCmd(app), dir)
}

// writeManPages writes root's pages into dir. Flag defaults that depend
// on the machine the pages are made on are described instead of shown.
func writeManPages(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	for _, c := range root.Commands() {
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
