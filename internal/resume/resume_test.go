package resume_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/internal/resume"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// A write the deadline cuts short reports a timeout with all of p taken;
// writes after the deadline take nothing; once the deadline is lifted the
// tail goes out first, and the peer reads every byte in order.
func TestTailSurvivesDeadline(t *testing.T) {
	t.Parallel()
	a, b := testkit.TCPPair(t)
	a.SetWriteBuffer(4 << 10) // a small send buffer: a big write must block
	rw := resume.New(a)
	s := resume.Over(rw, rw)

	first := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB, more than the peer's receive window
	s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := s.Write(first)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || n != len(first) {
		t.Fatalf("Write past the peer's buffers = %d, %v; want %d and a timeout", n, err, len(first))
	}
	if err := rw.Check(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Check after a cut write = %v, want a timeout", err)
	}
	if n, err := s.Write([]byte("late")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write after the deadline = %d, %v; want 0 and a timeout", n, err)
	}

	got := make(chan []byte, 1)
	go func() {
		b.SetReadDeadline(time.Now().Add(testkit.Timeout))
		all, _ := io.ReadAll(b)
		got <- all
	}()
	s.SetWriteDeadline(time.Time{})
	second := []byte("and the rest")
	if n, err := s.Write(second); n != len(second) || err != nil {
		t.Fatalf("Write without a deadline = %d, %v", n, err)
	}
	if err := rw.Check(); err != nil {
		t.Errorf("Check after a whole write = %v", err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite = %v", err)
	}
	if all := <-got; !bytes.Equal(all, append(first, second...)) {
		t.Errorf("the peer read %d bytes, want the %d written, in order", len(all), len(first)+len(second))
	}
}

// Split finds a stack's resumable writer and its unguarded top.
func TestSplit(t *testing.T) {
	t.Parallel()
	a, _ := testkit.TCPPair(t)
	rw, top := resume.Split(a)
	if rw == nil || top != net.Conn(rw) {
		t.Fatalf("Split(socket) = %v, %v; want a new Conn twice", rw, top)
	}
	if rw2, top2 := resume.Split(rw); rw2 != rw || top2 != net.Conn(rw) {
		t.Errorf("Split(Conn) = %v, %v; want the Conn twice", rw2, top2)
	}
	tc := tls.Client(rw, &tls.Config{InsecureSkipVerify: true})
	s := resume.Over(tc, rw)
	if rw3, top3 := resume.Split(s); rw3 != rw || top3 != net.Conn(tc) {
		t.Errorf("Split(Stack) = %v, %v; want its Conn and the TLS conn", rw3, top3)
	}
	if s.Top() != net.Conn(tc) || s.Resumable() != rw {
		t.Errorf("Stack Top, Resumable = %v, %v", s.Top(), s.Resumable())
	}
}

// TLS on a resumable writer passes nettest's conformance suite, whose
// write timeouts would otherwise break crypto/tls for good.
func TestTLSStackConn(t *testing.T) {
	t.Parallel()
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		raw1, raw2, err := testkit.Pipe("tcp")
		if err != nil {
			return nil, nil, nil, err
		}
		rw1, rw2 := resume.New(raw1), resume.New(raw2)
		t1 := tls.Client(rw1, &tls.Config{InsecureSkipVerify: true})
		t2 := tls.Server(rw2, &tls.Config{Certificates: []tls.Certificate{cert}})
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		var wg sync.WaitGroup
		var err2 error
		wg.Add(1)
		go func() { defer wg.Done(); err2 = t2.HandshakeContext(ctx) }()
		err = t1.HandshakeContext(ctx)
		wg.Wait()
		if err = errors.Join(err, err2); err != nil {
			raw1.Close()
			raw2.Close()
			return nil, nil, nil, err
		}
		c1, c2 = resume.Over(t1, rw1), resume.Over(t2, rw2)
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}
