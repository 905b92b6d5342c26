package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/tcpstate"
)

// unavailable names the verb in the error of a platform that lacks the
// kernel interfaces it needs: "watch: not available on darwin: needs Linux
// sock_diag".
func unavailable(verb string, err error) error {
	if errors.Is(err, tcpstate.ErrUnsupported) {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return err
}

// allTCP is the label of the selection of every TCP socket.
const allTCP = "all TCP sockets"

// tcpTarget turns watch's and trace's optional PORT|ENDPOINT into a
// filter: "" selects every TCP socket; "7007", ":7007", "127.0.0.1:7007"
// and "tcp://[::1]:7007" select a port, and an IP address also selects that
// address (a host name does not: it may name several). It returns how to
// name the selection in a heading.
func tcpTarget(arg string) (tcpstate.Filter, string, error) {
	if arg == "" {
		return tcpstate.Filter{}, allTCP, nil
	}
	ep, err := endpoint.Parse(arg)
	if err != nil {
		return tcpstate.Filter{}, "", err
	}
	if !strings.HasPrefix(ep.Scheme, "tcp") {
		return tcpstate.Filter{}, "", usageErr{fmt.Errorf("%q: only TCP has connection states to show (want a port or tcp://host:port, not %s)", arg, ep.Scheme)}
	}
	host, portText, _ := net.SplitHostPort(ep.Addr) // Parse checked the form
	port, _ := strconv.Atoi(portText)
	if port == 0 {
		return tcpstate.Filter{}, "", usageErr{fmt.Errorf("%q: port 0 is not a port a connection uses (want 1 to 65535)", arg)}
	}
	f := tcpstate.Filter{Port: uint16(port)}
	label := "port " + portText
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil && !ip.IsUnspecified():
		// sock_diag reports no zone, and IPv4 on a dual-stack socket as
		// ::ffff:a.b.c.d, which Filter unmaps.
		f.Addr = ip.Unmap().WithZone("")
		label = netip.AddrPortFrom(f.Addr, f.Port).String()
	case err != nil && host != "":
		label += " (any address: only an IP address, not a name, narrows it)"
	}
	return f, label, nil
}
