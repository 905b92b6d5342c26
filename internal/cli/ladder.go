package cli

import (
	"fmt"
	"html/template"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/sockit/sockit/tcpstate"
)

// maxLadderSteps bounds what trace --html keeps for the page: a busy port
// must not grow trace without bound. Steps past it are counted and the
// page says how many were left out.
const maxLadderSteps = 20000

// ladder collects the steps of trace --html and draws each connection as
// a ladder diagram: two lifelines, client on the left and server on the
// right, an arrow per segment from its sender, sloping down to its
// receiver, labelled with its flags and relative seq/ack, and the state
// boxes of each side on its own side, in time order down the page.
type ladder struct {
	steps   []tcpstate.Step
	dropped int
}

func (l *ladder) add(st tcpstate.Step) {
	if st.Conn == 0 {
		return // a listener's own states: not part of a connection's ladder
	}
	if len(l.steps) >= maxLadderSteps {
		l.dropped++
		return
	}
	l.steps = append(l.steps, st)
}

// conns counts the connections drawn.
func (l *ladder) conns() int {
	seen := map[int]bool{}
	for _, st := range l.steps {
		seen[st.Conn] = true
	}
	return len(seen)
}

// Geometry of one ladder, in SVG user units (the SVG scales to the page
// width, 1024 to 1600 px without scrolling).
const (
	ladderWidth  = 820
	ladderTop    = 56  // below the lifelines' names
	ladderRowH   = 34  // one step
	ladderSlope  = 20  // how far an arrow drops from sender to receiver
	ladderLeftX  = 250 // the client's lifeline
	ladderRightX = 650 // the server's
	ladderBoxW   = 150
)

type ladderPage struct {
	Generated string
	Command   string
	Conns     []ladderConn
	Dropped   int
}

type ladderConn struct {
	N              int
	Client, Server string
	Height         int
	LeftX, RightX  int
	Width          int
	Rows           []ladderRow
	Bottom         int // where the lifelines end
}

type ladderRow struct {
	Y     int
	Time  string
	Arrow *ladderArrow
	Box   *ladderBox
}

type ladderArrow struct {
	X1, Y1, X2, Y2 int
	LX, LY         int // the label's anchor: the middle, above the line
	Label, Class   string
}

type ladderBox struct {
	X, Y, W int
	TX      int // the text's middle
	Text    string
	Title   string // the meaning, shown on hover
}

// write draws the page to w; command is how trace was run, for the page.
func (l *ladder) write(w io.Writer, command string, now time.Time) error {
	page := ladderPage{Generated: now.Format(time.RFC3339), Command: command, Dropped: l.dropped}
	byConn := map[int][]tcpstate.Step{}
	var order []int
	for _, st := range l.steps {
		if _, ok := byConn[st.Conn]; !ok {
			order = append(order, st.Conn)
		}
		byConn[st.Conn] = append(byConn[st.Conn], st)
	}
	for _, n := range order {
		page.Conns = append(page.Conns, ladderOf(n, byConn[n]))
	}
	return ladderTemplate.Execute(w, page)
}

// ladderOf lays out one connection's steps.
func ladderOf(n int, steps []tcpstate.Step) ladderConn {
	client, server := ladderSides(steps)
	c := ladderConn{N: n, Client: client.String(), Server: server.String(), LeftX: ladderLeftX, RightX: ladderRightX, Width: ladderWidth}
	start := steps[0].Time
	for i, st := range steps {
		y := ladderTop + i*ladderRowH
		row := ladderRow{Y: y, Time: "+" + fmtDur(st.Time.Sub(start))}
		if st.Segment != nil {
			x1, x2 := ladderLeftX, ladderRightX
			if unmapAP(st.Segment.Src) != client {
				x1, x2 = x2, x1
			}
			row.Arrow = &ladderArrow{X1: x1, Y1: y, X2: x2, Y2: y + ladderSlope, LX: (x1 + x2) / 2, LY: y + ladderSlope/2 - 5,
				Label: ladderLabel(st), Class: ladderClass(st.Segment.Flags)}
		} else {
			x := ladderLeftX - 10 - ladderBoxW
			if unmapAP(st.Local) != client {
				x = ladderRightX + 10
			}
			row.Box = &ladderBox{X: x, Y: y - 2, W: ladderBoxW, TX: x + ladderBoxW/2, Text: st.To.String(), Title: st.From.String() + " → " + st.To.String() + meaningSuffix(st.Meaning)}
		}
		c.Rows = append(c.Rows, row)
	}
	c.Bottom = ladderTop + len(steps)*ladderRowH + ladderSlope
	c.Height = c.Bottom + 10
	return c
}

