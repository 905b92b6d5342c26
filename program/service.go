package program

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
)

// DefaultMaxRunning is ServiceOptions.MaxRunning's default.
const DefaultMaxRunning = 32

// The buffers of a Service connection: input from the peer is taken up to
// inLimit bytes (one more read may come) while the program has the last
// batch to write; its output is read outChunk bytes at a time.
const (
	inLimit  = 64 << 10
	outChunk = 32 << 10
)

// ServiceOptions configure a Service. The zero value runs at most
// DefaultMaxRunning programs and takes the zero Options.
type ServiceOptions struct {
	// Options are as for Run: Env, Stderr, IdleTimeout (a program is
	// stopped when nothing has moved either way for so long), StopGrace,
	// and KillWait, which here also bounds the wait for a program to exit
	// on its own once its connection has ended (then it is stopped).
	Options
	// MaxRunning bounds the programs running at once (started and not
	// yet reaped). A connection that comes when MaxRunning are running is
	// reset at once, without a program, and counted as refused.
	// 0 = DefaultMaxRunning.
	MaxRunning int
	// OnEnd, if set, is told of each connection once it and its program
	// are both gone, and of each connection refused. It is called from
	// the engine's loops and the service's goroutines, concurrently: it
	// must be safe for that, and quick.
	OnEnd func(End)
}

// End is what a Service tells ServiceOptions.OnEnd of one connection.
type End struct {
	Peer net.Addr
	Pid  int // the program's process id; 0 if it did not start
	// Report is the program's: the bytes it was given and that went out
	// from it, its exit code and why it was stopped, if it was.
	Report
	// Refused: MaxRunning programs were running; none ran, and the
	// connection was reset.
	Refused bool
	// Err is why the connection or the program failed: the program could
	// not start, or the connection ended with an error (a reset, a
	// timeout, the server's shutdown). nil after an orderly end.
	Err error
}

// ServiceStats count what a Service did.
type ServiceStats struct {
	Started uint64 // programs started
	Running int64  // programs started (or starting) and not yet reaped
	Refused uint64 // connections reset because MaxRunning programs were running
	Failed  uint64 // programs that could not start
	Stopped uint64 // programs asked to stop (idle, shutdown, connection gone)
}

// Service runs a Program for each connection of an engine server, with
// the connection as its standard input and output: inetd's job, on the
// event loops. It is an engine.Handler, and a Drainer, TimerHandler and
// ShutdownHandler, which the protocol layers pass on: it serves tls://,
// ws:// and wss:// as it serves tcp:// and unix://.
//
// The two directions end as the package doc says. The peer's FIN closes
// the program's standard input once everything that came before it has
// been written there; the end of the program's standard output sends our
// FIN (CloseWrite) once everything it wrote has gone out. When the program
// has exited and its output has ended, the connection is closed (Close:
// what the peer still sends is discarded until its FIN).
//
// The bytes pass through the connection's loop, with backpressure both
// ways. A program that does not read its input stops the connection being
// read (engine.Conn.PauseReading): the peer is held back by TCP's flow
// control, and the service holds at most 64 KiB of its input, a read
// more, and the batch the program is being given. A peer that does not
// read stops the program's output being read once the connection's
// pending output is above the engine's low watermark: the program is held
// back by its pipe, and the connection's pending output stays within the
// low watermark and 32 KiB. What the service holds of the input counts
// against the server's memory budget (engine.Conn.Hold).
//
// Beside the loop, three goroutines work for each connection: one starts
// the program and waits for it, one writes its standard input, one reads
// its standard output (only when the loop asks for more, so it holds one
// 32 KiB buffer). They end once the program has been reaped and the
// connection has closed; Wait waits for them.
//
// A program is asked to stop — SIGTERM to its process group, then SIGKILL
// StopGrace later — when Options.IdleTimeout passes with nothing moving
// either way, when the server shuts down (OnShutdown), when its
// connection fails, or when its connection has ended in order and the
// program is still running KillWait later. On Windows it is killed at
// once, without what it started. On Linux a program that has exited is
// reaped only once its output has ended, or KillWait after its exit, when
// its process group is killed (what it started that keeps the output
// open): until then its process id, the group's, cannot be reused, so
// the signal cannot reach another process. Elsewhere it is reaped as it
// exits, and its group is not signalled after that.
type Service struct {
	p       Program
	o       ServiceOptions
	running atomic.Int64
	wg      sync.WaitGroup

	started, refused, failed, stopped atomic.Uint64
}

