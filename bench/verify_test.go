package bench_test

import (
	"testing"
	"time"
)

// A server that changes one byte is caught, with the exact offset and
// both values.
func TestVerifyCatchesCorruption(t *testing.T) {
	ep, _ := server(t, "tcp", corrupter{at: 1234})
	o := quick(ep)
	o.Conns = 1
	res := run(t, o)
	m := res.Check.FirstMismatch
	if res.Check.MismatchedMsgs != 1 || m == nil {
		t.Fatalf("verification %+v, want exactly one mismatched message", res.Check)
	}
	if m.Offset != 1234 || m.Want^m.Got != 0x20 {
		t.Errorf("first mismatch %+v, want offset 1234 with one bit flipped", *m)
	}
	if res.OK() {
		t.Error("OK() is true for a corrupted run")
	}
	// Without verification the same run counts no mismatch.
	o.NoVerify = true
	if res := run(t, o); res.Check.MismatchedMsgs != 0 || res.Verify {
		t.Errorf("--no-verify still checked: %+v", res.Check)
	}
}

// Short and long echoes are counted with their first offsets; a server
// closing early is an error of its own kind.
func TestShortAndExtraEchoes(t *testing.T) {
	t.Run("short", func(t *testing.T) {
		ep, _ := server(t, "tcp", truncator{n: 250})
		o := quick(ep)
		o.Conns = 1
		o.Depth = 4
		res := run(t, o)
		c := res.Check
		if c.ShortConns != 1 || c.MissingBytes == 0 || c.FirstShort == nil || c.FirstShort.Offset != 250 {
			t.Errorf("verification %+v (first short %+v), want one short connection from offset 250", c, c.FirstShort)
		}
		if res.TotalRecvBytes != 250 {
			t.Errorf("received %d bytes, want the 250 the server echoed", res.TotalRecvBytes)
		}
		if !hasError(res, "closed by the peer") {
			t.Errorf("errors %v, want the early close counted", res.Errors)
		}
	})
	t.Run("extra", func(t *testing.T) {
		ep, _ := server(t, "tcp", extender{})
		o := quick(ep)
		o.Conns, o.Depth = 1, 1 // one message at a time: each echo is the message and a '!'
		res := run(t, o)
		c := res.Check
		if c.ExtraBytes == 0 || c.FirstExtra == nil || c.FirstExtra.Got != '!' || c.FirstExtra.Offset != 100 || c.MismatchedMsgs != 0 {
			t.Errorf("verification %+v (first extra %+v), want extra bytes '!'", c, c.FirstExtra)
		}
	})
}

// Every datagram sent is accounted for, answered or lost, even when a
// lost one still holds its place in the pipeline while younger ones come
// back: none is overwritten and forgotten.
func TestUDPLossAccounted(t *testing.T) {
	ep, _ := server(t, "udp", dropper{})
	o := quick(ep)
	o.Conns, o.Depth = 2, 8
	o.Duration = 1500 * time.Millisecond // past the loss timeout, so that places are freed and reused
	res := run(t, o)
	if res.Check.LostDatagrams == 0 {
		t.Fatalf("no datagram counted lost: %+v", res.Check)
	}
	if got := res.TotalDoneMsgs + res.Check.LostDatagrams; got != res.TotalSentMsgs {
		t.Errorf("sent %d datagrams; %d answered + %d lost = %d", res.TotalSentMsgs, res.TotalDoneMsgs, res.Check.LostDatagrams, got)
	}
	if res.Check.ExtraBytes != 0 || res.Check.MismatchedMsgs != 0 {
		t.Errorf("verification %+v", res.Check)
	}
}
