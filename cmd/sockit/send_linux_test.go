package main

import (
	"io"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/sockit/sockit/internal/procstat"
	"github.com/sockit/sockit/internal/testkit"
)

// byteCounter counts what it is given, and where it first differs from
// testkit.Endless's bytes, keeping nothing.
type byteCounter struct {
	n, bad atomic.Int64
}

func (w *byteCounter) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 'r' {
			w.bad.CompareAndSwap(-1, w.n.Load()+int64(i))
		}
	}
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// heldEOF is r, whose end waits until open is closed.
type heldEOF struct {
	r    io.Reader
	open chan struct{}
}

func (h *heldEOF) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if err == io.EOF {
		<-h.open
	}
	return n, err
}

// TestSendStdinStreams checks that `sockit send ENDPOINT - < 64MiB` streams
// its input: echo sends every byte back before the input has even ended,
// and the process's peak RSS (VmHWM, read then) stays far below the input.
// At de66d22 it held the whole input: 170 MiB of RSS, and nothing sent
// before the end; streamed, about 9 MiB (26 MiB under -race).
func TestSendStdinStreams(t *testing.T) {
	needBinary(t)
	t.Parallel()
	const size = 64 << 20
	const most = 40 << 20
	_, eps := serve(t, "tcp://127.0.0.1:0")
	in := &heldEOF{r: io.LimitReader(testkit.Endless{}, size), open: make(chan struct{})}
	defer func() {
		select {
		case <-in.open:
		default:
			close(in.open)
		}
	}()
	cmd := exec.Command(bin, "send", eps[0], "-")
	cmd.Stdin = in
	out := &byteCounter{}
	out.bad.Store(-1)
	cmd.Stdout = out
	p := testkit.Start(t, cmd)
	testkit.Eventually(t, "every byte echoed, or the process gone", func() bool { return out.n.Load() >= size || !p.Running() })
	if got := out.n.Load(); got < size {
		t.Fatalf("%d of the %d bytes came back before the input ended: the input is held, not streamed\nstderr:\n%s", got, size, p.Stderr)
	}
	peak, err := procstat.PeakRSS(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	close(in.open)
	if code := p.Wait(t, testkit.Timeout); code != 0 {
		t.Fatalf("send - exited %d\nstderr:\n%s", code, p.Stderr)
	}
	if n, bad := out.n.Load(), out.bad.Load(); n != size || bad >= 0 {
		t.Errorf("%d bytes back (first wrong at %d), want the %d sent", n, bad, size)
	}
	if peak > most {
		t.Errorf("peak RSS %d MiB for a %d MiB input, want at most %d MiB", peak>>20, size>>20, most>>20)
	}
	t.Logf("peak RSS %.1f MiB for a %d MiB input", float64(peak)/(1<<20), size>>20)
}
