package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"runtime"
	"strings"
	"time"
)

// WriteText writes the human report.
func (res *Result) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	load := "closed loop"
	if res.Rate > 0 {
		load = fmt.Sprintf("open loop at %s msgs/s", count(uint64(res.Rate)))
	}
	verify := "verify off"
	if res.Verify {
		verify = "verify on"
	}
	unit := "messages"
	if res.Mode == ModeHTTP {
		unit = "requests (GET, keep-alive)"
	}
	p("sockit bench %s — %s, %s, %d-byte %s, depth %d, %s, %s\n",
		res.Endpoint, res.Mode, counted(uint64(res.Conns), "connection"), res.Size, unit, res.Depth, load, verify)
	if res.Procs > 1 {
		p("  (%d worker processes)\n", res.Procs)
	}
	p("connections   %d opened of %d (most at once %d); connect p50 %s  p99 %s  max %s\n",
		res.ConnsUp, res.Conns, res.MaxConnsUp, dur(res.ConnectTime.P50), dur(res.ConnectTime.P99), dur(res.ConnectTime.Max))
	p("window        %.2fs measured\n", time.Duration(res.Window).Seconds())
	switch res.Mode {
	case ModeEcho, ModeHTTP:
		p("throughput    %s msgs/s   %s/s each way\n", count(uint64(res.MsgsPerSec)), bytesText(res.BytesPerSec))
		l := res.Latency
		if l.Count == 0 {
			p("latency       none measured: no message due in the window came back\n")
			break
		}
		p("latency       p50 %s  p90 %s  p99 %s  p99.9 %s  max %s   (%s, timed from when each was due)\n",
			dur(l.P50), dur(l.P90), dur(l.P99), dur(l.P999), dur(l.Max), counted(uint64(l.Count), "message"))
	case ModeSink:
		p("throughput    %s msgs/s   %s/s sent\n", count(uint64(res.MsgsPerSec)), bytesText(res.BytesPerSec))
	case ModeSource:
		p("throughput    %s/s received (%s %d-byte messages/s)\n", bytesText(res.BytesPerSec), count(uint64(res.MsgsPerSec)), res.Size)
	}
	if res.Unsent > 0 {
		p("unsent        %s due but never sent: the pipeline (the depth in flight) stayed full\n", counted(res.Unsent, "message"))
	}
	p("totals        sent %s, %s; received %s\n", counted(res.TotalSentMsgs, "message"), counted(res.TotalSentBytes, "byte"), counted(res.TotalRecvBytes, "byte"))
	c := res.Check
	if res.Verify && res.Mode == ModeHTTP {
		p("verification  %s checked (status, framing, body): %s bad, %s unanswered in %s\n",
			counted(res.TotalDoneMsgs, "response"), count(c.MismatchedMsgs), count(c.ShortMsgs), counted(c.ShortConns, "connection"))
	} else if res.Verify {
		p("verification  %s checked: %s, %s in %s, %s",
			counted(c.CheckedBytes, "byte"), counted(c.MismatchedMsgs, "mismatched message"), counted(c.MissingBytes, "missing byte"),
			counted(c.ShortConns, "connection"), counted(c.ExtraBytes, "extra byte"))
		if c.LostDatagrams > 0 {
			p(", %s lost", counted(c.LostDatagrams, "datagram"))
		}
		p("\n")
		if m := c.FirstMismatch; m != nil {
			p("              first mismatch: connection %d, byte %d of its stream: sent 0x%02x, got 0x%02x\n", m.Conn, m.Offset, m.Want, m.Got)
		}
		if m := c.FirstShort; m != nil {
			p("              first missing: connection %d, from byte %d of its stream\n", m.Conn, m.Offset)
		}
		if m := c.FirstExtra; m != nil {
			p("              first extra: connection %d, byte %d of its stream (0x%02x)\n", m.Conn, m.Offset, m.Got)
		}
	} else if res.Mode == ModeEcho || res.Mode == ModeHTTP {
		p("verification  off\n")
	}
	if len(res.Errors) == 0 {
		p("errors        none\n")
	} else {
		p("errors\n")
		for _, e := range res.Errors {
			p("  %8s  %s   e.g. %s\n", count(e.Count), e.Kind, e.Example)
		}
	}
	usage := func(name string, u Usage) {
		p("%-13s CPU %.2fs (%.2f cores), %s per message; RSS %s, %s per connection\n", name,
			time.Duration(u.CPU).Seconds(), u.Cores, dur(u.CPUPerMsg), bytesText(float64(u.RSS)), bytesText(u.RSSPerConn))
	}
	usage("bench", res.Bench)
	if res.FDLimit > 0 {
		p("descriptors   limit %s per process (the soft limit raised to the hard one)\n", count(res.FDLimit))
	}
	if res.MachineBusy > 0 {
		p("machine       all %d CPUs %.0f%% busy over the window\n", runtime.NumCPU(), 100*res.MachineBusy)
	}
	if res.Server != nil {
		usage("server", *res.Server)
	}
	for _, w := range res.Warnings {
		p("warning: %s\n", w)
	}
}

