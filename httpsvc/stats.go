package httpsvc

import "sync/atomic"

// Counters count the requests of one or more Services: share one
// (Options.Counters) to get a total. The zero value is ready to use; it
// is safe for concurrent use.
type Counters struct {
	conns, requests, malformed, timeouts, upgrades atomic.Uint64
	bodyBytes                                      atomic.Uint64
	byClass                                        [6]atomic.Uint64 // by status / 100
}

func (c *Counters) status(code int) {
	if k := code / 100; k >= 1 && k <= 5 {
		c.byClass[k].Add(1)
	}
}

// Stats are a snapshot of Counters.
type Stats struct {
	Conns     uint64 // connections served
	Requests  uint64 // request heads read whole and valid
	Malformed uint64 // requests refused for their framing or syntax (400, 431, 501, 505, …)
	Timeouts  uint64 // heads not whole within HeaderTimeout (408), bodies stalled for IdleTimeout
	Upgrades  uint64 // connections handed to the WebSocket handler
	BodyBytes uint64 // request body bytes read (framing not counted)
	// Responses counts the responses by class: [2] for 2xx, [4] for 4xx.
	Responses [6]uint64
}

// Stats returns a snapshot of the counters.
func (c *Counters) Stats() Stats {
	s := Stats{Conns: c.conns.Load(), Requests: c.requests.Load(), Malformed: c.malformed.Load(),
		Timeouts: c.timeouts.Load(), Upgrades: c.upgrades.Load(), BodyBytes: c.bodyBytes.Load()}
	for i := range c.byClass {
		s.Responses[i] = c.byClass[i].Load()
	}
	return s
}
