package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/sockapi"
)

// This file holds the socket API lab's flags shared by send and connect
// (which calls, which flags, urgent data, how to end, where to bind,
// how long to stay), the -v/-vv count, and -vv's preview of the bytes.

// apiFlags are the socket API choices of a client verb.
type apiFlags struct {
	SendCall  string
	RecvCall  string
	SendFlags string
	RecvFlags string
	OOB       string
	Shutdown  string
	Connected bool
	Hold      time.Duration
}

func (f *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.SendCall, "send-call", "", "the call that sends: write, send, sendto, sendmsg or writev (default: write; sendto on an unconnected udp socket; send with --send-flags)")
	fs.StringVar(&f.RecvCall, "recv-call", "", "the call that receives: read, recv, recvfrom, recvmsg or readv (default: read; recvfrom on an unconnected udp socket; recv with --recv-flags)")
	fs.StringVar(&f.SendFlags, "send-flags", "", "MSG_* flags of each send, comma-separated: oob, dontwait, dontroute")
	fs.StringVar(&f.RecvFlags, "recv-flags", "", "MSG_* flags of each receive, comma-separated: peek (each read peeks first, then takes), waitall, dontwait (EAGAIN, then a wait as with poll), oob")
	fs.StringVar(&f.OOB, "oob", "", "send this as urgent data with send(MSG_OOB) after the message, before the shutdown (tcp: its last byte is urgent)")
	fs.StringVar(&f.Shutdown, "shutdown", "wr", "at end of input: wr (shutdown SHUT_WR: FIN, then read the reply to EOF), rd (SHUT_RD: reads return 0 from now on), rdwr (both) or none")
	fs.BoolVar(&f.Connected, "connected", false, "udp: connect(2) the socket first (it then hears only the server, and ICMP errors as ECONNREFUSED); default: unconnected, sendto and recvfrom like the classic UDP client")
	fs.DurationVar(&f.Hold, "hold", 0, "keep the socket open this long after the end of input, even once the peer has closed, to watch its state (FIN_WAIT_2 while the peer holds, TIME_WAIT after)")
}

// apiChoices are the parsed flags.
type apiChoices struct {
	calls    client.Calls
	shutdown sockapi.How
	urgent   []byte
}

// resolve parses the flags for ep: a bad name, or a choice ep's layers
// would not survive, is a usage error.
func (f *apiFlags) resolve(ep endpoint.Endpoint) (apiChoices, error) {
	var a apiChoices
	var errs []error
	parse := func(flag, s string, p func(string) error) {
		if s == "" {
			return
		}
		if err := p(s); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
	}
	parse("send-call", f.SendCall, func(s string) (err error) { a.calls.Send, err = sockapi.ParseSendCall(s); return err })
	parse("recv-call", f.RecvCall, func(s string) (err error) { a.calls.Recv, err = sockapi.ParseRecvCall(s); return err })
	parse("send-flags", f.SendFlags, func(s string) (err error) { a.calls.SendFlags, err = sockapi.ParseFlags(s); return err })
	parse("recv-flags", f.RecvFlags, func(s string) (err error) { a.calls.RecvFlags, err = sockapi.ParseFlags(s); return err })
	parse("shutdown", f.Shutdown, func(s string) (err error) { a.shutdown, err = sockapi.ParseHow(s); return err })
	if len(errs) > 0 {
		return a, usageErr{errors.Join(errs...)}
	}
	if ep.IsLayered() && (a.calls != client.Calls{} || f.OOB != "") {
		return a, usageErr{fmt.Errorf("--send-call, --recv-call, their flags and --oob work on the socket itself; %s stacks %s on it, which would not survive them", ep, layerName(ep))}
	}
	a.urgent = []byte(f.OOB)
	return a, nil
}

// layerName names what a layered endpoint stacks.
func layerName(ep endpoint.Endpoint) string {
	switch {
	case ep.IsTLS() && ep.IsWebSocket():
		return "TLS and WebSocket"
	case ep.IsTLS():
		return "TLS"
	}
	return "WebSocket"
}

// options adds the flags' choices to a client's options.
func (f *apiFlags) options(o client.Options, a apiChoices) client.Options {
	o.Connect, o.Calls = f.Connected, a.calls
	return o
}

// verbosity reads -v, given once or more (-vv): v narrates, vv adds a
// preview of the bytes each read and write moved.
func verbosity(cmd *cobra.Command) (verbose, preview bool) {
	n, _ := cmd.Flags().GetCount("verbose")
	return n > 0, n > 1
}

// previewMax is how many bytes -vv shows of each transfer.
const previewMax = 40

// preview shows the first bytes of b as a quoted string, escaping what is
// not printable, as a classic server that prints every message would:
// "hello\n", or "GET / HTTP/1.1\r\nHost: exa"… when there is more.
func preview(b []byte, n int) string {
	cut := b
	if len(cut) > previewMax {
		cut = cut[:previewMax]
	}
	s := strconv.Quote(string(cut)) // a rune cut in two shows as \x escapes
	if len(cut) < n {
		s += "…"
	}
	return s
}

// withPreview makes a narrator add -vv's preview; other observers (nil
// when not verbose) are returned as they are.
func withPreview(obs sockit.Observer, on bool) sockit.Observer {
	if n, ok := obs.(narrator); ok && on {
		n.preview = true
		return n
	}
	return obs
}

// labSummary is serve's summary line for what came apart from the
// stream, or "".
func labSummary(urgent, rights uint64) string {
	var parts []string
	if urgent > 0 {
		parts = append(parts, plural(urgent, "urgent byte")+" taken with recv(MSG_OOB), not echoed")
	}
	if rights > 0 {
		parts = append(parts, plural(rights, "descriptor")+" received with SCM_RIGHTS")
	}
	return strings.Join(parts, "; ")
}

// openFiles opens --pass-fd's files for reading.
func openFiles(paths []string) ([]*os.File, error) {
	var files []*os.File
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			closeFiles(files)
			return nil, usageErr{fmt.Errorf("--pass-fd: %w", err)}
		}
		files = append(files, f)
	}
	return files, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// urgentMode is --urgent for the engine: "" is what the backend can do
// best (engine.LabSupportOf): receive where it watches for urgent data
// apart (epoll), else inline, else off.
func urgentMode(flag string, backend engine.Backend) (engine.UrgentMode, error) {
	can := engine.LabSupportOf(backend)
	switch flag {
	case "":
		switch {
		case can.UrgentReceive:
			return engine.UrgentReceive, nil
		case can.UrgentInline:
			return engine.UrgentInline, nil
		}
		return engine.UrgentDefault, nil
	case "off":
		return engine.UrgentDefault, nil
	case string(engine.UrgentReceive), string(engine.UrgentInline):
		return engine.UrgentMode(flag), nil
	}
	return "", usageErr{fmt.Errorf("--urgent %q: want receive, inline or off", flag)}
}