// NewService returns a Service running p for each connection. It refuses
// a Program that cannot run (see Program.Check) and negative options,
// with a *sockit.OptionError.
func NewService(p Program, o ServiceOptions) (*Service, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	const owner = "program.ServiceOptions"
	if o.MaxRunning < 0 {
		return nil, sockit.BadOption(owner, "MaxRunning", fmt.Sprintf("is %d; it must be 0 (the default) or more", o.MaxRunning))
	}
	if o.MaxRunning == 0 {
		o.MaxRunning = DefaultMaxRunning
	}
	var err error
	if o.Options, err = o.Options.resolve(owner); err != nil {
		return nil, err
	}
	return &Service{p: p, o: o}, nil
}

// Stats returns a snapshot of the counts.
func (s *Service) Stats() ServiceStats {
	return ServiceStats{Started: s.started.Load(), Running: s.running.Load(), Refused: s.refused.Load(),
		Failed: s.failed.Load(), Stopped: s.stopped.Load()}
}

// Wait blocks until every program the service started has been reaped and
// the service's goroutines have ended. A connection's goroutines end once
// its program has been reaped and the connection has closed: call Wait
// after the engine server's Shutdown or Close, which close the connections
// (and ask their programs to stop), and it returns within about StopGrace
// and KillWait of them.
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) end(e End) {
	if s.o.OnEnd != nil {
		s.o.OnEnd(e)
	}
}

// OnOpen starts the connection's program, unless MaxRunning are running.
func (s *Service) OnOpen(c engine.Conn) {
	if s.running.Add(1) > int64(s.o.MaxRunning) {
		s.running.Add(-1)
		s.refused.Add(1)
		c.Abort()
		s.end(End{Peer: c.RemoteAddr(), Report: Report{ExitCode: -1}, Refused: true})
		return
	}
	j, err := s.newJob(c)
	if err != nil { // out of descriptors for the pipes
		s.running.Add(-1)
		s.failed.Add(1)
		c.Abort()
		s.end(End{Peer: c.RemoteAddr(), Report: Report{ExitCode: -1}, Err: err})
		return
	}
	c.SetContext(j)
	j.touch()
	j.armIdle(c)
	s.wg.Add(3)
	go j.supervise()
	go j.writer()
	go j.reader()
	j.grantRead()
}

// OnData takes the peer's bytes for the program's input, and pauses
// reading while it holds inLimit of them.
func (s *Service) OnData(c engine.Conn, in []byte) int {
	j, _ := c.Context().(*job)
	if j == nil || j.inDead || j.inClosed {
		return len(in) // refused, or the program takes no more input: dropped
	}
	j.touch()
	j.in = append(j.in, in...)
	c.Hold(len(in))
	j.feed(c)
	if len(j.in) >= inLimit && !j.paused {
		j.paused = true
		c.PauseReading(true)
	}
	return len(in)
}

// OnPeerClose: the program's input ends once it has everything before.
func (s *Service) OnPeerClose(c engine.Conn) {
	if j, _ := c.Context().(*job); j != nil {
		j.peerFIN = true
		j.feed(c)
	}
}

// OnDrain lets the program's output be read again: the connection's
// pending output is at or below the low watermark.
func (s *Service) OnDrain(c engine.Conn) {
	if j, _ := c.Context().(*job); j != nil && j.outWanted {
		j.grantRead()
	}
}

// OnTimer takes what the connection's goroutines handed over, and checks
// the idle timeout.
func (s *Service) OnTimer(c engine.Conn) {
	j, _ := c.Context().(*job)
	if j == nil {
		return
	}
	j.mu.Lock()
	m := j.box
	j.box = mailbox{}
	j.mu.Unlock()
	if m.wrote {
		j.wrote(c, m.written, m.werr)
	}
	if m.outHas {
		j.output(c, m.out, m.outErr)
	}
	if m.exited {
		j.exited = true
		if m.startErr != nil {
			c.Abort()
		}
	}
	if j.exited && j.outEnded && !j.closing {
		j.closing = true
		c.Close() // what the peer still sends has nowhere to go
	}
	if idle := s.o.IdleTimeout; idle > 0 && j.timerAt > 0 {
		if now := time.Now().UnixNano(); now >= j.timerAt {
			j.timerAt = 0
			if now-j.last >= int64(idle) {
				j.stop("idle for " + idle.String())
			} else {
				j.armIdle(c)
			}
		}
	}
}

