package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockit/sockit/bench"
	"github.com/sockit/sockit/endpoint"
)

// BenchOptions are the inputs of `sockit bench`.
type BenchOptions struct {
	IO       IOStreams
	Endpoint string
	Bench    bench.Options
	Payload  string
	Mode     string
	// ExpectBody is the body every HTTP response must have ("" = any).
	ExpectBody string
	Verify     bool
	JSON       bool
	// JSONStream prints NDJSON: an object per interval, then the result.
	JSONStream bool
	// Interval, when set, prints a line per interval (Options.Interval)
	// before the report; with JSONStream it sets the objects' interval.
	Interval time.Duration
	HTML     string
	Procs    int
	Worker   bool // internal: serve as one worker of a --procs run
}

// NewCmdBench builds `sockit bench`. runF replaces runBench in tests.
func NewCmdBench(app *App, runF func(context.Context, *BenchOptions) error) *cobra.Command {
	opts := &BenchOptions{}
	b := &opts.Bench
	cmd := &cobra.Command{
		Use:   "bench ENDPOINT",
		Short: "Load a server with verified messages and report throughput and latency percentiles",
		Long: `Open --conns connections (sockets, for udp and unixgram) to ENDPOINT and send
--size-byte messages, --depth in flight on each: closed loop (the next message as
soon as an echo returns) or, with --rate, open loop at that many messages per second
over all connections, each message's latency timed from when it was due, so that a
stalled server cannot hide the stall. In echo mode every byte that comes back is
compared with what was sent; mismatches, missing and extra bytes are counted and the
first offset of each reported. sink mode only sends, source mode only reads.
Over http:// and https:// each message is a GET of the endpoint's path on a
keep-alive connection (--depth of them pipelined), and every response is checked:
its status (--expect-status), its framing, and with --expect-body its body.

The run connects, warms up for --warmup, measures for --duration, then half-closes
every connection and waits up to --drain for the last echoes and the server's FIN.
Connections live in a few event loops, so one process holds as many as its
descriptor limit allows (raised to the hard limit at start); --procs spreads them
over worker processes and --source-ips over source addresses 127.0.0.1, 127.0.0.2, …
(past the ~28 000 ephemeral ports of one address towards one server).

Exit status: 0 when the run completed, whatever errors it counted (they are in the
report), 1 when the echoes did not match what was sent, 3 when no connection could
be made at all.`,
		Example: `  sockit bench 127.0.0.1:7007
  sockit bench tcp://127.0.0.1:7007 -c 100 --size 64 --rate 40000 -d 30s
  sockit bench unix:///tmp/echo.sock -c 1000 --depth 4 --html report.html
  sockit bench udp://127.0.0.1:7007 -c 8 --depth 16 --json
  sockit bench ws://127.0.0.1:7080/echo -c 100 --rate 10000
  sockit bench tls://127.0.0.1:7443 -c 50 --insecure
  sockit bench http://127.0.0.1:8080/plaintext -c 100 --depth 8 --expect-body 'Hello, World!'
  sockit bench 127.0.0.1:7007 -c 60000 --procs 4 --source-ips 4`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO = app.IO
			opts.Endpoint = args[0]
			opts.Bench.Command = commandLine(cmd, args)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runBench(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&b.Conns, "conns", "c", 10, "connections (for udp and unixgram: sockets)")
	fs.Float64Var(&b.ConnectRate, "connect-rate", 0, "open at most this many connections per second (0 = as fast as they connect)")
	fs.IntVar(&b.Size, "size", 64, "bytes per message")
	fs.IntVar(&b.Depth, "depth", 1, "messages in flight per connection (pipelining)")
	fs.Float64Var(&b.Rate, "rate", 0, "messages per second over all connections, open loop (0 = closed loop, as fast as echoes return)")
	fs.DurationVarP(&b.Duration, "duration", "d", 10*time.Second, "how long to measure")
	fs.DurationVar(&b.Warmup, "warmup", time.Second, "load before measuring, not counted in rates and latencies")
	fs.DurationVar(&b.Drain, "drain", 5*time.Second, "after the window, wait this long for the last echoes and the server's FIN")
	fs.DurationVar(&b.ConnectTimeout, "connect-timeout", 5*time.Second, "give up on a connection that has not connected in this long")
	fs.StringVar(&opts.Payload, "payload", "random", "message content: random, zeros or @file (each message is the file)")
	fs.StringVar(&opts.Mode, "mode", "echo", "echo (send and verify), sink (only send) or source (only read); http:// and https:// endpoints: http")
	fs.IntVar(&b.HTTPStatus, "expect-status", 200, "http, https: the status every response must have")
	fs.StringVar(&opts.ExpectBody, "expect-body", "", "http, https: the body every response must have (default: any body, its framing checked)")
	fs.BoolVar(&opts.Verify, "verify", true, "compare every echoed byte with what was sent")
	fs.Bool("no-verify", false, "do not compare echoes (same as --verify=false)")
	fs.IntVar(&b.SourceIPs, "source-ips", 0, "spread TCP connections over this many source addresses from 127.0.0.1 up (loopback servers)")
	fs.IntVar(&opts.Procs, "procs", 1, "spread the connections over this many worker processes")
	fs.IntVar(&b.ServerPID, "server-pid", 0, "sample this process's CPU and memory (the server's, on this machine) to report per message and per connection")
	fs.IntVar(&b.Loops, "loops", 0, "event loops per process (0 = GOMAXPROCS)")
	fs.BoolVar(&b.Insecure, "insecure", false, "tls, wss: do not verify the server's certificate (a self-signed test server)")
	fs.StringVar(&b.CAFile, "ca", "", "tls, wss: verify the server's certificate against the CA certificates in this PEM file")
	registerProxy(fs, &b.Proxy)
	fs.BoolVar(&opts.JSON, "json", false, "print the result as JSON instead of a table (schema "+bench.Schema+": durations in µs, keys with their unit)")
	fs.BoolVar(&opts.JSONStream, "json-stream", false, "print NDJSON: one object per --interval (default 1s) as it ends, then the result")
	fs.DurationVar(&opts.Interval, "interval", 0, "print a line per interval of this length (such as 1s) before the report, also when the output is not a terminal; 0 = none")
	fs.StringVar(&opts.HTML, "html", "", "also write a self-contained HTML report with charts to this file")
	fs.BoolVar(&opts.Worker, "worker", false, "internal: run as one worker process of --procs")
	fs.MarkHidden("worker")
	positive(fs, "conns", "size", "depth", "duration", "procs")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if nv, _ := cmd.Flags().GetBool("no-verify"); nv {
			opts.Verify = false
		}
		if !cmd.Flags().Changed("size") && strings.HasPrefix(opts.Payload, "@") {
			b.Size = 0 // the file decides; a --size given too must agree with it
		}
		return nil
	}
	return cmd
}

