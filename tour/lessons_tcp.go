package tour

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

var lessonHandshake = Lesson{
	Slug:  "handshake",
	Title: "The three-way handshake, segment by segment",
	Explain: "connect() sends SYN and the client's socket enters SYN_SENT. The listener answers SYN-ACK; on Linux the " +
		"half-open connection is a request socket in SYN_RECV. The client ACKs the SYN-ACK and is ESTABLISHED; when that " +
		"ACK arrives the server's socket is ESTABLISHED too and waits in the accept queue. Three segments: SYN, SYN-ACK, ACK.",
	Do: func(ctx context.Context, r *Run) error {
		ln, err := r.listen(ctx, "tcp://"+loopback, "server")
		if err != nil {
			return err
		}
		defer ln.Close()
		port := uint16(tcpAddr(ln.Addr()).Port)
		w := r.watchPort(port)
		c, err := r.dial(ctx, "tcp://"+ln.Addr().String(), client.Options{}, "client")
		if err != nil {
			if w != nil {
				w.finish()
			}
			return err
		}
		defer c.Close()
		s, err := accept(ctx, ln)
		if err != nil {
			if w != nil {
				w.finish()
			}
			return err
		}
		defer s.Close()
		if w == nil {
			r.lookupUntil("server", c.RemoteAddr(), c.LocalAddr(), time.Second, func(s tcpstate.Socket, found bool) bool {
				return found && s.State == tcpstate.Established
			})
			cs, _ := r.seen("client", c.LocalAddr(), c.RemoteAddr())
			r.Check("handshake_done", "both ends once connect() and accept() returned", "ESTABLISHED", cs.State.String(), "")
			r.Skip("handshake_segments", "the handshake's segments", "needs root: the segments come from a packet capture (AF_PACKET)")
			r.Skip("handshake_client_states", "the client's states", "needs root: SYN_SENT lasts microseconds on loopback, too short for sock_diag; the tracepoint sees it")
			r.Skip("handshake_server_states", "the server's states", "needs root: SYN_RECV lasts microseconds on loopback, too short for sock_diag; the tracepoint sees it")
			return nil
		}
		ck := key(c.LocalAddr(), c.RemoteAddr())
		sk := tcpstate.Key{Local: ck.Remote, Remote: ck.Local}
		w.until(2*time.Second, func(trans []tcpstate.Transition, segs []tcpstate.Segment) bool {
			return len(pathOf(trans, ck)) >= 2 && slices.Contains(pathOf(trans, sk), "ESTABLISHED") && len(flagsOf(segs, ck, 3)) == 3
		})
		trans, segs := w.finish()
		r.Check("handshake_segments", "the handshake's segments", "SYN, SYN-ACK, ACK", strings.Join(flagsOf(segs, ck, 3), ", "), "")
		r.Check("handshake_client_states", "the client's states", "SYN_SENT, ESTABLISHED", strings.Join(pathOf(trans, ck), ", "), "")
		r.Check("handshake_server_states", "the server's states", "SYN_RECV, ESTABLISHED", strings.Join(pathOf(trans, sk), ", "), "")
		return nil
	},
}

// key is the connection local–remote.
func key(local, remote net.Addr) tcpstate.Key {
	return tcpstate.Key{Local: addrPort(local), Remote: addrPort(remote)}
}

// pathOf lists the states the socket k went into, in order. The
// tracepoint reports a connect's SYN_SENT before the kernel picks its
// port: such a transition to k's peer counts as k's (the lessons connect
// one client at a time).
func pathOf(trans []tcpstate.Transition, k tcpstate.Key) []string {
	var out []string
	for _, t := range trans {
		tk := t.Key()
		if tk == k || t.To == tcpstate.SynSent && tk.Local.Port() == 0 && tk.Remote == k.Remote {
			out = append(out, t.To.String())
		}
	}
	return out
}

// flagsOf lists the flags of the first n segments of the connection k,
// in either direction ("SYN", "SYN-ACK").
func flagsOf(segs []tcpstate.Segment, k tcpstate.Key, n int) []string {
	var out []string
	for _, s := range segs {
		if len(out) == n {
			break
		}
		if sk := s.Key(); sk == k || sk == (tcpstate.Key{Local: k.Remote, Remote: k.Local}) {
			out = append(out, s.Flags.String())
		}
	}
	return out
}

// teardownOf lists the segments of the connection k from the first FIN
// on that carry no data, as "client FIN" or "server ACK".
func teardownOf(segs []tcpstate.Segment, k tcpstate.Key, port uint16) []string {
	var out []string
	fin := false
	for _, s := range segs {
		if sk := s.Key(); sk != k && sk != (tcpstate.Key{Local: k.Remote, Remote: k.Local}) {
			continue
		}
		fin = fin || s.Flags&tcpstate.FIN != 0
		if !fin || s.Len > 0 {
			continue
		}
		what := "ACK"
		switch {
		case s.Flags&tcpstate.RST != 0:
			what = "RST"
		case s.Flags&tcpstate.FIN != 0:
			what = "FIN"
		}
		out = append(out, side(port, s.Src)+" "+what)
	}
	return out
}