// OnShutdown asks the program to stop: the server is shutting down.
func (s *Service) OnShutdown(c engine.Conn) {
	if j, _ := c.Context().(*job); j != nil {
		j.stop("the server is shutting down")
	}
}

// OnClose lets the connection's goroutines go, and stops the program: at
// once if the connection failed, KillWait later if it is still running
// after an orderly end.
func (s *Service) OnClose(c engine.Conn, err error) {
	j, _ := c.Context().(*job)
	if j == nil {
		return
	}
	j.connErr = err
	if !j.inClosed {
		if err == nil && len(j.in) > 0 && !j.inDead {
			// An orderly end (both FINs) can come before the program has
			// all its input: the writer gives it the rest, then closes it.
			j.toProg <- j.in // at most one batch is outstanding: never blocks
		}
		j.inClosed = true
		close(j.toProg)
	}
	j.in = nil
	close(j.gone)
	if err != nil {
		// SIGTERM first: closing its output would kill it with SIGPIPE.
		j.stop("its connection failed")
		j.stdin.Close() // a write blocked on a program that does not read returns
	} else {
		j.stopLater(s.o.KillWait, "still running "+s.o.KillWait.String()+" after its connection ended")
	}
	j.stdout.Close() // and so does a read of a program that does not write
}

// job is one connection and its program.
type job struct {
	s    *Service
	c    engine.Conn
	peer net.Addr
	env  []string

	pipes // the program's standard input and output

	toProg  chan []byte
	grant   chan struct{} // one more read of the program's output
	gone    chan struct{} // closed by OnClose
	outDone chan struct{} // closed as the reader ends
	inDone  chan struct{} // closed as the writer ends
	connErr error         // OnClose's error; read after gone
	out     int64         // bytes out (the loop's); read after gone
	written atomic.Int64  // bytes the writer gave the program
	mu      sync.Mutex
	box     mailbox // what the goroutines hand the loop, under mu

	// The loop's:
	in, spare []byte // input not yet given to the writer; the batch it writes
	writing   bool   // the writer has a batch
	inClosed  bool   // toProg is closed: the program's input ends
	inDead    bool   // the program stopped reading: its input is dropped
	peerFIN   bool
	paused    bool // reading paused: in is full
	outWanted bool // the reader waits for leave to read
	outEnded  bool // the program's output ended: our FIN was asked for
	exited    bool
	closing   bool
	last      int64 // unix nanos when a byte last moved
	timerAt   int64 // the idle check's time; 0 = none armed

	proc // the program's process
}

// mailbox is what the writer, the reader and the supervisor hand the
// loop, which they wake with Conn.Wake.
type mailbox struct {
	wrote    bool // the writer is done with its batch
	written  int
	werr     error
	outHas   bool // the reader read
	out      []byte
	outErr   error // io.EOF or the read's error: the output ended
	exited   bool  // the program has been reaped, or never started
	startErr error
}

