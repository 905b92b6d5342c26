package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// This file is the home of nc's habits: the short flags an nc user types
// (-l -p -u -k -w -4 -6 -s) and the HOST PORT form, accepted by connect,
// listen and send and mapped here onto sockit's own endpoints and flags.
// (Bare numbers as durations are in root.go's secondsDurations.)

// ncFlags are nc's flags on one verb.
type ncFlags struct {
	verb   string // "connect", "listen" or "send"
	Listen bool   // -l: connect listens instead (sockit listen)
	Port   string // -p: the port to listen on; connect and send: the source port
	UDP    bool   // -u
	Keep   bool   // -k (connect -l; listen has its own --keep)
	Wait   time.Duration
	IPv4   bool // -4
	IPv6   bool // -6
	Source string
}

// register adds nc's flags that mean something for f.verb to fs.
func (f *ncFlags) register(fs *pflag.FlagSet, verb string) {
	f.verb = verb
	if verb == "connect" {
		fs.BoolVarP(&f.Listen, "listen", "l", false, "nc -l: listen for a connection instead (sockit listen)")
		fs.BoolVarP(&f.Keep, "keep", "k", false, "nc -k, with -l: accept one connection after another")
	}
	if verb == "listen" {
		fs.BoolVarP(&f.Listen, "listen", "l", false, "nc -l: accepted, and changes nothing (listen listens)")
		fs.StringVarP(&f.Port, "port", "p", "", "nc -p: the port to listen on (with -s ADDR, or every address)")
		fs.StringVarP(&f.Source, "source", "s", "", "nc -s: the local address to listen on")
	} else {
		fs.StringVarP(&f.Port, "source-port", "p", "", "nc -p: the local port to connect from (with -l: the port to listen on)")
		fs.StringVarP(&f.Source, "source", "s", "", "nc -s: the local IP address to connect from (with -l: to listen on)")
	}
	fs.BoolVarP(&f.UDP, "udp", "u", false, "nc -u: udp instead of tcp, for an endpoint given without a scheme")
	fs.BoolVarP(&f.IPv4, "ipv4", "4", false, "nc -4: IPv4 only (tcp4, udp4)")
	fs.BoolVarP(&f.IPv6, "ipv6", "6", false, "nc -6: IPv6 only (tcp6, udp6)")
	switch verb {
	case "send":
		fs.DurationVarP(&f.Wait, "wait", "w", 0, "nc -w: sets --connect-timeout and --timeout")
	default:
		fs.DurationVarP(&f.Wait, "wait", "w", 0, "nc -w: sets --connect-timeout and --idle-timeout")
	}
}

// listening reports whether the verb accepts rather than connects.
func (f *ncFlags) listening() bool { return f.verb == "listen" || f.Listen }

// endpoint builds the endpoint from the verb's endpoint arguments, args:
// ENDPOINT, HOST PORT, or (listening with -p) nothing. use is the verb's
// usage line, for the error of arguments that are none of these.
func (f *ncFlags) endpoint(args []string, use string) (string, error) {
	wrong := usageErr{fmt.Errorf("%s: wrong number of arguments (want ENDPOINT, or nc's HOST PORT)\nusage: %s", f.verb, use)}
	if f.IPv4 && f.IPv6 {
		return "", usageErr{errors.New("-4 and -6 exclude each other")}
	}
	if f.Keep && !f.listening() {
		return "", usageErr{errors.New("-k (--keep) goes with -l: accept one connection after another")}
	}
	scheme := f.scheme()
	var host, port string
	switch len(args) {
	case 0:
		if !f.listening() || f.Port == "" {
			return "", wrong
		}
		host, port = f.Source, f.Port
	case 1:
		if strings.Contains(args[0], "://") {
			return f.withScheme(args[0])
		}
		if f.listening() && isPort(args[0]) && f.Port == "" {
			host, port = f.Source, args[0] // nc -l 9000, nc -l -s ADDR 9000
			break
		}
		if f.listening() && f.Port != "" {
			host, port = args[0], f.Port // nc -l -p 9000 ADDR
			break
		}
		if scheme == "" {
			return args[0], nil // sockit's own forms: 7007, host:7007
		}
		return scheme + "://" + args[0], nil
	case 2:
		if strings.Contains(args[0], "://") || strings.Contains(args[1], "://") {
			return "", wrong
		}
		if !isPort(args[1]) {
			return "", usageErr{fmt.Errorf("%s HOST PORT: %q is not a port number (or give one ENDPOINT, such as tcp://%s)", f.verb, args[1], args[0])}
		}
		host, port = args[0], args[1]
	}
	if scheme == "" {
		scheme = "tcp"
	}
	return scheme + "://" + net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}

// scheme is the scheme -u, -4 and -6 ask for, "" if none.
func (f *ncFlags) scheme() string {
	if !f.UDP && !f.IPv4 && !f.IPv6 {
		return ""
	}
	s := "tcp"
	if f.UDP {
		s = "udp"
	}
	switch {
	case f.IPv4:
		s += "4"
	case f.IPv6:
		s += "6"
	}
	return s
}

// withScheme refuses -u, -4 or -6 that contradict ep's own scheme.
func (f *ncFlags) withScheme(ep string) (string, error) {
	want := f.scheme()
	if want == "" {
		return ep, nil
	}
	given, _, _ := strings.Cut(ep, "://")
	if given != want {
		return "", usageErr{fmt.Errorf("%s says %s, and -u, -4 or -6 say %s: give one or the other", ep, given, want)}
	}
	return ep, nil
}

// source is the local address to connect from (-s, -p), "" = any.
func (f *ncFlags) source() string {
	if f.listening() || (f.Source == "" && f.Port == "") {
		return ""
	}
	if f.Port == "" {
		return f.Source
	}
	return net.JoinHostPort(strings.Trim(f.Source, "[]"), f.Port)
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// secondsDuration is a duration flag that also takes a bare number as
// seconds, as nc's -w and most people do: "2" is 2s, "0.5" is 500ms.
type secondsDuration struct{ pflag.Value }

func (d secondsDuration) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return d.Value.Set((time.Duration(f * float64(time.Second))).String())
	}
	return d.Value.Set(s)
}

// secondsDurations makes every duration flag of fs take bare seconds.
func secondsDurations(fs *pflag.FlagSet) {
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Value.Type() == "duration" {
			fl.Value = secondsDuration{fl.Value}
			if fl.DefValue == "0s" {
				fl.DefValue = "0" // what help leaves unsaid, as for an unwrapped duration
			}
		}
	})
}

// wait sets each named duration flag of fs that the user did not give to
// -w's value, as nc's -w bounds both the connect and an idle connection.
func (f *ncFlags) wait(fs *pflag.FlagSet, durations map[string]*time.Duration) {
	if !fs.Changed("wait") {
		return
	}
	for name, d := range durations {
		if !fs.Changed(name) {
			*d = f.Wait
		}
	}
}

// sendArgs splits send's arguments into the endpoint's (ENDPOINT, or nc's
// HOST PORT) and the message's.
func sendArgs(args []string) (ep, msg []string) {
	if len(args) >= 3 && !strings.Contains(args[0], ":") && !isPort(args[0]) && isPort(args[1]) {
		return args[:2], args[2:]
	}
	return args[:1], args[1:]
}