var lessonTeardown = Lesson{
	Slug:  "teardown",
	Title: "The four-way teardown, and TIME_WAIT",
	Explain: "The side that closes first sends FIN (FIN_WAIT_1); the other ACKs it (the first side is in FIN_WAIT_2, the other " +
		"in CLOSE_WAIT: its read() returns 0, but it may still write). When it closes too it sends its FIN (LAST_ACK); the first " +
		"side ACKs it and enters TIME_WAIT, and the other is gone. Four segments: FIN, ACK, FIN, ACK, often three because the " +
		"second ACK and FIN travel together; here the server holds the FIN for a moment, so there are four.\n" +
		"TIME_WAIT lasts 2MSL, so that late segments of this connection die out before its addresses are used again, and so that " +
		"the last ACK can be sent again if it was lost. On Linux 2MSL is 60 seconds, fixed in the kernel (TCP_TIMEWAIT_LEN); " +
		"no sysctl changes it. net.ipv4.tcp_fin_timeout, which tutorials often name for it, is how long an orphaned socket may " +
		"wait in FIN_WAIT_2, not TIME_WAIT.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		const hold = time.Second // long enough for both looks below on a loaded machine (TestCloseDelayHoldsTheFIN missed 300 ms once)
		lab := &service.Lab{CloseDelay: hold}
		addr, stop, err := r.serve(engine.Config{}, "tcp", lab.Wrap(service.Echo{}))
		if err != nil {
			return err
		}
		defer stop()
		port := uint16(tcpAddr(addr).Port)
		w := r.watchPort(port)
		finish := func() ([]tcpstate.Transition, []tcpstate.Segment) {
			if w == nil {
				return nil, nil
			}
			return w.finish()
		}
		c, err := r.dial(ctx, "tcp://"+addr.String(), client.Options{}, "client")
		if err != nil {
			finish()
			return err
		}
		defer c.Close()
		api := c.API()
		if _, err := api.Write([]byte("bye\n")); err != nil {
			finish()
			return err
		}
		if _, err := readN(api, 4); err != nil {
			finish()
			return err
		}
		r.Say("The client closes first: shutdown(SHUT_WR) sends its FIN. The server's service hears of it only %s later.", hold)
		if err := api.Shutdown(sockapi.ShutWR); err != nil {
			finish()
			return err
		}
		cl, sv := c.LocalAddr(), c.RemoteAddr()
		cs, _ := r.lookupUntil("client", cl, sv, hold/2, func(s tcpstate.Socket, found bool) bool { return found && s.State == tcpstate.FinWait2 })
		ss, _ := r.lookupUntil("server", sv, cl, hold/2, func(s tcpstate.Socket, found bool) bool { return found && s.State == tcpstate.CloseWait })
		r.Check("active_fin_wait_2", "the client, which closed first, while the server holds its FIN", "FIN_WAIT_2", cs.State.String(), "")
		r.Check("passive_close_wait", "the server, whose read() returned 0", "CLOSE_WAIT", ss.State.String(), "")

		buf := make([]byte, 16)
		n, err := api.Read(buf)
		if err != nil || n != 0 {
			finish()
			return errors.Join(errors.New("the server's FIN did not come"), err)
		}
		c.Close()
		tw, found := r.lookupUntil("client", cl, sv, time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.State == tcpstate.TimeWait })
		_, srvFound := r.lookupUntil("server", sv, cl, time.Second, func(_ tcpstate.Socket, found bool) bool { return !found })
		where := "neither"
		switch {
		case found && tw.State == tcpstate.TimeWait && !srvFound:
			where = "client"
		case srvFound:
			where = "server too"
		}
		left := ""
		if found && tw.State == tcpstate.TimeWait {
			left = r.T("%.1f s left", tw.Expires.Seconds())
		}
		r.Check("time_wait_side", "the side in TIME_WAIT", "client", where, left)
		length := "?"
		if found && tw.State == tcpstate.TimeWait {
			// What is left, to the nearest 10 s: the lesson reads it a few
			// milliseconds after the socket entered TIME_WAIT.
			length = strconv.Itoa(int(math.Round(tw.Expires.Seconds()/10))*10) + "s"
		}
		r.Check("time_wait_len", "how long TIME_WAIT lasts (2MSL)", strconv.Itoa(int(tcpstate.TimeWaitLen.Seconds()))+"s", length, "")

		ck := key(cl, sv)
		sk := tcpstate.Key{Local: ck.Remote, Remote: ck.Local}
		if w != nil {
			w.until(2*time.Second, func(trans []tcpstate.Transition, segs []tcpstate.Segment) bool {
				return len(teardownOf(segs, ck, port)) >= 4 && slices.Contains(pathOf(trans, ck), "TIME_WAIT") && slices.Contains(pathOf(trans, sk), "CLOSED")
			})
		}
		trans, segs := finish()
		if w == nil {
			r.Skip("teardown_segments", "the teardown's segments", "needs root: the segments come from a packet capture (AF_PACKET)")
			r.Skip("teardown_passive_states", "the server's states", "needs root: LAST_ACK lasts microseconds on loopback; the tracepoint sees it")
			r.Skip("teardown_active_states", "the client's states", "needs root: FIN_WAIT_1 lasts microseconds on loopback; the tracepoint sees it")
			return nil
		}
		r.Check("teardown_segments", "the teardown's segments", "client FIN, server ACK, server FIN, client ACK", strings.Join(teardownOf(segs, ck, port), ", "), "")
		r.Check("teardown_passive_states", "the server's states", "CLOSE_WAIT, LAST_ACK, CLOSED", strings.Join(after(pathOf(trans, sk), "ESTABLISHED"), ", "), "")
		r.Check("teardown_active_states", "the client's states", "FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT", strings.Join(after(pathOf(trans, ck), "ESTABLISHED"), ", "), "")
		return nil
	},
}

