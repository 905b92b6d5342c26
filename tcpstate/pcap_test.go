package tcpstate_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tcpstate"
)

// pcapPackets are a handshake's first two segments and 100 bytes of data,
// over IPv4 and IPv6, as a Capture would report them.
func pcapPackets() []tcpstate.Packet {
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()
	at := time.Date(2026, 12, 5, 23, 30, 0, 123456000, time.UTC)
	segs := []tcpstate.Segment{
		{Time: at, Src: netip.AddrPortFrom(lo4, 40000), Dst: netip.AddrPortFrom(lo4, 7007), Flags: tcpstate.SYN, Seq: 1000, Window: 65495},
		{Time: at.Add(time.Millisecond), Src: netip.AddrPortFrom(lo4, 7007), Dst: netip.AddrPortFrom(lo4, 40000), Flags: tcpstate.SYN | tcpstate.ACK, Seq: 5000, Ack: 1001, Window: 65483},
		{Time: at.Add(2 * time.Millisecond), Src: netip.AddrPortFrom(lo6, 40001), Dst: netip.AddrPortFrom(lo6, 7007), Flags: tcpstate.PSH | tcpstate.ACK, Seq: 1, Ack: 1, Window: 512, Len: 100},
	}
	var pkts []tcpstate.Packet
	for _, s := range segs {
		b := buildSegment(s, 0, 0)
		pkts = append(pkts, tcpstate.Packet{Segment: s, Data: b, WireLen: len(b)})
	}
	return pkts
}

// TestPcapWriter reads back the file the writer made: the header, and each
// record's time, lengths and bytes, cut at the snap length.
func TestPcapWriter(t *testing.T) {
	t.Parallel()
	const snap = 64 // less than the IPv6 data packet (160 bytes)
	var buf bytes.Buffer
	w, err := tcpstate.NewPcapWriter(&buf, snap)
	if err != nil {
		t.Fatal(err)
	}
	pkts := pcapPackets()
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePacket(tcpstate.Packet{}); !errors.Is(err, tcpstate.ErrNoPacket) {
		t.Errorf("WritePacket of no bytes = %v, want ErrNoPacket", err)
	}
	b := buf.Bytes()
	le := binary.LittleEndian
	if got := []uint32{le.Uint32(b), uint32(le.Uint16(b[4:])), uint32(le.Uint16(b[6:])), le.Uint32(b[16:]), le.Uint32(b[20:])}; !reflect.DeepEqual(got, []uint32{0xa1b2c3d4, 2, 4, snap, 101}) {
		t.Fatalf("header: magic, version, snap length, link type = %#x, want a1b2c3d4, 2, 4, %d, 101", got, snap)
	}
	b = b[24:]
	for i, p := range pkts {
		sec, usec, incl, orig := le.Uint32(b), le.Uint32(b[4:]), int(le.Uint32(b[8:])), int(le.Uint32(b[12:]))
		at := time.Unix(int64(sec), int64(usec)*1000)
		if !at.Equal(p.Time) || incl != min(len(p.Data), snap) || orig != len(p.Data) {
			t.Fatalf("record %d: time %v, lengths %d of %d; want %v, %d of %d", i, at, incl, orig, p.Time, min(len(p.Data), snap), len(p.Data))
		}
		data := b[16 : 16+incl]
		if !bytes.Equal(data, p.Data[:incl]) {
			t.Errorf("record %d: bytes differ", i)
		}
		if got, err := tcpstate.ParseSegment(data); err != nil || got.Flags != p.Flags || got.Seq != p.Seq || got.Len != p.Len {
			t.Errorf("record %d parses as %+v, %v; want %+v", i, got, err, p.Segment)
		}
		b = b[16+incl:]
	}
	if len(b) != 0 {
		t.Errorf("%d bytes after the last record", len(b))
	}
}

// TestPcapTcpdump: tcpdump reads the file and lists each segment with its
// addresses, flags and sequence numbers.
func TestPcapTcpdump(t *testing.T) {
	t.Parallel()
	tcpdump := testkit.Tcpdump(t)
	name := filepath.Join(t.TempDir(), "t.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tcpstate.NewPcapWriter(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pcapPackets() {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tcpdump, "-r", name, "-n", "-S", "-tt")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output() // one line a packet; "reading from file …" goes to stderr
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, stderr.String())
	}
	listed := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := [][]string{
		{"1796513400.123456", "127.0.0.1.40000 > 127.0.0.1.7007", "Flags [S]", "seq 1000", "win 65495"},
		{"127.0.0.1.7007 > 127.0.0.1.40000", "Flags [S.]", "seq 5000", "ack 1001"},
		{"IP6 ::1.40001 > ::1.7007", "Flags [P.]", "seq 1:101", "ack 1", "length 100"},
	}
	if len(listed) != len(want) {
		t.Fatalf("tcpdump listed %d packets, want %d:\n%s", len(listed), len(want), out)
	}
	for i, w := range want {
		testkit.MustContain(t, "tcpdump's line", listed[i], w...)
	}
}
