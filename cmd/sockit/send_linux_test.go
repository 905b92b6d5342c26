package main

import (
	"io"
	"os/exec"
	"syscall"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

// byteCounter counts what it is given, and where it first differs from
// testkit.Endless's bytes, keeping nothing.
type byteCounter struct {
	n, bad int64
}

func (w *byteCounter) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 'r' && w.bad < 0 {
			w.bad = w.n + int64(i)
		}
	}
	w.n += int64(len(p))
	return len(p), nil
}

// TestSendStdinStreams checks that `sockit send ENDPOINT - < 64MiB` streams
// its input: every byte comes back from echo, and the process's peak RSS
// stays far below the input (it held the whole input, 170 MiB of RSS, at
// de66d22; streamed, about 9 MiB, 26 MiB under -race).
func TestSendStdinStreams(t *testing.T) {
	needBinary(t)
	t.Parallel()
	const size = 64 << 20
	const most = 40 << 20
	_, eps := serve(t, "tcp://127.0.0.1:0")
	cmd := exec.Command(bin, "send", eps[0], "-")
	cmd.Stdin = io.LimitReader(testkit.Endless{}, size)
	out := &byteCounter{bad: -1}
	cmd.Stdout = out
	p := testkit.Start(t, cmd)
	if code := p.Wait(t, testkit.Timeout); code != 0 {
		t.Fatalf("send - exited %d\nstderr:\n%s", code, p.Stderr)
	}
	if out.n != size || out.bad >= 0 {
		t.Errorf("%d bytes back (first wrong at %d), want the %d sent", out.n, out.bad, size)
	}
	rss := int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) << 10 // KiB, per getrusage(2)
	if rss > most {
		t.Errorf("peak RSS %d MiB for a %d MiB input, want at most %d MiB: the input is held, not streamed", rss>>20, size>>20, most>>20)
	}
	t.Logf("peak RSS %.1f MiB for a %d MiB input", float64(rss)/(1<<20), size>>20)
}
