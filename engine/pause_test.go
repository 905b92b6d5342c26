package engine_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// pauser pauses reading at its first bytes, and resumes when woken; at the
// peer's FIN it answers with the count and SHA-256 of all it got.
type pauser struct {
	opened chan engine.Conn
	closed chan error
	late   atomic.Int64 // bytes OnData got while paused
	// Loop only:
	paused, resumed bool
	n               int
	h               hash.Hash
}

func (p *pauser) OnOpen(c engine.Conn) { p.opened <- c }

func (p *pauser) OnData(c engine.Conn, in []byte) int {
	if p.paused {
		p.late.Add(int64(len(in)))
	}
	p.n += len(in)
	p.h.Write(in)
	if !p.resumed && !p.paused {
		p.paused = true
		c.PauseReading(true)
	}
	return len(in)
}

func (p *pauser) OnTimer(c engine.Conn) { // the test's Wake
	p.paused, p.resumed = false, true
	c.PauseReading(false)
}

func (p *pauser) OnPeerClose(c engine.Conn) {
	c.Write(fmt.Appendf(nil, "%d %x", p.n, p.h.Sum(nil)))
	c.CloseWrite()
}

func (p *pauser) OnClose(_ engine.Conn, err error) { p.closed <- err }

// PauseReading holds the peer back with TCP's flow control: the handler
// gets nothing past the read under way while it is paused, the idle
// timeout does not close it meanwhile, and once it resumes every byte
// comes, in order.
func TestContractPauseReading(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		const read = 16 << 10
		const idle = time.Second
		const total = 16 << 20
		// The bytes are made before the connection: until its first read
		// the connection is idle, and on a loaded machine making 16 MiB
		// took longer than the idle timeout (the server then closed it and
		// read on to discard, and every byte went out).
		msg := pattern(total, 7)
		srv := newServer(t, b, engine.Config{ReadBuffer: read, RecvBuf: 64 << 10, IdleTimeout: idle})
		p := &pauser{opened: make(chan engine.Conn, 1), closed: make(chan error, 1), h: sha256.New()}
		c := dial(t, listen(t, srv, "tcp4", "127.0.0.1:0", p))
		if err := c.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}

		// Write until a write makes no progress for three idle timeouts:
		// the server has stopped reading, and its buffers and ours are full.
		sent := 0
		for sent < total {
			c.SetWriteDeadline(time.Now().Add(3 * idle))
			n, err := c.Write(msg[sent:min(sent+64<<10, total)])
			sent += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("write after %d bytes: %v", sent, err)
			}
		}
		sc := testkit.Receive(t, p.opened, "OnOpen")
		if sent == total {
			t.Fatalf("all %d bytes went out: the server never stopped reading (or it closed the connection as idle before its first read, and read on to discard)", total)
		}
		select {
		case err := <-p.closed:
			t.Fatalf("closed while paused (%v): paused is not idle", err)
		default:
		}
		if late := p.late.Load(); late > read {
			t.Errorf("OnData got %d bytes after PauseReading(true); want at most one read (%d)", late, read)
		}
		if in := srv.Stats().BytesIn; in > 2*read {
			t.Errorf("the server read %d bytes while paused; want at most two reads (%d)", in, 2*read)
		}

		if err := sc.Wake(); err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(testkit.Timeout))
		if _, err := c.Write(msg[sent:]); err != nil {
			t.Fatalf("writing the rest after the resume: %v", err)
		}
		if err := closeWrite(c); err != nil {
			t.Fatal(err)
		}
		got, err := testkit.ReadAll(c, 256)
		if want := fmt.Sprintf("%d %x", total, sha256.Sum256(msg)); err != nil || string(got) != want {
			t.Fatalf("answer %q, %v; want %q (every byte, in order)", got, err, want)
		}
		c.Close()
		if err := testkit.Receive(t, p.closed, "OnClose"); err != nil {
			t.Errorf("OnClose: %v, want nil", err)
		}
	})
}
