package tcpstate_test

import (
	"slices"
	"testing"

	"github.com/sockit/sockit/tcpstate"
)

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want tcpstate.State
	}{
		{in: "FIN_WAIT_1", want: tcpstate.FinWait1},
		{in: "TCP_FIN_WAIT1", want: tcpstate.FinWait1},
		{in: "FIN-WAIT-2", want: tcpstate.FinWait2},
		{in: "ESTAB", want: tcpstate.Established},
		{in: "TCP_CLOSE", want: tcpstate.Closed},
		{in: "UNCONN", want: tcpstate.Closed},
		{in: "TIME-WAIT", want: tcpstate.TimeWait},
		{in: "SYN-RECV", want: tcpstate.SynRecv},
		{in: "TCP_NEW_SYN_RECV", want: tcpstate.SynRecv},
		{in: "LAST-ACK", want: tcpstate.LastAck},
		{in: "listen", want: tcpstate.Listen},
	} {
		got, ok := tcpstate.ParseState(tc.in)
		if !ok || got != tc.want {
			t.Errorf("ParseState(%q) = %v, %v; want %v, true", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := tcpstate.ParseState("SLEEPING"); ok {
		t.Error(`ParseState("SLEEPING") succeeded`)
	}
}

func TestStateNamesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range tcpstate.AllStates {
		if got, ok := tcpstate.ParseState(s.String()); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), got, ok)
		}
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	S := func(s ...tcpstate.State) []tcpstate.State { return s }
	for _, tc := range []struct {
		from, to tcpstate.State
		want     []tcpstate.State
	}{
		{from: tcpstate.Closed, to: tcpstate.Established, want: S(tcpstate.SynSent, tcpstate.Established)},
		{from: tcpstate.Listen, to: tcpstate.Established, want: S(tcpstate.SynRecv, tcpstate.Established)},
		{from: tcpstate.Established, to: tcpstate.FinWait2, want: S(tcpstate.FinWait1, tcpstate.FinWait2)},
		{from: tcpstate.Established, to: tcpstate.TimeWait, want: S(tcpstate.FinWait1, tcpstate.FinWait2, tcpstate.TimeWait)},
		{from: tcpstate.CloseWait, to: tcpstate.Closed, want: S(tcpstate.LastAck, tcpstate.Closed)},
		{from: tcpstate.Established, to: tcpstate.Closed, want: S(tcpstate.CloseWait, tcpstate.LastAck, tcpstate.Closed)},
		{from: tcpstate.TimeWait, to: tcpstate.Closed, want: S(tcpstate.Closed)},
		{from: tcpstate.Established, to: tcpstate.Established, want: nil},
		{from: tcpstate.FinWait2, to: tcpstate.Established, want: S(tcpstate.Established)}, // no orderly way back
	} {
		if got := tcpstate.Path(tc.from, tc.to); !slices.Equal(got, tc.want) {
			t.Errorf("Path(%v, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestFlagsString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    tcpstate.Flags
		want string
	}{
		{f: tcpstate.SYN, want: "SYN"},
		{f: tcpstate.SYN | tcpstate.ACK, want: "SYN-ACK"},
		{f: tcpstate.FIN | tcpstate.ACK, want: "FIN-ACK"},
		{f: tcpstate.PSH | tcpstate.ACK, want: "PSH-ACK"},
		{f: tcpstate.RST, want: "RST"},
		{f: 0, want: "none"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("Flags(%#x) = %q, want %q", uint8(tc.f), got, tc.want)
		}
	}
}