func meaningSuffix(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// ladderSides picks the client, the end that sent the first SYN (or
// whose socket went CLOSED → SYN_SENT), and the server, the other end;
// without either, the first end seen is drawn on the left.
func ladderSides(steps []tcpstate.Step) (client, server netip.AddrPort) {
	for _, st := range steps {
		switch {
		case st.Segment != nil && st.Segment.Flags&(tcpstate.SYN|tcpstate.ACK) == tcpstate.SYN:
			return unmapAP(st.Segment.Src), unmapAP(st.Segment.Dst)
		case st.Segment == nil && st.To == tcpstate.SynSent:
			return unmapAP(st.Local), unmapAP(st.Remote)
		}
	}
	if st := steps[0]; st.Segment != nil {
		return unmapAP(st.Segment.Src), unmapAP(st.Segment.Dst)
	}
	return unmapAP(steps[0].Local), unmapAP(steps[0].Remote)
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ladderLabel is an arrow's words: "SYN seq=0", "PSH-ACK seq=1 ack=1
// len=6", as trace prints them.
func ladderLabel(st tcpstate.Step) string {
	s := st.Segment
	seq, ack := s.Seq, s.Ack
	if st.RelKnown {
		seq, ack = st.RelSeq, st.RelAck
	}
	parts := []string{s.Flags.String(), fmt.Sprintf("seq=%d", seq)}
	if s.Flags&tcpstate.ACK != 0 {
		parts = append(parts, fmt.Sprintf("ack=%d", ack))
	}
	if s.Len > 0 {
		parts = append(parts, fmt.Sprintf("len=%d", s.Len))
	}
	return strings.Join(parts, " ")
}

// ladderClass colours an arrow: the handshake, data, the teardown, a
// reset, a bare acknowledgement.
func ladderClass(f tcpstate.Flags) string {
	switch {
	case f&tcpstate.RST != 0:
		return "rst"
	case f&tcpstate.SYN != 0:
		return "syn"
	case f&tcpstate.FIN != 0:
		return "fin"
	case f&tcpstate.PSH != 0:
		return "data"
	}
	return "ack"
}

var ladderTemplate = template.Must(template.New("ladder").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sockit trace: ladder diagrams</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 16px 24px; max-width: 1200px; box-sizing: border-box; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 4px; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.meta { color: #555; overflow-wrap: anywhere; }
svg.ladder { width: 100%; height: auto; display: block; }
svg text { font: 12px ui-monospace, monospace; }
.life { stroke: #444; stroke-width: 2; }
.who { font-weight: bold; text-anchor: middle; }
.time { fill: #777; }
.box rect { fill: #eef3ff; stroke: #6a86c7; rx: 4; }
.box text { text-anchor: middle; }
.arrow line { stroke-width: 1.6; marker-end: url(#head); }
.arrow text { text-anchor: middle; }
.syn line { stroke: #2b8a3e; } .syn text { fill: #2b8a3e; }
.fin line { stroke: #c76b00; } .fin text { fill: #c76b00; }
.rst line { stroke: #c92a2a; } .rst text { fill: #c92a2a; }
.data line { stroke: #1c5fc9; } .data text { fill: #1c5fc9; }
.ack line { stroke: #666; } .ack text { fill: #555; }
.legend span { display: inline-block; margin-right: 14px; }
</style></head>
<body data-connections="{{len .Conns}}">
<h1>sockit trace: each connection as a ladder diagram</h1>
<p class="meta">{{.Command}} · written {{.Generated}}</p>
<p class="legend"><span style="color:#2b8a3e">■ SYN (handshake)</span><span style="color:#1c5fc9">■ data</span><span style="color:#c76b00">■ FIN (teardown)</span><span style="color:#c92a2a">■ RST</span><span style="color:#666">■ ACK</span><span>boxes: the state each side entered; time runs down, in order of the steps, each marked with the time since the connection's first step. seq and ack are relative to each side's initial sequence number.</span></p>
{{if .Dropped}}<p class="meta">{{.Dropped}} later steps were left out (the page keeps the first 20000).</p>{{end}}
{{if not .Conns}}<p>No connection was traced.</p>{{end}}
<svg width="0" height="0" style="position:absolute"><defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs></svg>
{{range .Conns}}
<h2>connection #{{.N}}: {{.Client}} ⇄ {{.Server}}</h2>
<svg class="ladder" id="conn-{{.N}}" viewBox="0 0 {{.Width}} {{.Height}}" data-arrows="{{len .Rows}}">
<text class="who" x="{{.LeftX}}" y="20">client {{.Client}}</text>
<text class="who" x="{{.RightX}}" y="20">server {{.Server}}</text>
<line class="life" x1="{{.LeftX}}" y1="32" x2="{{.LeftX}}" y2="{{.Bottom}}"/>
<line class="life" x1="{{.RightX}}" y1="32" x2="{{.RightX}}" y2="{{.Bottom}}"/>
{{range .Rows}}<text class="time" x="4" y="{{.Y}}" dy="12">{{.Time}}</text>
{{with .Arrow}}<g class="arrow {{.Class}}"><line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/><text x="{{.LX}}" y="{{.LY}}">{{.Label}}</text></g>
{{end}}{{with .Box}}<g class="box"><title>{{.Title}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="22"/><text x="{{.TX}}" y="{{.Y}}" dy="15">{{.Text}}</text></g>
{{end}}{{end}}</svg>
{{end}}
</body></html>
`))
