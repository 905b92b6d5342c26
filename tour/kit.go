package tour

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/sockapi"
)

// What the lessons share: servers and clients that narrate to the run,
// and the words checks compare.

// callTimeout bounds each blocking call a lesson makes.
const callTimeout = 2 * time.Second

// loopback is where the lessons' TCP and UDP sockets live.
const loopback = "127.0.0.1:0"

// server starts an engine server whose steps side narrates; stop shuts it
// down (its open connections get a moment to finish).
func (r *Run) server(cfg engine.Config, side string) (srv *engine.Server, stop func(), err error) {
	cfg.Observer = r.Observer(side)
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	srv, err = engine.NewServer(&cfg)
	if err != nil {
		return nil, nil, err
	}
	return srv, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// serve starts a server (see server) that serves h on scheme ("tcp" or
// "udp") at a free loopback port, and returns where.
func (r *Run) serve(cfg engine.Config, scheme string, h engine.Handler) (addr net.Addr, stop func(), err error) {
	srv, stop, err := r.server(cfg, "server")
	if err != nil {
		return nil, nil, err
	}
	ep := endpoint.MustParse(scheme + "://" + loopback)
	if ph, ok := h.(engine.PacketHandler); ok && scheme == "udp" {
		addr, err = srv.ListenPacket(ep, ph)
	} else {
		addr, err = srv.Listen(ep, h)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return addr, stop, nil
}

// pollUntil calls cond every step until it holds or d has passed, and
// reports whether it held.
func pollUntil(d, step time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step) // polling a condition, bounded by d
	}
}

// dial connects to ep ("tcp://127.0.0.1:4000"), narrated as side.
func (r *Run) dial(ctx context.Context, ep string, o client.Options, side string) (*client.Conn, error) {
	e, err := endpoint.Parse(ep)
	if err != nil {
		return nil, err
	}
	o.Observer = r.Observer(side)
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = callTimeout
	}
	c, err := client.Dial(ctx, e, o)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(callTimeout))
	return c, nil
}

// listen makes a listening socket at ep, narrated as side.
func (r *Run) listen(ctx context.Context, ep string, side string) (*client.Listener, error) {
	e, err := endpoint.Parse(ep)
	if err != nil {
		return nil, err
	}
	return client.Listen(ctx, e, client.Options{Observer: r.Observer(side)})
}

// accept takes a connection from ln within callTimeout.
func accept(ctx context.Context, ln *client.Listener) (*client.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c, err := ln.Accept(ctx)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(callTimeout))
	return c, nil
}

// pair is a connected TCP pair on loopback: a listener, the client's end
// and the server's, each narrated.
type pair struct {
	ln   *client.Listener
	c, s *client.Conn
}

func (r *Run) tcpPair(ctx context.Context) (*pair, error) {
	ln, err := r.listen(ctx, "tcp://"+loopback, "server")
	if err != nil {
		return nil, err
	}
	c, err := r.dial(ctx, "tcp://"+ln.Addr().String(), client.Options{}, "client")
	if err != nil {
		ln.Close()
		return nil, err
	}
	s, err := accept(ctx, ln)
	if err != nil {
		c.Close()
		ln.Close()
		return nil, err
	}
	return &pair{ln: ln, c: c, s: s}, nil
}

func (p *pair) close() {
	p.c.Close()
	p.s.Close()
	p.ln.Close()
}

// readN reads until n bytes came, the stream ended or a call failed.
func readN(api *sockapi.Conn, n int) ([]byte, error) {
	buf := make([]byte, n)
	got := 0
	for got < n {
		k, err := api.Read(buf[got:])
		got += k
		if err != nil || k == 0 {
			return buf[:got], err
		}
	}
	return buf, nil
}

// outcome is how a call ended, in the words a check compares: "ok", the
// errno's name ("ECONNRESET"), "timeout", or the error's text.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if name := sockit.ErrnoName(err); name != "" {
		return name
	}
	return err.Error()
}

// noteOf is a check's note about how a call ended: "" when it succeeded,
// else its outcome.
func noteOf(err error) string {
	if err == nil {
		return ""
	}
	return outcome(err)
}

// yesNo is a check's answer to a yes-or-no question.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// tcpAddr is a's TCP address, or nil.
func tcpAddr(a net.Addr) *net.TCPAddr {
	t, _ := a.(*net.TCPAddr)
	return t
}

// needAPI returns an error when the platform lacks sockapi's calls.
func needAPI() error {
	if !sockapi.Supported() {
		return fmt.Errorf("this lesson makes the socket calls of Linux and the BSDs: %w", sockapi.ErrUnsupported)
	}
	return nil
}
