package tour

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

var lessonCalls = Lesson{
	Slug:  "calls",
	Title: "The call sequence: who calls what, who blocks where",
	Explain: "A TCP server calls socket(), bind() and listen(), then accept(), which blocks until a connection is ready. " +
		"A client calls socket() and connect(), which blocks until the three-way handshake is done. " +
		"The kernel completes the handshake on its own, before the server calls accept(): the connection waits, " +
		"ESTABLISHED, in the listener's accept queue, and accept() only takes it from there.",
	Do: func(ctx context.Context, r *Run) error {
		ln, err := r.listen(ctx, "tcp://"+loopback, "server")
		if err != nil {
			return err
		}
		defer ln.Close()
		port := uint16(tcpAddr(ln.Addr()).Port)

		r.Say("accept() with no client yet, for at most 100 ms:")
		actx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		c0, err := ln.Accept(actx)
		cancel()
		if err == nil {
			c0.Close()
		}
		blocked := "no"
		if ctx.Err() == nil && actx.Err() != nil {
			blocked = "yes"
		}
		r.Check("accept_blocks", "accept() blocks while no connection is queued", "yes", blocked, r.T("it returned %s after 100 ms", outcome(err)))

		c, err := r.dial(ctx, "tcp://"+ln.Addr().String(), client.Options{}, "client")
		if err != nil {
			return err
		}
		defer c.Close()
		r.Say("connect() returned: the handshake is done. The server has not called accept() yet; sock_diag shows:")
		cl, sv := c.LocalAddr(), c.RemoteAddr()
		// The server's end leaves SYN_RECV when the client's last ACK is
		// processed, a moment after connect returns.
		srvSock, found := r.lookupUntil("server", sv, cl, time.Second, func(s tcpstate.Socket, found bool) bool {
			return found && s.State == tcpstate.Established
		})
		r.seen("client", cl, sv)
		queued := "?"
		if socks, err := tcpstate.Snapshot(tcpstate.Filter{Port: port}); err == nil {
			for _, s := range socks {
				if s.State == tcpstate.Listen {
					queued = strconv.Itoa(int(s.RecvQ))
					r.emit(Record{Kind: KindState, Side: "server", Local: s.Local.String(), To: s.State.String(),
						Text: r.T("%s  now: LISTEN, %d connection(s) in the accept queue (Recv-Q), backlog %d (Send-Q)", s.Local, s.RecvQ, s.SendQ)})
				}
			}
		}
		state := "CLOSED"
		if found {
			state = srvSock.State.String()
		}
		r.Check("established_before_accept", "the server's end of the connection before accept()", "ESTABLISHED", state, "")
		r.Check("accept_queue", "connections waiting in the accept queue before accept()", "1", queued, "")

		s, err := accept(ctx, ln)
		if err != nil {
			return err
		}
		defer s.Close()
		r.Say("accept() returned at once: the connection was already there. accept() made a new socket for it; the listener goes on listening.")
		return nil
	},
}

var lessonEcho = Lesson{
	Slug:  "echo",
	Title: "TCP echo, and what read() returns",
	Explain: "read() (and recv()) return the number of bytes they got, more than 0; or 0, which means the peer sent FIN: " +
		"the end of its data, never an empty message; or -1 with errno set: EAGAIN on a non-blocking socket with nothing to read, " +
		"ECONNRESET when the peer reset the connection. An echo server writes back what it reads, and closes when it reads 0.",
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

		r.Say("recv() with MSG_DONTWAIT before anything was sent:")
		buf := make([]byte, 64)
		_, err = api.Recv(buf, sockapi.DontWait)
		r.Check("read_nothing", "a non-blocking read with nothing to read returns -1 and errno", "EAGAIN", outcome(err), "")

		msg := []byte("hello\n")
		if _, err := api.Write(msg); err != nil {
			return err
		}
		got, err := readN(api, len(msg))
		r.Check("read_data", "bytes read() returns for the echo", strconv.Itoa(len(msg)), strconv.Itoa(len(got)), noteOf(err))

		r.Say("shutdown(SHUT_WR): our FIN tells the server we are done; it answers with its own FIN.")
		if err := api.Shutdown(sockapi.ShutWR); err != nil {
			return err
		}
		n, err := api.Read(buf)
		r.Check("read_eof", "read() after the peer's FIN", "0", strconv.Itoa(n), noteOf(err))
		return nil
	},
}

var lessonUDP = Lesson{
	Slug:  "udp",
	Title: "UDP echo: datagrams, sendto/recvfrom, no connection",
	Explain: "UDP has no connection and no handshake: sendto() names where each datagram goes, recvfrom() tells who sent it, " +
		"and each recvfrom() returns one whole datagram, never two run together and never half of one. " +
		"When nothing listens on the port, the peer's kernel answers with an ICMP port unreachable message; " +
		"a connected UDP socket hears of it as ECONNREFUSED, on its next call.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		addr, stop, err := r.serve(engine.Config{}, "udp", service.Echo{})
		if err != nil {
			return err
		}
		defer stop()
		c, err := r.dial(ctx, "udp://"+addr.String(), client.Options{}, "client")
		if err != nil {
			return err
		}
		defer c.Close()
		api := c.API()
		for _, m := range []string{"one", "two"} {
			if _, err := api.SendTo([]byte(m), 0, addr); err != nil {
				return err
			}
		}
		var sizes []string
		buf := make([]byte, 64)
		for range 2 {
			n, _, err := api.RecvFrom(buf, 0)
			if err != nil {
				return err
			}
			sizes = append(sizes, string(buf[:n]))
		}
		r.Check("datagram_boundaries", "what two recvfrom() calls return after two sendto() of 3 bytes", "one|two", sizes[0]+"|"+sizes[1], "")

		r.Say("Now a port where a UDP socket is bound but takes datagrams from nobody else: the kernel refuses them with ICMP.")
		refuser, err := refusingUDP()
		if err != nil {
			return err
		}
		defer refuser.Close()
		rc, err := r.dial(ctx, "udp://"+refuser.LocalAddr().String(), client.Options{Connect: true}, "client")
		if err != nil {
			return err
		}
		defer rc.Close()
		rapi := rc.API()
		icmp := rapi.SetRecvErr(true) == nil
		if _, err := rapi.Write([]byte("anyone?")); err != nil {
			return err
		}
		_, err = rapi.Read(buf)
		r.Check("udp_refused", "a connected UDP socket's read after sending to a port nobody serves", "ECONNREFUSED", outcome(err), "")
		if !icmp {
			r.Skip("icmp_behind", "the ICMP message behind it", "the socket error queue (IP_RECVERR) is Linux's")
			return nil
		}
		q, err := rapi.QueuedError()
		got := "none"
		if err == nil && q != nil {
			got = fmt.Sprintf("ICMP type %d code %d", q.Type, q.Code)
			r.Say("the error queue (MSG_ERRQUEUE) tells: %s", q.Error())
		}
		r.Check("icmp_behind", "the ICMP message behind it (destination unreachable: port unreachable)", "ICMP type 3 code 3", got, "")
		return nil
	},
}
