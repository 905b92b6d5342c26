package tcpstate

import (
	"encoding/binary"
	"errors"
	"io"
)

// PcapWriter writes captured segments as a pcap file, the classic format
// of libpcap (tcpdump -w) that tcpdump -r, tshark and Wireshark read: a
// 24-byte file header, then per packet a 16-byte record header and the
// bytes captured. The link type is LINKTYPE_RAW (101): packets begin at
// their IP header, as a Capture reads them. Times have microseconds.
//
// See https://www.tcpdump.org/manpages/pcap-savefile.5.txt and
// https://www.tcpdump.org/linktypes.html.
type PcapWriter struct {
	w       io.Writer
	snapLen int
	rec     [16]byte
}

// linkTypeRaw is LINKTYPE_RAW: raw IPv4 or IPv6, the version from the
// first nibble.
const linkTypeRaw = 101

// ErrNoPacket is WritePacket's error for a packet without its bytes.
var ErrNoPacket = errors.New("tcpstate: no packet bytes to write")

// NewPcapWriter writes the file header to w and returns the writer of the
// records. snapLen is the longest packet record it will write, the file's
// snapshot length; 0 means 65535.
func NewPcapWriter(w io.Writer, snapLen int) (*PcapWriter, error) {
	if snapLen <= 0 {
		snapLen = 65535
	}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4) // magic: microsecond times, in the writer's byte order
	binary.LittleEndian.PutUint16(h[4:], 2)          // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// h[8:16]: thiszone and sigfigs, zero as everyone writes them
	binary.LittleEndian.PutUint32(h[16:], uint32(snapLen))
	binary.LittleEndian.PutUint32(h[20:], linkTypeRaw)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w, snapLen: snapLen}, nil
}

// WritePacket writes one record: the packet's time, its captured bytes
// (cut at the snap length) and its length on the wire. It is not safe for
// concurrent use.
func (p *PcapWriter) WritePacket(pkt Packet) error {
	if len(pkt.Data) == 0 {
		return ErrNoPacket
	}
	data := pkt.Data[:min(len(pkt.Data), p.snapLen)]
	wire := max(pkt.WireLen, len(data))
	us := pkt.Time.UnixMicro()
	binary.LittleEndian.PutUint32(p.rec[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(p.rec[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(p.rec[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(p.rec[12:], uint32(wire))
	if _, err := p.w.Write(p.rec[:]); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}
