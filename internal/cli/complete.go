package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tour"
)

// flagValues are the values shell completion offers for a flag that takes
// one of a few, by flag name, on every verb that has the flag; each value
// may carry a description after a tab. The lists come from the packages
// that accept the values.
var flagValues = map[string]func() []string{
	"service": func() []string { return service.Names },
	"engine": func() []string {
		var names []string
		for _, b := range engine.Backends() {
			names = append(names, string(b))
		}
		return names
	},
	"accept": func() []string {
		return []string{string(engine.AcceptShared) + "\tone listener deals connections to the loops",
			string(engine.AcceptReusePort) + "\ta listener per loop (SO_REUSEPORT)"}
	},
	"mode": func() []string {
		return []string{string(bench.ModeEcho) + "\tsend and verify the echoes",
			string(bench.ModeSink) + "\tonly send", string(bench.ModeSource) + "\tonly read"}
	},
	"payload": func() []string {
		return []string{"random\trandom bytes", "zeros\tzero bytes", "@\t@FILE: each message is the file"}
	},
	"proxy-protocol": func() []string { return []string{"1\ttext header (v1)", "2\tbinary header (v2)"} },
	"send-call":      func() []string { send, _, _, _ := sockapi.Names(); return send },
	"recv-call":      func() []string { _, recv, _, _ := sockapi.Names(); return recv },
	"send-flags":     func() []string { _, _, flags, _ := sockapi.Names(); return flags },
	"recv-flags":     func() []string { _, _, flags, _ := sockapi.Names(); return flags },
	"shutdown":       func() []string { _, _, _, how := sockapi.Names(); return how },
	"lang":           tour.Languages,
	"urgent": func() []string {
		return []string{string(engine.UrgentReceive) + "\ttaken apart with recv(MSG_OOB) and narrated",
			string(engine.UrgentInline) + "\tkept in the stream (SO_OOBINLINE)", "off\tleft to the kernel, which drops it unread"}
	},
}

// fileFlags name a file: completion offers paths.
var fileFlags = []string{"cert", "key", "ca", "html", "pass-fd"}

// registerCompletions sets the completion of cmd's flags, and its
// subcommands', from flagValues and fileFlags.
func registerCompletions(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if values, ok := flagValues[f.Name]; ok {
			cmd.RegisterFlagCompletionFunc(f.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return values(), cobra.ShellCompDirectiveNoFileComp
			})
		}
	})
	for _, name := range fileFlags {
		if cmd.Flags().Lookup(name) != nil {
			cmd.MarkFlagFilename(name)
		}
	}
	for _, c := range cmd.Commands() {
		registerCompletions(c)
	}
}
