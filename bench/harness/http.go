//go:build linux

package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/sockit/sockit/http1"
)

// httpRequest is the request every message of an HTTP run sends.
func httpRequest(s *LoadSpec) []byte {
	return []byte("GET " + s.HTTP + " HTTP/1.1\r\nHost: " + s.Addr + "\r\n\r\n")
}

// httpConn follows the responses on one connection of an HTTP run.
type httpConn struct {
	carry   []byte // a head or chunk line not whole yet
	resp    http1.Response
	inBody  bool
	chunked bool
	chunk   http1.Chunked
	left    int64 // Content-Length: body bytes still to come
	off     int   // body bytes read so far
}

// consumeHTTP reads responses: each one that is whole completes a
// message, counted mismatched unless it is a 200 whose body is HTTPBody.
func (g *loadgen) consumeHTTP(c *lconn, p []byte) {
	h := c.http
	if h == nil {
		h = &httpConn{}
		c.http = h
	}
	if len(h.carry) > 0 {
		h.carry = append(h.carry, p...)
		p = h.carry
	}
	now := int64(-1)
	for len(p) > 0 {
		if c.done >= c.sent {
			g.res.Extra += uint64(len(p))
			p = nil
			break
		}
		n, whole, err := g.httpStep(c, h, p)
		if err != nil {
			g.connFailed(c, err)
			return
		}
		if n == 0 {
			break
		}
		p = p[n:]
		if whole {
			if now < 0 {
				now = g.now()
			}
			g.complete(c, now)
		}
	}
	if len(p) > 64<<10 {
		g.connFailed(c, errors.New("http: a response head or chunk line longer than 64 KiB"))
		return
	}
	h.carry = append(h.carry[:0], p...)
	if now >= 0 {
		g.send(c, now)
	}
}

// httpStep reads the next head or piece of body from p: how much it
// consumed (0: it needs more bytes), and whether a response is whole.
func (g *loadgen) httpStep(c *lconn, h *httpConn, p []byte) (n int, whole bool, err error) {
	want := g.spec.HTTPBody
	if !h.inBody {
		n, err := http1.ParseResponse(&h.resp, p, http1.Limits{MaxHead: 64 << 10})
		if err != nil || n == 0 {
			return n, false, err
		}
		h.off = 0
		if h.resp.Status != 200 {
			c.bad = true
		}
		switch bl := h.resp.BodyLength(false); {
		case bl == -2:
			return 0, false, errors.New("http: a response without Content-Length or chunked")
		case bl == -1:
			h.inBody, h.chunked = true, true
			h.chunk.Reset()
		case bl > 0:
			h.inBody, h.chunked, h.left = true, false, bl
		}
		if !h.inBody && want != "" {
			c.bad = true // an empty body
		}
		return n, !h.inBody, nil
	}
	var data []byte
	if h.chunked {
		if n, data, err = h.chunk.Next(p); err != nil || n == 0 {
			return n, false, err
		}
		h.inBody = !h.chunk.Done()
	} else {
		k := int(min(int64(len(p)), h.left))
		n, data = k, p[:k]
		h.left -= int64(k)
		h.inBody = h.left > 0
	}
	if want != "" && (h.off+len(data) > len(want) || string(want[h.off:h.off+len(data)]) != string(data)) {
		c.bad = true
	}
	h.off += len(data)
	if !h.inBody && want != "" && h.off != len(want) {
		c.bad = true
	}
	return n, !h.inBody, nil
}

// httpCases are the HTTP cases: GET /plaintext ("Hello, World!") on
// keep-alive connections, one request in flight each, at a fixed rate and
// closed loop, with 100 and 1000 connections.
func httpCases() []caseDef {
	const title = "GET /plaintext (13-byte body), keep-alive, 1 in flight per conn"
	return []caseDef{
		{id: "h1", title: title + ", 100 conns, 20 000 req/s offered", conns: 100, window: 1, rate: 20000, loaders: 1, http: true},
		{id: "h2", title: title + ", 1000 conns, 20 000 req/s offered", conns: 1000, window: 1, rate: 20000, loaders: 1, http: true},
		{id: "h3", title: title + ", 100 conns, closed loop", conns: 100, window: 1, closed: true, loaders: 1, http: true},
		{id: "h4", title: title + ", 1000 conns, closed loop", conns: 1000, window: 1, closed: true, loaders: 1, http: true},
	}
}

// httpTable renders the HTTP cases: CPU per request against net/http's
// and the event-loop peer's.
func (rp *report) httpTable(w func(string, ...any), cases []caseDef) {
	w("## HTTP: GET /plaintext, keep-alive\n\n")
	for _, c := range cases {
		w("- **(%s)** %s\n", c.id, c.title)
	}
	w("\nServers: ")
	for i, s := range rp.httpOrder {
		if i > 0 {
			w("; ")
		}
		w("**%s** = %s", s, rp.note(s))
	}
	w(". Every response is parsed and checked (status 200, framing, the body \"Hello, World!\"). CPU µs/req is the server's utime+stime over the window divided by the responses completed in it.\n\n")
	w("| case | server | CPU µs/req | × nethttp | × gnet-http | req/s | p50 µs | p99 µs | RSS MiB | loader busy %% | CPU 0 other %% | checks |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cases {
		cN := rp.median(c.id, "nethttp", cpuOf)
		cG := rp.median(c.id, "gnet-http", cpuOf)
		for _, s := range rp.httpOrder {
			cpu := rp.median(c.id, s, cpuOf)
			lo, hi := rp.spread(c.id, s, cpuOf)
			rng := ""
			if rp.rounds > 1 && !math.IsInf(lo, 0) {
				rng = fmt.Sprintf(" [%s–%s]", num(lo, 2), num(hi, 2))
			}
			w("| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.id, s,
				num(cpu, 2), rng, ratio(cpu, cN), ratio(cpu, cG),
				num(rp.median(c.id, s, rateOf), 0),
				num(rp.median(c.id, s, p50Of), 0), num(rp.median(c.id, s, p99Of), 0),
				num(rp.median(c.id, s, rssOf), 1), num(rp.median(c.id, s, ldOf), 0),
				num(rp.median(c.id, s, c0Of), 1), rp.checks(c.id, s))
		}
	}
	w("\nTargets (issue 18): sockit's CPU per request ≤ 0.7× net/http's, and at or below gnet's (medians).\n\n")
	w("| case | http ÷ nethttp (≤ 0.70) | met | http ÷ gnet-http (≤ 1.00) | met |\n|---|---|---|---|---|\n")
	met := func(r, limit float64) string {
		switch {
		case math.IsNaN(r):
			return "–"
		case r <= limit:
			return "yes"
		}
		return "**no**"
	}
	for _, c := range cases {
		h := rp.median(c.id, "http", cpuOf)
		rn, rg := h/rp.median(c.id, "nethttp", cpuOf), h/rp.median(c.id, "gnet-http", cpuOf)
		w("| %s | %s | %s | %s | %s |\n", c.id, num(rn, 2), met(rn, 0.7), num(rg, 2), met(rg, 1.0))
	}
	w("\n")
}

// note is what a server is, for the report.
func (rp *report) note(name string) string {
	for _, d := range rp.servers {
		if d.name == name {
			return d.about
		}
	}
	return name
}