// after is what follows the first s in path, repeats of a state dropped.
func after(path []string, s string) []string {
	i := slices.Index(path, s)
	if i < 0 {
		return nil
	}
	return slices.Compact(slices.Clone(path[i+1:]))
}

var lessonHalfClose = Lesson{
	Slug:  "halfclose",
	Title: "Half-close: shutdown(SHUT_WR) versus close()",
	Explain: "shutdown(SHUT_WR) sends FIN and ends only this side's writing: the peer reads 0, and can still answer, and this " +
		"side still reads it. A write after it fails with EPIPE. close() gives up the socket for good: what arrives afterwards " +
		"has nobody to read it, and the kernel answers it with RST.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		addr, stop, err := r.serve(engine.Config{}, "tcp", service.Echo{})
		if err != nil {
			return err
		}
		defer stop()
		c, err := r.dial(ctx, "tcp://"+addr.String(), client.Options{}, "client")
		if err != nil {
			return err
		}
		defer c.Close()
		api := c.API()
		msg := []byte("the whole request")
		if _, err := api.Write(msg); err != nil {
			return err
		}
		if err := api.Shutdown(sockapi.ShutWR); err != nil {
			return err
		}
		_, err = api.Write([]byte("more"))
		r.Check("write_after_shut_wr", "write() after shutdown(SHUT_WR)", "EPIPE", outcome(err), "")
		got, err := readN(api, len(msg)+1)
		r.Check("read_after_shut_wr", "bytes of the answer read after our shutdown(SHUT_WR)", strconv.Itoa(len(msg)), strconv.Itoa(len(got)), "")
		r.Check("eof_after_answer", "how the answer ended", "EOF", eofOr(got, len(msg), err), "")

		r.Say("Now close() instead, right after sending:")
		c2, err := r.dial(ctx, "tcp://"+addr.String(), client.Options{}, "client2")
		if err != nil {
			return err
		}
		cl, sv := c2.LocalAddr(), c2.RemoteAddr()
		if _, err := c2.API().Write(msg); err != nil {
			c2.Close()
			return err
		}
		c2.Close()
		_, found := r.lookupUntil("client2", cl, sv, time.Second, func(_ tcpstate.Socket, found bool) bool { return !found })
		r.Check("closed_then_answered", "the closed socket once the answer came (RST: no TIME_WAIT)", "CLOSED", map[bool]string{true: "still there", false: "CLOSED"}[found], "")
		return nil
	},
}

// eofOr is "EOF" when a read of more than want bytes got want and then
// the end of the stream, else what happened.
func eofOr(got []byte, want int, err error) string {
	if len(got) == want && err == nil {
		return "EOF"
	}
	if err != nil {
		return outcome(err)
	}
	return strconv.Itoa(len(got)) + " bytes"
}