func runBench(ctx context.Context, opts *BenchOptions) error {
	if opts.Worker {
		return bench.ServeWorker(ctx, opts.IO.In, opts.IO.Out)
	}
	ep, err := endpoint.Parse(opts.Endpoint)
	if err != nil {
		return err
	}
	o := opts.Bench
	o.Endpoint = ep
	o.Mode = bench.Mode(opts.Mode)
	o.NoVerify = !opts.Verify
	if opts.ExpectBody != "" {
		o.HTTPBody = []byte(opts.ExpectBody)
	}
	if o.Payload, err = bench.ParsePayload(opts.Payload); err != nil {
		return err
	}
	line := &progressLine{io: opts.IO}
	if opts.IO.ErrTTY && opts.Interval == 0 && !opts.JSONStream {
		o.Progress = line.show
	}
	if opts.Interval > 0 || opts.JSONStream {
		if opts.Procs > 1 {
			return usageErr{errors.New("--interval and --json-stream report from one process: not with --procs")}
		}
		if opts.JSON && opts.JSONStream {
			return usageErr{errors.New("--json prints one result, --json-stream a stream: choose one")}
		}
		o.Interval = opts.Interval
		mode := bench.Mode(opts.Mode)
		o.OnInterval = func(iv bench.Interval) {
			if opts.JSONStream {
				writeJSONLine(opts.IO.Out, struct {
					Type   string `json:"type"`
					Schema string `json:"schema"`
					bench.Interval
				}{"interval", bench.Schema, iv})
				return
			}
			fmt.Fprintln(opts.IO.Out, iv.Text(mode))
		}
	}
	var res *bench.Result
	if opts.Procs > 1 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		res, err = bench.RunWorkers(ctx, o, opts.Procs, func(int) *exec.Cmd {
			c := exec.Command(exe, "bench", opts.Endpoint, "--worker")
			c.Stderr = opts.IO.ErrOut
			return c
		})
		if err != nil {
			line.clear()
			return err
		}
	} else {
		res, err = bench.Run(ctx, o)
		if err != nil {
			line.clear()
			return err
		}
	}
	line.clear()
	if opts.JSONStream {
		writeJSONLine(opts.IO.Out, struct {
			Type   string        `json:"type"`
			Result *bench.Result `json:"result"`
		}{"summary", res})
	} else if opts.JSON {
		if err := res.WriteJSON(opts.IO.Out); err != nil {
			return err
		}
	} else {
		res.WriteText(opts.IO.Out)
	}
	if opts.HTML != "" {
		if err := writeHTML(opts.HTML, res); err != nil {
			return err
		}
		if !opts.JSON && !opts.JSONStream {
			fmt.Fprintf(opts.IO.Out, "report        %s\n", opts.HTML)
		}
	}
	return benchOutcome(res)
}

// benchOutcome decides the exit status from the result.
func benchOutcome(res *bench.Result) error {
	c := res.Check
	if c.MismatchedMsgs > 0 || c.ExtraBytes > 0 || c.MissingBytes > 0 {
		return fmt.Errorf("verification failed: %d mismatched messages, %d missing bytes, %d extra bytes", c.MismatchedMsgs, c.MissingBytes, c.ExtraBytes)
	}
	if res.ConnsUp == 0 && len(res.Errors) > 0 {
		if err := res.ConnectError(); err != nil {
			return fmt.Errorf("no connection could be made: %w", err)
		}
		return fmt.Errorf("no connection could be made: %s (e.g. %s)", res.Errors[0].Kind, res.Errors[0].Example)
	}
	return nil
}

func writeHTML(path string, res *bench.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressLine is the one refreshing line a terminal shows during a run.
type progressLine struct {
	io    IOStreams
	shown bool
}

func (l *progressLine) show(p bench.Progress) {
	fmt.Fprint(l.io.ErrOut, "\r\033[K"+p.Text())
	l.shown = true
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // our own types of numbers and strings
	}
	w.Write(append(b, '\n'))
}

// commandLine is how the verb was run, for the report's metadata: its
// path, arguments and the flags given, as --name=value.
func commandLine(cmd *cobra.Command, args []string) []string {
	line := append(strings.Fields(cmd.CommandPath()), args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		line = append(line, "--"+f.Name+"="+f.Value.String())
	})
	return line
}

func (l *progressLine) clear() {
	if l.shown {
		fmt.Fprint(l.io.ErrOut, "\r\033[K")
	}
}
