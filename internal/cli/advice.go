package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/layer"
)

// This file is the one place where the command line puts library errors
// in its own words: an option field becomes the flag that sets it, and an
// error gets the advice a user can act on with a flag.

// optionFlags maps "Owner.Field" of a *sockit.OptionError to its flag.
var optionFlags = map[string]string{
	"bench.Options.Conns":         "--conns",
	"bench.Options.ConnectRate":   "--connect-rate",
	"bench.Options.Size":          "--size",
	"bench.Options.Depth":         "--depth",
	"bench.Options.Rate":          "--rate",
	"bench.Options.Duration":      "--duration",
	"bench.Options.Warmup":        "--warmup",
	"bench.Options.Drain":         "--drain",
	"bench.Options.Payload":       "--payload",
	"bench.Options.Mode":          "--mode",
	"bench.Options.HTTPStatus":    "--expect-status",
	"bench.Options.SourceIPs":     "--source-ips",
	"bench.Options.ServerPID":     "--server-pid",
	"bench.RunWorkers.n":          "--procs",
	"engine.Config.Backend":       "--engine",
	"engine.Config.Accept":        "--accept",
	"service.Lookup.name":         "--service",
	"relay.Options.From":          "LISTEN",
	"relay.Options.To":            "TARGET",
	"relay.Options.ProxyProtocol": "--proxy-protocol",
	"relay.Options.MaxSessions":   "--max-sessions",
	"relay.Options.MaxConns":      "--max-conns",
	"proxy.version":               "--proxy-protocol",
	"layer.ClientConfig.Preamble": "--proxy-protocol",
	"service.GuardOptions.Rate":   "--udp-rate",
	"service.GuardOptions.Burst":  "--udp-burst",
	"client.Options.Source":       "--source (-s)",
	"program.Program.Argv":        "--exec",
	"client.Options.Proxy":        "--proxy",
	"relay.Options.Proxy":         "--proxy",
	"bench.Options.Proxy":         "--proxy",
	"layer.ClientConfig.Proxy":    "--proxy",
	"program.Program.Shell":       "--sh",

	// serve --exec.
	"program.ServiceOptions.MaxRunning":  "--max-conns",
	"program.ServiceOptions.IdleTimeout": "--idle-timeout",

	// The WebSocket Origin policy of serve and relay.
	"layer.ServerConfig.AllowOrigins": "--allow-origin",

	"tour.Options.Lang":   "--lang",
	"tour.Options.Expect": "--expect",

	// The socket API lab.
	"client.Options.Calls":           "--send-call, --recv-call and their flags",
	"client.Options.Calls.Send":      "--send-call",
	"client.Options.Calls.SendFlags": "--send-flags",
	"client.Options.Calls.Recv":      "--recv-call",
	"client.Options.Calls.RecvFlags": "--recv-flags",
	"client.Options.Connect":         "--connected",
	"client.SendOptions.Rights":      "--pass-fd",
	"engine.Config.Urgent":           "--urgent",
	"engine.Config.AcceptDelay":      "--accept-delay",
	"engine.Config.IdleTimeout":      "--idle-timeout",
	"engine.Config.WriteTimeout":     "--write-timeout",
}

// describe is the text sockit prints for err: option fields named as
// flags, and advice added to the library's hint.
func describe(err error) string {
	var oe *sockit.OptionError
	if errors.As(err, &oe) && error(oe) == err {
		return optionText(oe)
	}
	var se *sockit.Error
	if errors.As(err, &se) && se.Advice == "" {
		se.Advice = advice(se)
	}
	return err.Error()
}

// optionText says what is wrong with an option in flags.
func optionText(oe *sockit.OptionError) string {
	names := make([]string, len(oe.Fields))
	for i, f := range oe.Fields {
		names[i] = optionFlags[oe.Owner+"."+f]
		if names[i] == "" {
			names[i] = oe.Owner + "." + f
		}
	}
	return strings.Join(names, " and ") + " " + oe.Reason
}

// advice is what a user can do about e with sockit's flags, or "".
func advice(e *sockit.Error) string {
	var unknownCA x509.UnknownAuthorityError
	var handshake *layer.TimeoutError
	switch {
	case e.Kind() == sockit.KindAddrInUse && strings.HasPrefix(e.Net, "unix") && !errors.Is(e, sockit.ErrLiveSocket):
		return "if no server uses it, pass --unlink to replace it"
	case errors.As(e, &unknownCA):
		return "pass --ca FILE, or --insecure for a test server"
	case errors.As(e, &handshake):
		return "--connect-timeout"
	}
	return ""
}

// annPositive marks a flag whose zero the library reads as "the default":
// given as 0 (or less) on the command line it is a mistake, not a request
// for the default.
const annPositive = "sockit/positive"

// positive marks the named flags of fs.
func positive(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, annPositive, []string{"true"}); err != nil {
			panic(err) // a flag that does not exist: a mistake in this package
		}
	}
}

// checkPositive refuses a marked flag given as zero or less.
func checkPositive(cmd *cobra.Command) error {
	var bad error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if _, ok := f.Annotations[annPositive]; !ok || bad != nil {
			return
		}
		if f.Value.Type() == "duration" {
			if d, err := time.ParseDuration(f.Value.String()); err == nil && d <= 0 {
				bad = usageErr{fmt.Errorf("--%s must be positive", f.Name)}
			}
			return
		}
		if v, err := strconv.ParseFloat(f.Value.String(), 64); err == nil && v < 1 {
			bad = usageErr{fmt.Errorf("--%s must be at least 1", f.Name)}
		}
	})
	return bad
}

// formerShorthands are short flags a verb had before nc's meaning took
// them (-s is nc's source address), with the long name that stays.
var formerShorthands = map[string]string{
	"serve -s": "--service",
	"bench -s": "--size",
}

// flagAdvice adds to a flag error what to type instead, where sockit
// knows: a short flag that moved to nc's meaning.
func flagAdvice(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() == "" {
		return err
	}
	for _, short := range ne.GetSpecifiedName() {
		if long, ok := formerShorthands[cmd.Name()+" -"+string(short)]; ok {
			return fmt.Errorf("%w (-%c is nc's source address now; use %s)", err, short, long)
		}
	}
	return err
}