var lessonBacklog = Lesson{
	Slug:  "backlog",
	Title: "The backlog: the accept queue fills",
	Explain: "listen(fd, backlog) bounds the accept queue: the connections the kernel has completed and the server has not " +
		"accepted yet. Here the server listens with backlog 2 and never calls accept(). Linux queues backlog+1 connections; " +
		"when the queue is full it drops the next SYN without a word (net.ipv4.tcp_abort_on_overflow=0), so the client " +
		"sees no error, only silence: it sends SYN again after 1 s, 3 s, ... until connect() times out.",
	Do: func(ctx context.Context, r *Run) error {
		const backlog, clients = 2, 5
		addr, stop, err := r.serve(engine.Config{Backlog: backlog, AcceptDelay: time.Hour}, "tcp", service.Echo{})
		if err != nil {
			return err
		}
		defer stop()
		port := uint16(tcpAddr(addr).Port)
		var outcomes []string
		var conns []*client.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range clients {
			c, err := r.dial(ctx, "tcp://"+addr.String(), client.Options{ConnectTimeout: 300 * time.Millisecond}, "client"+strconv.Itoa(i+1))
			outcomes = append(outcomes, outcome(err))
			if err == nil {
				conns = append(conns, c)
				continue
			}
			r.Say("client%d: connect() gave up after 300 ms (%s): no SYN-ACK came, the SYN was dropped", i+1, outcome(err))
		}
		queued := -1
		if socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: port}); err == nil {
			for _, s := range socks {
				if s.State == tcpstate.Listen {
					queued = int(s.RecvQ)
					r.emit(Record{Kind: KindState, Side: "server", Local: s.Local.String(), To: s.State.String(),
						Text: r.T("%s  now: LISTEN, %d connection(s) in the accept queue (Recv-Q), backlog %d (Send-Q)", s.Local, s.RecvQ, s.SendQ)})
				}
			}
		}
		r.Check("accept_queue_full", "connections the full accept queue holds with backlog 2", strconv.Itoa(backlog+1), strconv.Itoa(queued), "")
		r.Check("connect_outcomes", "what connect() returned to the 5 clients", "ok ok ok timeout timeout", strings.Join(outcomes, " "), "")
		return nil
	},
}

var lessonReset = Lesson{
	Slug:  "reset",
	Title: "Resets: unread data, SO_LINGER 0, ECONNRESET and EPIPE",
	Explain: "A connection ends with RST instead of FIN when a socket is closed with data it has not read (RFC 2525 asks " +
		"for it: the peer must learn its data was lost), or when SO_LINGER is set to 0, which throws the connection away: " +
		"no FIN, no TIME_WAIT. The peer's next read fails with ECONNRESET, and a write after that with EPIPE.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		p, err := r.tcpPair(ctx)
		if err != nil {
			return err
		}
		defer p.close()
		port := uint16(tcpAddr(p.ln.Addr()).Port)
		w := r.watchPort(port)
		if _, err := p.c.API().Write([]byte("never read")); err != nil {
			if w != nil {
				w.finish()
			}
			return err
		}
		r.lookupUntil("server", p.s.LocalAddr(), p.s.RemoteAddr(), time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.RecvQ > 0 })
		r.Say("The server closes with those bytes unread:")
		p.s.Close()
		api := p.c.API()
		buf := make([]byte, 16)
		_, err = api.Read(buf)
		r.Check("unread_close", "the client's read after the server closed with unread data", "ECONNRESET", outcome(err), "")
		_, err = api.Write([]byte("anyone?"))
		r.Check("write_after_reset", "the client's write after the reset", "EPIPE", outcome(err), "")

		r.Say("Now a client with SO_LINGER 0 closes:")
		ln, err := r.listen(ctx, "tcp://"+loopback, "server")
		if err != nil {
			if w != nil {
				w.finish()
			}
			return err
		}
		defer ln.Close()
		c2, err := r.dial(ctx, "tcp://"+ln.Addr().String(), client.Options{Linger: -1}, "client2")
		if err != nil {
			if w != nil {
				w.finish()
			}
			return err
		}
		s2, err := accept(ctx, ln)
		if err != nil {
			c2.Close()
			if w != nil {
				w.finish()
			}
			return err
		}
		defer s2.Close()
		cl, sv := c2.LocalAddr(), c2.RemoteAddr()
		c2.Close()
		_, err = s2.API().Read(buf)
		r.Check("linger0_peer", "the server's read after the client closed with SO_LINGER 0", "ECONNRESET", outcome(err), "")
		_, found := r.seen("client2", cl, sv)
		r.Check("linger0_no_time_wait", "TIME_WAIT on the client that closed with SO_LINGER 0", "no", yesNo(found), "")
		if w == nil {
			r.Skip("rst_on_wire", "RST segments seen on the wire", "needs root: the segments come from a packet capture (AF_PACKET)")
			return nil
		}
		w.until(time.Second, func(_ []tcpstate.Transition, segs []tcpstate.Segment) bool { return rsts(segs, port) >= 1 })
		_, segs := w.finish()
		r.Check("rst_on_wire", "RST segments seen on the wire (from the server)", "1", strconv.Itoa(rsts(segs, port)), "")
		return nil
	},
}

// rsts counts the RST segments the server at port sent.
func rsts(segs []tcpstate.Segment, port uint16) int {
	n := 0
	for _, s := range segs {
		if s.Flags&tcpstate.RST != 0 && s.Src.Port() == port {
			n++
		}
	}
	return n
}
