// Command sockit serves, connects to and observes sockets. See
// `sockit --help`.
package main

import (
	"os"

	"github.com/sockit/sockit/internal/cli"
)

func main() { os.Exit(cli.Main()) }
