package sockapi

import "testing"

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Flags
		text    string
		wantErr bool
	}{
		{in: "", want: 0, text: "0"},
		{in: "0", want: 0, text: "0"},
		{in: "peek", want: Peek, text: "MSG_PEEK"},
		{in: "OOB,Peek", want: Peek | OOB, text: "MSG_PEEK|MSG_OOB"},
		{in: "MSG_WAITALL|msg_dontwait", want: WaitAll | DontWait, text: "MSG_WAITALL|MSG_DONTWAIT"},
		{in: "dontroute", want: DontRoute, text: "MSG_DONTROUTE"},
		{in: "peek,bogus", wantErr: true},
		{in: "trunc", wantErr: true}, // reported by recvmsg, not passed
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFlags(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got != tt.want || got.String() != tt.text {
			t.Errorf("ParseFlags(%q) = %v (%s), want %v (%s)", tt.in, uint16(got), got, uint16(tt.want), tt.text)
		}
	}
}

func TestParseCalls(t *testing.T) {
	t.Parallel()
	for i, name := range []string{"auto", "write", "send", "SendTo", "sendmsg", "writev"} {
		c, err := ParseSendCall(name)
		if err != nil || int(c) != i {
			t.Errorf("ParseSendCall(%q) = %v, %v; want %d", name, c, err, i)
		}
	}
	for i, name := range []string{"auto", "read", "recv", "recvfrom", "RECVMSG", "readv"} {
		c, err := ParseRecvCall(name)
		if err != nil || int(c) != i {
			t.Errorf("ParseRecvCall(%q) = %v, %v; want %d", name, c, err, i)
		}
	}
	if _, err := ParseSendCall("recv"); err == nil {
		t.Error(`ParseSendCall("recv") succeeded`)
	}
	if _, err := ParseRecvCall("send"); err == nil {
		t.Error(`ParseRecvCall("send") succeeded`)
	}
	if Write.Flags() || Writev.Flags() || !Send.Flags() || Read.Flags() || !RecvMsg.Flags() {
		t.Error("Flags(): read, write, readv and writev take no flags; the others do")
	}
}

func TestParseHow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   How
		reads  bool
		writes bool
	}{
		{in: "wr", want: ShutWR, writes: true},
		{in: "RD", want: ShutRD, reads: true},
		{in: "shut_rdwr", want: ShutRDWR, reads: true, writes: true},
		{in: "none", want: ShutNone},
	}
	for _, tt := range tests {
		got, err := ParseHow(tt.in)
		if err != nil || got != tt.want || got.Reads() != tt.reads || got.Writes() != tt.writes {
			t.Errorf("ParseHow(%q) = %v, %v (reads %v, writes %v)", tt.in, got, err, got.Reads(), got.Writes())
		}
	}
	if _, err := ParseHow("both"); err == nil {
		t.Error(`ParseHow("both") succeeded`)
	}
}

// Every name Names gives parses.
func TestNames(t *testing.T) {
	t.Parallel()
	send, recv, flags, how := Names()
	for _, n := range send {
		if _, err := ParseSendCall(n); err != nil {
			t.Errorf("send call %q: %v", n, err)
		}
	}
	for _, n := range recv {
		if _, err := ParseRecvCall(n); err != nil {
			t.Errorf("receive call %q: %v", n, err)
		}
	}
	for _, n := range flags {
		if _, err := ParseFlags(n); err != nil {
			t.Errorf("flag %q: %v", n, err)
		}
	}
	for _, n := range how {
		if _, err := ParseHow(n); err != nil {
			t.Errorf("shutdown %q: %v", n, err)
		}
	}
	if len(send) != 5 || len(recv) != 5 || len(flags) != 5 || len(how) != 4 {
		t.Errorf("Names() = %q, %q, %q, %q; want 5 calls each way, 5 flags, 4 modes", send, recv, flags, how)
	}
}
