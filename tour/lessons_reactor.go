package tour

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

var lessonReactor = Lesson{
	Slug:  "reactor",
	Title: "The reactor: one event loop, many connections",
	Explain: "A reactor serves many connections from one thread: it asks epoll_wait() which sockets are ready, and makes " +
		"for each only the call that will not block (accept, read, write), then asks again. So the loop must never block: " +
		"while one handler waits, every other connection waits too. Here sockit's engine runs one loop; each of its waits " +
		"is shown (epoll_wait = N ready). Then a handler blocks on purpose: the others' messages pile up unanswered, and " +
		"the next epoll_wait reports them all at once.",
	Do: func(ctx context.Context, r *Run) error {
		if !engine.LabSupportOf(engine.BackendEpoll).Waits {
			return errors.New("this lesson shows epoll_wait, which is Linux's")
		}
		if err := needAPI(); err != nil {
			return err
		}
		const clients = 4
		h := &stallHandler{Echo: service.Echo{}, stalled: make(chan struct{}), release: make(chan struct{})}
		var released atomic.Bool
		var mu sync.Mutex
		firstAfter := -1 // ready descriptors in the first wait after the release
		obs := r.Observer("loop")
		cfg := engine.Config{Backend: engine.BackendEpoll, Loops: 1, ObserveWaits: true}
		cfg.Observer = sockit.ObserverFunc(func(e sockit.Event) {
			if e.Step == sockit.StepPoll && released.Load() {
				mu.Lock()
				if firstAfter < 0 {
					firstAfter = e.N
				}
				mu.Unlock()
			}
			obs.Observe(e)
		})
		srv, err := engine.NewServer(&cfg)
		if err != nil {
			return err
		}
		defer func() {
			h.free()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		addr, err := srv.Listen(endpoint.MustParse("tcp://"+loopback), h)
		if err != nil {
			return err
		}
		var conns []*client.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range clients + 1 {
			name := "client" + strconv.Itoa(i+1)
			if i == clients {
				name = "blocker"
			}
			c, err := r.dial(ctx, "tcp://"+addr.String(), client.Options{}, name)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		r.Say("Each client sends a line and reads the echo: one loop serves them all.")
		answered := 0
		for _, c := range conns[:clients] {
			if _, err := c.API().Write([]byte("ping\n")); err != nil {
				return err
			}
		}
		for _, c := range conns[:clients] {
			if got, err := readN(c.API(), 5); err == nil && len(got) == 5 {
				answered++
			}
		}
		r.Check("reactor_serves_all", "clients answered by the one loop", strconv.Itoa(clients), strconv.Itoa(answered), "")

		r.Say("The blocker sends \"stall\": its handler blocks the loop, as a handler must never do.")
		if _, err := conns[clients].API().Write([]byte("stall\n")); err != nil {
			return err
		}
		select {
		case <-h.stalled:
		case <-time.After(callTimeout):
			return errors.New("the handler did not stall")
		}
		for _, c := range conns[:clients] {
			if _, err := c.API().Write([]byte("ping\n")); err != nil {
				return err
			}
		}
		// Each message is in the server's receive queue, unread: the loop
		// cannot read while it is blocked.
		for _, c := range conns[:clients] {
			r.lookupUntil("server", c.RemoteAddr(), c.LocalAddr(), time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.RecvQ > 0 })
		}
		waiting := 0
		buf := make([]byte, 16)
		for _, c := range conns[:clients] {
			if _, err := c.API().Recv(buf, sockapi.DontWait); errors.Is(err, sockapi.ErrUnsupported) {
				return err
			} else if sockit.ErrnoName(err) == "EAGAIN" {
				waiting++
			}
		}
		r.Check("blocked_loop_answers_none", "clients still waiting for an answer while the loop is blocked", strconv.Itoa(clients), strconv.Itoa(waiting), "")

		r.Say("The handler returns; the loop waits again:")
		released.Store(true)
		h.free()
		answered = 0
		for _, c := range conns[:clients] {
			if got, err := readN(c.API(), 5); err == nil && len(got) == 5 {
				answered++
			}
		}
		mu.Lock()
		n := firstAfter
		mu.Unlock()
		r.Check("ready_at_once", "sockets the first epoll_wait after the stall reported ready", strconv.Itoa(clients), strconv.Itoa(n), "")
		r.Check("answered_after_stall", "clients answered once the loop ran again", strconv.Itoa(clients), strconv.Itoa(answered), "")
		return nil
	},
}

// stallHandler is the echo service, except that a line "stall" blocks
// the loop until free is called (or a few seconds pass): what a handler
// must never do.
type stallHandler struct {
	service.Echo
	stalled chan struct{} // closed when the loop is blocked
	release chan struct{} // closed by free
	once    sync.Once
	freed   sync.Once
}

func (h *stallHandler) OnData(c engine.Conn, in []byte) int {
	if string(in) == "stall\n" {
		h.once.Do(func() { close(h.stalled) })
		select {
		case <-h.release:
		case <-time.After(5 * time.Second):
		}
		return len(in)
	}
	return h.Echo.OnData(c, in)
}

func (h *stallHandler) free() { h.freed.Do(func() { close(h.release) }) }
