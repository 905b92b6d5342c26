package tour

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/sockapi"
	"github.com/sockit/sockit/tcpstate"
)

var lessonFlags = Lesson{
	Slug:  "flags",
	Title: "recv and send flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_OOB",
	Explain: "MSG_DONTWAIT makes one call non-blocking: -1 and EAGAIN instead of a wait. MSG_PEEK looks at the data " +
		"without taking it: the next recv() returns the same bytes. MSG_WAITALL waits until the whole buffer is filled " +
		"(a stream may deliver a message in pieces; without it recv() returns the first piece). MSG_OOB sends one urgent " +
		"byte, marked by TCP's urgent pointer: a read stops just before it, and recv(MSG_OOB) takes it out of the stream.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		p, err := r.tcpPair(ctx)
		if err != nil {
			return err
		}
		defer p.close()
		capi, sapi := p.c.API(), p.s.API()
		buf := make([]byte, 64)

		_, err = capi.Recv(buf, sockapi.DontWait)
		r.Check("dontwait", "recv(MSG_DONTWAIT) with nothing to read", "EAGAIN", outcome(err), "")

		if _, err := sapi.Write([]byte("hello")); err != nil {
			return err
		}
		if err := capi.WaitReadable(); err != nil {
			return err
		}
		n1, err := capi.Recv(buf, sockapi.Peek)
		if err != nil {
			return err
		}
		first := string(buf[:n1])
		n2, err := capi.Recv(buf, 0)
		if err != nil {
			return err
		}
		r.Check("peek", "recv(MSG_PEEK), then recv()", "hello, then hello", first+", then "+string(buf[:n2]), "")

		cl, sv := p.c.LocalAddr(), p.c.RemoteAddr()
		if _, err := sapi.Write([]byte("abc")); err != nil {
			return err
		}
		if _, ok := r.lookupUntil("client", cl, sv, time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.RecvQ == 3 }); !ok {
			r.Missing("sock_diag could not show the client's receive queue")
		}
		r.Say("recv(MSG_WAITALL) for 6 bytes; 3 are there, 3 more come once the call is waiting:")
		capi.SetReadDeadline(time.Now().Add(callTimeout))
		type res struct {
			n   int
			err error
		}
		done := make(chan res, 1)
		go func() {
			n, err := capi.Recv(buf[:6], sockapi.WaitAll)
			done <- res{n, err}
		}()
		// The call took the 3 bytes into its buffer and waits for the rest:
		// the queue is empty while it has not returned.
		r.lookupUntil("client", cl, sv, time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.RecvQ == 0 })
		if _, err := sapi.Write([]byte("def")); err != nil {
			return err
		}
		got := <-done
		r.Check("waitall", "what recv(MSG_WAITALL) of 6 bytes returned over two writes of 3", "6 bytes: abcdef", fmt.Sprintf("%d bytes: %s", got.n, buf[:max(got.n, 0)]), noteOf(got.err))

		if _, err := sapi.Send([]byte("xy!"), sockapi.OOB); err != nil {
			return err
		}
		r.lookupUntil("client", cl, sv, time.Second, func(s tcpstate.Socket, found bool) bool { return found && s.RecvQ >= 3 })
		n, err := capi.Read(buf)
		if err != nil {
			return err
		}
		at, _ := capi.AtMark()
		r.Check("oob_mark", "read() when urgent data came after 2 bytes: it stops at the mark", "xy, at the mark: yes", string(buf[:n])+", at the mark: "+yesNo(at), "")
		n, err = capi.Recv(buf[:1], sockapi.OOB)
		r.Check("oob_byte", "recv(MSG_OOB)", "!", string(buf[:max(n, 0)]), noteOf(err))
		return nil
	},
}

