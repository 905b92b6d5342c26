package cli

import (
	"time"

	"github.com/spf13/pflag"
)

// sockFlags are the socket options every verb offers where they apply.
type sockFlags struct {
	Backlog   int
	ReusePort bool
	NoDelay   bool
	KeepAlive time.Duration
	RecvBuf   int
	SendBuf   int
	Linger    time.Duration // after resolveLinger: 0 = default, < 0 = reset at close
}

func (f *sockFlags) register(fs *pflag.FlagSet, server bool) {
	if server {
		fs.IntVar(&f.Backlog, "backlog", 0, "listen(2) backlog: queue of connections not yet accepted (0 = system maximum, somaxconn)")
		fs.BoolVar(&f.ReusePort, "reuseport", false, "set SO_REUSEPORT so several servers can share the port")
	}
	fs.BoolVar(&f.NoDelay, "nodelay", true, "set TCP_NODELAY (send small writes at once, no Nagle); --nodelay=false to keep Nagle")
	fs.DurationVar(&f.KeepAlive, "keepalive", 0, "TCP keepalive idle time (0 = 15s default, negative = off)")
	fs.IntVar(&f.RecvBuf, "rcvbuf", 0, "SO_RCVBUF in bytes (0 = system default)")
	fs.IntVar(&f.SendBuf, "sndbuf", 0, "SO_SNDBUF in bytes (0 = system default)")
	if server {
		fs.DurationVar(&f.Linger, "linger", 30*time.Second, "how long closing a connection waits to flush and for the peer's FIN; 0 = reset at close (SO_LINGER 0)")
	} else {
		fs.DurationVar(&f.Linger, "linger", 0, "SO_LINGER: how long close(2) waits to send queued data, rounded up to whole seconds (unset: system default; 0: reset at close, RST)")
	}
}

// resolveLinger maps the flag to the library convention: 0 = default,
// < 0 = reset at close.
func (f *sockFlags) resolveLinger(fs *pflag.FlagSet) {
	switch {
	case !fs.Changed("linger"):
		f.Linger = 0
	case f.Linger <= 0:
		f.Linger = -1
	}
}
