package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/chat"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/program"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/ws"
)

// serviceNames are the services serve runs: the classic ones of package
// service, the chat room and the HTTP service.
var serviceNames = append(append([]string(nil), service.Names...), "chat", "http")

// served is what serve runs on its endpoints: a stream handler, a
// datagram handler, and for the chat room, the HTTP service and a program
// per connection what they count.
type served struct {
	stream engine.Handler
	packet engine.PacketHandler
	room   *chat.Room       // --service chat
	http   *httpsvc.Service // --service http
	wsc    *ws.Counters     // the HTTP service's /ws
	exec   *program.Service // --exec, --sh
	ends   *programEnds     // what serve says of each of exec's programs
}

// close closes srv after a failed start, and waits for what it served.
func (s *served) close(srv *engine.Server) {
	srv.Close()
	if s.exec != nil {
		s.exec.Wait()
	}
}

// resolveService picks the service (http for http:// and https://
// endpoints unless --service says otherwise) and checks that every
// endpoint can carry it.
func resolveService(opts *ServeOptions, eps []endpoint.Endpoint) error {
	anyHTTP := false
	for _, ep := range eps {
		anyHTTP = anyHTTP || ep.IsHTTP()
	}
	if anyHTTP && !opts.ServiceSet {
		opts.Service = "http"
	}
	if opts.Root != "" && opts.Service != "http" {
		return usageErr{errors.New("--root serves files over HTTP: use it with http:// or https:// endpoints, or --service http")}
	}
	for _, ep := range eps {
		switch {
		case opts.Service == "exec" && (ep.IsHTTP() || ep.IsPacket()):
			return usageErr{fmt.Errorf("a program per connection (--exec, --sh) runs over streams (tcp, unix, unixpacket, tls, ws, wss), not %s", ep)}
		case ep.IsHTTP() && opts.Service != "http":
			return usageErr{fmt.Errorf("%s serves the HTTP service, not %s (leave --service out, or use tcp:// for %s)", ep, opts.Service, opts.Service)}
		case opts.Service == "http" && (ep.IsPacket() || ep.IsWebSocket()):
			return usageErr{fmt.Errorf("the http service runs over streams (tcp, unix, tls, http, https), not %s", ep)}
		case opts.Service == "chat" && ep.IsPacket():
			return usageErr{fmt.Errorf("the chat service runs over streams (tcp, unix, tls, ws, wss), not %s: a room needs its members connected", ep)}
		}
	}
	return nil
}

// newServed builds the handlers of opts.Service; prog, for the exec
// service, is the program per connection, and ends tells of each.
func newServed(opts *ServeOptions, obs sockit.Observer, prog *program.Program, ends *programEnds) (*served, error) {
	switch opts.Service {
	case "exec":
		svc, err := program.NewService(*prog, program.ServiceOptions{
			Options:    program.Options{Stderr: opts.IO.ErrOut, IdleTimeout: opts.Idle},
			MaxRunning: opts.MaxConns,
			OnEnd:      ends.end,
		})
		if err != nil {
			return nil, err
		}
		return &served{stream: svc, exec: svc, ends: ends}, nil
	case "chat":
		room := chat.New(chat.Options{})
		return &served{stream: room.Stream(), room: room}, nil
	case "http":
		check, err := ws.AllowOrigins(opts.AllowOrigins...)
		if err != nil {
			return nil, usageErr{fmt.Errorf("--allow-origin: %w", err)}
		}
		s := &served{wsc: new(ws.Counters)}
		wsrv := ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: httpsvc.DefaultWebSocketPath, MaxMessage: opts.MaxMessage, CheckOrigin: check, Counters: s.wsc})
		s.http = httpsvc.New(httpsvc.Options{Root: opts.Root, WebSocket: wsrv, Observer: obs, MaxOutput: int(opts.Watermark)})
		s.stream = s.http
		return s, nil
	}
	h, ph, err := service.Lookup(opts.Service)
	if err != nil {
		return nil, err
	}
	return &served{stream: h, packet: ph}, nil
}

// summary is what serve says at the end about the chat room or the HTTP
// service.
func (s *served) summary() []string {
	switch {
	case s.room != nil:
		st := s.room.Stats()
		return []string{fmt.Sprintf("chat: %d joined, %d left (%d dropped for not reading); %s said, %d delivered",
			st.Joined, st.Left, st.Dropped, plural(st.Messages, "message"), st.Delivered)}
	case s.exec != nil:
		st := s.exec.Stats()
		return []string{fmt.Sprintf("programs: %d started, %d could not start; %d stopped (idle, shutdown or connection gone); %s reset at --max-conns %d",
			st.Started, st.Failed, st.Stopped, plural(st.Refused, "connection"), s.ends.maxConns)}
	case s.http != nil:
		st := s.http.Stats()
		r := st.Responses
		lines := []string{fmt.Sprintf("HTTP: %s on %s; responses 2xx %d, 3xx %d, 4xx %d, 5xx %d; %d refused as malformed, %d timed out; %d WebSocket upgrades on /ws",
			plural(st.Requests, "request"), plural(st.Conns, "connection"), r[2], r[3], r[4], r[5], st.Malformed, st.Timeouts, st.Upgrades)}
		if st.Upgrades > 0 {
			w := s.wsc.Stats()
			lines = append(lines, fmt.Sprintf("WebSocket: %d upgrades (%d refused); messages in %d, out %d", w.Upgrades, w.Rejected, w.MessagesIn, w.MessagesOut))
		}
		return lines
	}
	return nil
}

// httpTries are the banner's suggestions for an HTTP endpoint.
func httpTries(ep endpoint.Endpoint, selfSigned bool) []string {
	scheme := "http"
	if ep.IsTLS() {
		scheme = "https"
	}
	base := scheme + "://" + strings.TrimPrefix(dialable(ep), ep.Scheme+"://")
	base = strings.TrimSuffix(base, "/")
	k := ""
	if selfSigned && ep.IsTLS() {
		k = "-k "
	}
	return []string{"curl -i " + k + base + "/anything", "open " + base + "/ws in a browser (WebSocket echo on the same port)"}
}