var lessonUnix = Lesson{
	Slug:  "unix",
	Title: "Unix domain sockets: stream, datagram, seqpacket, passing a descriptor",
	Explain: "A Unix domain socket connects processes on one machine through a path in the file system (or Linux's abstract " +
		"namespace). SOCK_STREAM is a byte stream like TCP; SOCK_DGRAM keeps message boundaries like UDP, and is reliable; " +
		"SOCK_SEQPACKET keeps boundaries on a connection. The kernel knows who is at the other end (SO_PEERCRED), and " +
		"sendmsg() can pass an open descriptor with SCM_RIGHTS: the receiver gets a new descriptor for the same open file.",
	Do: func(ctx context.Context, r *Run) error {
		if err := needAPI(); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "sockit-tour-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)

		// Stream, with credentials and a descriptor.
		ln, err := r.listen(ctx, "unix://"+filepath.Join(dir, "stream.sock"), "server")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := r.dial(ctx, "unix://"+filepath.Join(dir, "stream.sock"), client.Options{}, "client")
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := accept(ctx, ln)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := c.API().Write([]byte("hello")); err != nil {
			return err
		}
		got, err := readN(s.API(), 5)
		r.Check("unix_stream", "what the server read", "hello", string(got), noteOf(err))
		if runtime.GOOS == "linux" {
			cred, err := s.API().PeerCred()
			who := outcome(err)
			if err == nil {
				who = "another process"
				if int(cred.PID) == os.Getpid() {
					who = "this process"
				}
			}
			r.Check("peercred", "who is at the other end (SO_PEERCRED)", "this process", who, cred.String())
		} else {
			r.Skip("peercred", "who is at the other end (SO_PEERCRED)", "SO_PEERCRED is Linux's")
		}
		if err := passFD(r, dir, c.API(), s.API()); err != nil {
			return err
		}

		// Datagrams.
		gpath := filepath.Join(dir, "dgram.sock")
		g, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: gpath, Net: "unixgram"})
		if err != nil {
			return err
		}
		defer g.Close()
		gapi, err := sockapi.New(g, "unixgram", r.Observer("server"))
		if err != nil {
			return err
		}
		gc, err := r.dial(ctx, "unixgram://"+gpath, client.Options{}, "client")
		if err != nil {
			return err
		}
		defer gc.Close()
		for _, m := range []string{"one", "two"} {
			if _, err := gc.API().Write([]byte(m)); err != nil {
				return err
			}
		}
		g.SetReadDeadline(time.Now().Add(callTimeout))
		var msgs []string
		buf := make([]byte, 64)
		for range 2 {
			n, _, err := gapi.RecvFrom(buf, 0)
			if err != nil {
				return err
			}
			msgs = append(msgs, string(buf[:n]))
		}
		r.Check("unix_dgram", "two recvfrom() after two sends", "one|two", strings.Join(msgs, "|"), "")

		// Seqpacket.
		if runtime.GOOS != "linux" {
			r.Skip("unix_seqpacket", "records on a SOCK_SEQPACKET connection", "SOCK_SEQPACKET for Unix sockets is Linux's here")
			return nil
		}
		qpath := filepath.Join(dir, "seqpacket.sock")
		qln, err := r.listen(ctx, "unixpacket://"+qpath, "server")
		if err != nil {
			return err
		}
		defer qln.Close()
		qc, err := r.dial(ctx, "unixpacket://"+qpath, client.Options{}, "client")
		if err != nil {
			return err
		}
		defer qc.Close()
		qs, err := accept(ctx, qln)
		if err != nil {
			return err
		}
		defer qs.Close()
		for _, m := range []string{"first", "second"} {
			if _, err := qc.API().Write([]byte(m)); err != nil {
				return err
			}
		}
		var recs []string
		for range 2 {
			m, err := qs.API().RecvMsg(buf[:4], 0)
			if err != nil {
				return err
			}
			rec := string(buf[:m.N])
			if m.Flags&sockapi.Trunc != 0 {
				rec += " (MSG_TRUNC)"
			}
			recs = append(recs, rec)
		}
		r.Check("unix_seqpacket", "two recvmsg() of 4 bytes after sending \"first\" and \"second\"", "firs (MSG_TRUNC)|seco (MSG_TRUNC)", strings.Join(recs, "|"), "")
		return nil
	},
}

// passFD sends an open file from the client's end to the server's with
// SCM_RIGHTS, and reads it through the descriptor that arrives.
func passFD(r *Run, dir string, capi, sapi *sockapi.Conn) error {
	const content = "a file opened by the sender\n"
	path := filepath.Join(dir, "passed.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	os.Remove(path) // the descriptor keeps the file; the name is not needed
	r.Say("sendmsg() with SCM_RIGHTS: fd %d, a file whose name is already removed", int(f.Fd()))
	if _, err := capi.SendMsg([]byte("f"), sockapi.Ancillary{Rights: []int{int(f.Fd())}}, 0, nil); err != nil {
		return err
	}
	buf := make([]byte, 16)
	m, err := sapi.RecvMsg(buf, 0)
	if err != nil {
		return err
	}
	if len(m.Rights) == 0 {
		r.Check("passed_fd", "what the receiver reads through the descriptor it got", content, "no descriptor", "")
		return nil
	}
	got := os.NewFile(uintptr(m.Rights[0]), "passed")
	for _, fd := range m.Rights[1:] {
		os.NewFile(uintptr(fd), "extra").Close()
	}
	defer got.Close()
	data := make([]byte, 128)
	n, err := got.ReadAt(data, 0)
	if err != nil && n == 0 {
		return errors.Join(errors.New("reading the passed descriptor"), err)
	}
	r.Check("passed_fd", "what the receiver reads through the descriptor it got", strconv.Quote(content), strconv.Quote(string(data[:n])),
		r.T("sent as fd %d, received as fd %d", int(f.Fd()), m.Rights[0]))
	return nil
}