func (s *Service) newJob(c engine.Conn) (*job, error) {
	j := &job{s: s, c: c, peer: c.RemoteAddr(), env: connEnv(c),
		toProg: make(chan []byte, 2), grant: make(chan struct{}, 1),
		gone: make(chan struct{}), outDone: make(chan struct{}), inDone: make(chan struct{}),
		proc: proc{grace: s.o.StopGrace, stopped: &s.stopped}}
	var err error
	if j.pipes, err = newPipes(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *job) touch() { j.last = time.Now().UnixNano() }

// armIdle sets the connection's timer for the idle check.
func (j *job) armIdle(c engine.Conn) {
	if idle := j.s.o.IdleTimeout; idle > 0 {
		j.timerAt = j.last + int64(idle)
		c.SetTimer(time.Unix(0, j.timerAt))
	}
}

// feed gives the writer the input that waits, if it is free; closes the
// program's input after the peer's FIN once all is written; and reads
// again when there is room.
func (j *job) feed(c engine.Conn) {
	if !j.writing && len(j.in) > 0 && !j.inClosed {
		j.in, j.spare = j.spare[:0], j.in
		j.writing = true
		j.toProg <- j.spare // the writer is free: never blocks
	}
	if j.peerFIN && !j.writing && !j.inClosed {
		j.inClosed = true
		close(j.toProg) // the writer closes the program's input
	}
	if j.paused && len(j.in) < inLimit {
		j.paused = false
		c.PauseReading(false)
	}
}

// wrote: the writer is done with its batch, n bytes of it written.
func (j *job) wrote(c engine.Conn, n int, err error) {
	j.writing = false
	c.Hold(-len(j.spare))
	if n > 0 {
		j.touch()
	}
	if err != nil { // the program closed its input, or exited
		j.inDead = true
		c.Hold(-len(j.in))
		j.in = j.in[:0]
	}
	j.feed(c)
}

// output writes what the reader read, and lets it read again when the
// connection has room; at the output's end, our FIN.
func (j *job) output(c engine.Conn, b []byte, end error) {
	if len(b) > 0 {
		j.touch()
		if n, err := c.Write(b); err == nil {
			j.out += int64(n)
		}
	}
	if end != nil {
		j.outEnded = true
		c.CloseWrite()
		return
	}
	j.outWanted = true
	if c.Pending() == 0 {
		j.grantRead()
	} // else OnDrain does, as the connection drains
}

func (j *job) grantRead() {
	j.outWanted = false
	j.grant <- struct{}{} // the reader waits for it: never blocks
}

// wake tells the loop that the mailbox has news.
func (j *job) wake() { j.c.Wake() } // ErrClosed once the connection is gone: nobody to tell

// writer writes each batch the loop gives it to the program's input, and
// closes that input when the loop closes toProg.
func (j *job) writer() {
	defer j.s.wg.Done()
	defer close(j.inDone)
	defer j.stdin.Close()
	for b := range j.toProg {
		n, err := j.stdin.Write(b)
		j.written.Add(int64(n))
		j.mu.Lock()
		j.box.wrote, j.box.written, j.box.werr = true, n, err
		j.mu.Unlock()
		j.wake()
		if err != nil {
			return
		}
	}
}

// reader reads the program's output, once each time the loop lets it,
// until its end.
func (j *job) reader() {
	defer j.s.wg.Done()
	defer close(j.outDone)
	defer j.stdout.Close()
	buf := make([]byte, outChunk)
	for {
		select {
		case <-j.grant:
		case <-j.gone:
			return
		}
		n, err := j.stdout.Read(buf)
		for n == 0 && err == nil {
			n, err = j.stdout.Read(buf)
		}
		if errors.Is(err, os.ErrClosed) {
			err = io.EOF // OnClose closed it
		}
		j.mu.Lock()
		j.box.outHas, j.box.out, j.box.outErr = true, buf[:n], err
		j.mu.Unlock()
		j.wake()
		if err != nil {
			return
		}
	}
}

// supervise starts the program, waits for it and reaps it, then waits for
// the connection's end and reports.
func (j *job) supervise() {
	s := j.s
	defer s.wg.Done()
	cmd, err := s.p.start(s.o.Options, j.env, j.pipes)
	exit, pid := -1, 0
	if err != nil {
		s.failed.Add(1)
	} else {
		s.started.Add(1)
		pid = cmd.Process.Pid
		j.start(cmd)
		j.await(j.outDone, s.o.KillWait)
		exit = cmd.ProcessState.ExitCode()
	}
	s.running.Add(-1)
	j.mu.Lock()
	j.box.exited, j.box.startErr = true, err
	j.mu.Unlock()
	j.wake()

	<-j.gone
	// The writer may still give the program the input that came before
	// an orderly end; something it started may hold that input and not
	// read it.
	t := time.NewTimer(s.o.KillWait)
	select {
	case <-j.inDone:
	case <-t.C:
		j.stdin.Close()
		<-j.inDone
	}
	t.Stop()
	rep := Report{In: j.written.Load(), Out: j.out, ExitCode: exit, Killed: j.killed()}
	if err == nil {
		err = j.connErr
	}
	s.end(End{Peer: j.peer, Pid: pid, Report: rep, Err: err})
}