// WriteJSON writes the result as one JSON object.
func (res *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// dur prints a duration with three significant digits.
func dur(d Duration) string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0"
	case t < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(t)/1e3)
	case t < time.Second:
		return fmt.Sprintf("%.3gms", float64(t)/1e6)
	}
	return fmt.Sprintf("%.3gs", t.Seconds())
}

// counted is n of noun, with count's groups: "1 connection", "14 079 808
// bytes".
func counted(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return count(n) + " " + noun + "s"
}

// count prints n with thin groups of three digits.
func count(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func bytesText(n float64) string {
	if n < 0 {
		return "-" + bytesText(-n)
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// WriteHTML writes a self-contained page: the metadata, the summary, the
// latency distribution, throughput, latency and connections over time,
// drawn as SVG by a script from the result embedded in the page. Nothing is
// fetched from elsewhere. It fits pages 1024 to 1600 px wide.
func (res *Result) WriteHTML(w io.Writer) error {
	data, err := json.Marshal(res) // escapes <, > and &, so it cannot end the script element
	if err != nil {
		return err
	}
	var text strings.Builder
	res.WriteText(&text)
	m := res.Meta
	rows := [][2]string{
		{"command", m.Command}, {"started", m.StartTime.Format(time.RFC3339)}, {"host", m.Host},
		{"system", strings.TrimSpace(res.Sockit.OS + "/" + res.Sockit.Arch + " " + m.Kernel)}, {"CPUs", fmt.Sprint(m.CPUs)},
	}
	var meta strings.Builder
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(&meta, "<tr><th>%s</th><td>%s</td></tr>", html.EscapeString(r[0]), html.EscapeString(r[1]))
		}
	}
	page := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString("sockit bench "+res.Endpoint),
		"{{META}}", meta.String(),
		"{{SUMMARY}}", html.EscapeString(text.String()),
		"{{VERSION}}", html.EscapeString(res.Sockit.String()),
		"{{DATA}}", string(data),
	).Replace(htmlPage)
	_, err = io.WriteString(w, page)
	return err
}

const htmlPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1em 1.5em; max-width: 1100px; box-sizing: border-box; color: #222; }
h1 { font-size: 22px; overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: 1em; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
table.meta { border-collapse: collapse; font-size: 13px; }
table.meta th { text-align: left; padding: 2px 1em 2px 0; color: #555; font-weight: 600; vertical-align: top; }
table.meta td { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
figure { margin: 2em 0; }
figcaption { font-weight: 600; margin-bottom: .5em; }
svg.chart { width: 100%; height: auto; display: block; background: #fff; border: 1px solid #ddd; box-sizing: border-box; }
.axis { stroke: #999; } .grid { stroke: #eee; } .label { font-size: 11px; fill: #555; }
.line { fill: none; stroke: #1f6feb; stroke-width: 2; }
.p50 { fill: none; stroke: #2da44e; stroke-width: 2; } .p99 { fill: none; stroke: #bf8700; stroke-width: 2; } .max { fill: none; stroke: #cf222e; stroke-width: 1.5; stroke-dasharray: 4 3; }
.conns { fill: none; stroke: #1f6feb; stroke-width: 2; } .errbar { fill: #cf222e; }
.bar.warmup { fill: #bbb; } .bar.drain { fill: #d0d7de; } .bar.measure { fill: #2da44e; }
.bar.partial { fill-opacity: .45; stroke: #555; stroke-dasharray: 3 2; }
.key span { display: inline-block; margin-right: 1.2em; font-weight: normal; }
</style>
</head>
<body>
<h1>{{TITLE}}</h1>
<p id="version">{{VERSION}}</p>
<table class="meta">{{META}}</table>
<pre id="summary">{{SUMMARY}}</pre>
<figure><figcaption>Latency by percentile (timed from when each message was due)</figcaption>
<svg class="chart" id="latency-chart" viewBox="0 0 1000 320" role="img" aria-label="latency by percentile"></svg></figure>
<figure><figcaption>Messages completed per second <span class="key"><span style="color:#2da44e">■ measured window</span><span style="color:#999">■ warm-up</span><span style="color:#b0b7be">■ drain</span><span>▭ dashed: the last, partial second, drawn as its rate</span></span></figcaption>
<svg class="chart" id="throughput-chart" viewBox="0 0 1000 280" role="img" aria-label="messages per second"></svg></figure>
<figure><figcaption>Latency over time, per interval (logarithmic) <span class="key"><span style="color:#2da44e">— p50</span><span style="color:#bf8700">— p99</span><span style="color:#cf222e">- - max</span></span></figcaption>
<svg class="chart" id="latency-time-chart" viewBox="0 0 1000 280" role="img" aria-label="latency over time"></svg></figure>
<figure><figcaption>Connections and errors over time, per interval <span class="key"><span style="color:#1f6feb">— connections up</span><span style="color:#cf222e">■ errors in the interval</span></span></figcaption>
<svg class="chart" id="conns-chart" viewBox="0 0 1000 240" role="img" aria-label="connections and errors over time"></svg></figure>
<script type="application/json" id="result">{{DATA}}</script>
<script>
"use strict";
const result = JSON.parse(document.getElementById("result").textContent);
const NS = "http://www.w3.org/2000/svg";
function el(parent, name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}
// Durations in the result are microseconds.
function fmtDur(us) {
  if (us >= 1e6) return (us / 1e6).toPrecision(3) + "s";
  if (us >= 1e3) return (us / 1e3).toPrecision(3) + "ms";
  return us.toFixed(0) + "µs";
}
function frame(svg, left, bottom) {
  const vb = svg.viewBox.baseVal;
  return {W: vb.width, H: vb.height, x0: left, y0: vb.height - bottom, x1: vb.width - 30, y1: 20};
}
function noData(svg, why) {
  el(svg, "text", {x: 20, y: 40, class: "label"}, why);
}
function yGrid(svg, f, ymax, fmt) {
  const Y = v => f.y0 - (f.y0 - f.y1) * v / ymax;
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4;
    el(svg, "line", {x1: f.x0, x2: f.x1, y1: Y(v), y2: Y(v), class: "grid"});
    el(svg, "text", {x: 4, y: Y(v) + 4, class: "label"}, fmt(v));
  }
  el(svg, "line", {x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0, class: "axis"});
  el(svg, "line", {x1: f.x0, x2: f.x0, y1: f.y0, y2: f.y1, class: "axis"});
  return Y;
}
// Latency: x is the percentile on the scale 1/(1-p), so that the tail
// (99, 99.9, 99.99) gets as much room as the body.
function drawLatency(svg, curve) {
  if (!curve || curve.length === 0) return noData(svg, result.mode === "echo" ?
    "no latencies: no message due in the measured window came back" : "no latencies in " + result.mode + " mode");
  const f = frame(svg, 70, 40);
  const pts = curve.filter(q => q.percentile < 100);
  const xs = q => Math.log10(1 / (1 - q.percentile / 100));
  const xmax = Math.max(...pts.map(xs), 1);
  const ymax = Math.max(...curve.map(q => q.value_us)) * 1.05 || 1;
  const X = v => f.x0 + (f.x1 - f.x0) * v / xmax;
  const Y = yGrid(svg, f, ymax, fmtDur);
  for (const p of [0, 90, 99, 99.9, 99.99, 99.999]) {
    const v = Math.log10(1 / (1 - p / 100));
    if (v > xmax) break;
    el(svg, "line", {x1: X(v), x2: X(v), y1: f.y0, y2: f.y1, class: "grid"});
    el(svg, "text", {x: X(v) - 10, y: f.y0 + 16, class: "label"}, p + "%");
  }
  const d = pts.map((q, i) => (i ? "L" : "M") + X(xs(q)).toFixed(1) + "," + Y(q.value_us).toFixed(1)).join(" ");
  el(svg, "path", {d, class: "line", "data-points": pts.length});
}
// Throughput: a bar per second, coloured by phase; the last second, if the
// run ended within it, is drawn at its rate, dashed, and says so.
function drawThroughput(svg, series) {
  if (!series || series.length === 0) return noData(svg, "no messages completed");
  const f = frame(svg, 70, 30);
  const rate = s => s.partial && s.covered_us > 0 ? s.msgs / (s.covered_us / 1e6) : s.msgs;
  const ymax = Math.max(...series.map(rate)) * 1.05 || 1;
  const bw = (f.x1 - f.x0) / series.length;
  const Y = yGrid(svg, f, ymax, v => Math.round(v).toLocaleString("en"));
  series.forEach((s, i) => {
    const r = el(svg, "rect", {x: f.x0 + i * bw + 1, y: Y(rate(s)), width: Math.max(bw - 2, 1), height: f.y0 - Y(rate(s)),
      class: "bar " + s.phase + (s.partial ? " partial" : ""), "data-phase": s.phase});
    const what = s.partial ? " (partial: the last " + fmtDur(s.covered_us) + ", " + s.msgs + " messages, drawn as a rate)" : "";
    el(r, "title", {}, "second " + s.t_s + ": " + Math.round(rate(s)) + " messages/s (" + s.phase + ")" + what);
    if (s.partial) el(svg, "text", {x: f.x0 + i * bw + bw / 2, y: Y(rate(s)) - 4, class: "label", "text-anchor": "middle"}, "partial");
  });
  for (let i = 0; i < series.length; i += Math.max(1, Math.ceil(series.length / 12)))
    el(svg, "text", {x: f.x0 + i * bw, y: f.y0 + 16, class: "label"}, i + "s");
}
function timeAxis(svg, f, tmax) {
  const X = t => f.x0 + (f.x1 - f.x0) * t / tmax;
  const step = Math.max(1, Math.ceil(tmax / 12));
  for (let t = 0; t <= tmax; t += step) el(svg, "text", {x: X(t) - 4, y: f.y0 + 16, class: "label"}, t + "s");
  return X;
}
function polyline(svg, pts, cls) {
  const d = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
  return el(svg, "path", {d, class: cls, "data-points": pts.length});
}
function drawLatencyTime(svg, ivs) {
  const with_ = (ivs || []).filter(iv => iv.max_us > 0);
  if (with_.length === 0) return noData(svg, "no latencies per interval" + (result.intervals ? "" : " (a run over several processes keeps none)"));
  const f = frame(svg, 70, 30);
  const tmax = Math.max(...ivs.map(iv => iv.end_us / 1e6), 1);
  // A logarithmic scale: p50, p99 and a stall's max, orders of magnitude
  // apart, all stay readable.
  const lo = Math.floor(Math.log10(Math.max(Math.min(...with_.map(iv => iv.p50_us || iv.max_us)), 1)));
  const hi = Math.max(Math.ceil(Math.log10(Math.max(...with_.map(iv => iv.max_us)))), lo + 1);
  const X = timeAxis(svg, f, tmax);
  const Y = v => f.y0 - (f.y0 - f.y1) * (Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / (hi - lo);
  for (let e = lo; e <= hi; e++) {
    el(svg, "line", {x1: f.x0, x2: f.x1, y1: Y(Math.pow(10, e)), y2: Y(Math.pow(10, e)), class: "grid"});
    el(svg, "text", {x: 4, y: Y(Math.pow(10, e)) + 4, class: "label"}, fmtDur(Math.pow(10, e)));
  }
  el(svg, "line", {x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0, class: "axis"});
  el(svg, "line", {x1: f.x0, x2: f.x0, y1: f.y0, y2: f.y1, class: "axis"});
  for (const k of ["p50", "p99", "max"])
    polyline(svg, with_.map(iv => [X(iv.end_us / 1e6), Y(iv[k + "_us"])]), k);
}
function drawConns(svg, ivs) {
  if (!ivs || ivs.length === 0) return noData(svg, "no intervals" + (result.intervals ? "" : " (a run over several processes keeps none)"));
  const f = frame(svg, 70, 30);
  const tmax = Math.max(...ivs.map(iv => iv.end_us / 1e6), 1);
  const ymax = Math.max(...ivs.map(iv => Math.max(iv.conns_up, iv.errors)), 1) * 1.05;
  const X = timeAxis(svg, f, tmax), Y = yGrid(svg, f, ymax, v => Math.round(v).toLocaleString("en"));
  for (const iv of ivs) if (iv.errors > 0) {
    const x0 = X(iv.start_us / 1e6), x1 = X(iv.end_us / 1e6);
    el(el(svg, "rect", {x: x0, y: Y(iv.errors), width: Math.max(x1 - x0 - 1, 1), height: f.y0 - Y(iv.errors), class: "errbar"}), "title", {}, iv.errors + " errors");
  }
  polyline(svg, ivs.map(iv => [X(iv.end_us / 1e6), Y(iv.conns_up)]), "conns");
}
drawLatency(document.getElementById("latency-chart"), result.latency_curve);
drawThroughput(document.getElementById("throughput-chart"), result.series);
drawLatencyTime(document.getElementById("latency-time-chart"), result.intervals);
drawConns(document.getElementById("conns-chart"), result.intervals);
document.body.setAttribute("data-drawn", "yes");
</script>
</body>
</html>
`
