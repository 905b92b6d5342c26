package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
)

// scrape GETs the metrics at addr and returns each sample's value by its
// name and labels as the text format writes them:
// `sockit_bytes_total{direction="in"}`.
func scrape(t *testing.T, addr net.Addr) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: testkit.Timeout}
	resp, err := c.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		got[line[:i]] = v
	}
	return got
}

// checkMetrics compares the samples of want with got.
func checkMetrics(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestServeMetrics: after a known run — three TCP echoes of 5 bytes,
// each closed cleanly, and two UDP datagrams of 4 — the scrape reports
// exactly those counts.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	ready := make(chan net.Addr, 1)
	s := startServe(t, &ServeOptions{
		Endpoints: []string{"tcp://127.0.0.1:0", "udp://127.0.0.1:0"}, Metrics: "127.0.0.1:0",
		metricsReady: func(a net.Addr) { ready <- a },
	})
	m := <-ready // startServe returned: the endpoint is up
	testkit.MustContain(t, "banner", s.out.String(), "metrics on http://"+m.String()+"/metrics")
	for range 3 {
		if got := send(t, s.endpoint(0), "abcd"); got != "abcd\n" {
			t.Fatalf("send = %q", got)
		}
	}
	for range 2 {
		if got := send(t, s.endpoint(1), "xyz"); got != "xyz\n" {
			t.Fatalf("send udp = %q", got)
		}
	}
	var got map[string]float64
	testkit.Eventually(t, "3 connections closed cleanly in the metrics", func() bool {
		got = scrape(t, m)
		return got[`sockit_connections_closed_total{reason="clean"}`] == 3
	})
	checkMetrics(t, got, map[string]float64{
		"sockit_connections_accepted_total":                     3,
		"sockit_connections_open":                               0,
		`sockit_connections_closed_total{reason="clean"}`:       3,
		`sockit_connections_closed_total{reason="reset"}`:       0,
		`sockit_bytes_total{direction="in"}`:                    3*5 + 2*4,
		`sockit_bytes_total{direction="out"}`:                   3*5 + 2*4,
		`sockit_datagrams_total{direction="in"}`:                2,
		`sockit_datagrams_total{direction="out"}`:               2,
		`sockit_socket_steps_total{step="accept"}`:              3,
		`sockit_socket_steps_total{step="shutdown"}`:            3,
		`sockit_socket_steps_total{step="recvfrom"}`:            2,
		`sockit_socket_steps_total{step="sendto"}`:              2,
		"sockit_pending_bytes":                                  0,
		"sockit_tls_handshakes_total":                           0,
		`sockit_tls_handshake_failures_total{reason="not_tls"}`: 0,
	})
}

// TestMetricsSlowScraper: a client that connects to the metrics endpoint
// and sends nothing is closed after the header timeout, not held.
func TestMetricsSlowScraper(t *testing.T) {
	t.Parallel()
	ready := make(chan net.Addr, 1)
	startServe(t, &ServeOptions{
		Endpoints: []string{"tcp://127.0.0.1:0"}, Metrics: "127.0.0.1:0",
		metricsReady: func(a net.Addr) { ready <- a }, metricsHeaderTimeout: 100 * time.Millisecond,
	})
	c := testkit.Dial(t, "tcp", (<-ready).String())
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read from the metrics endpoint, having sent nothing = %v, want EOF: the endpoint closes it", err)
	}
	t.Logf("closed after %s", time.Since(start))
}

// TestMetricsBadAddr: --metrics without a port is a usage error.
func TestMetricsBadAddr(t *testing.T) {
	t.Parallel()
	opts := &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}, Service: "echo", Metrics: "9100"}
	opts.IO = IOStreams{In: strings.NewReader(""), Out: new(testkit.Buffer), ErrOut: new(testkit.Buffer)}
	err := runServe(context.Background(), opts)
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--metrics 9100: want host:port") {
		t.Fatalf("runServe --metrics 9100 = %v (exit %d), want a usage error", err, ExitCode(err))
	}
}

// TestRelayMetrics: a relay that forwarded one connection of 5 bytes each
// way and failed one to a refused target reports both.
func TestRelayMetrics(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		target func(t *testing.T) string
		want   map[string]float64
	}{
		{name: "forwarded", target: func(t *testing.T) string {
			return startServe(t, &ServeOptions{Endpoints: []string{"tcp://127.0.0.1:0"}}).endpoint(0)
		}, want: map[string]float64{
			"sockit_connections_accepted_total":               1,
			`sockit_connections_closed_total{reason="clean"}`: 1,
			`sockit_bytes_total{direction="in"}`:              5,
			`sockit_bytes_total{direction="out"}`:             5,
			"sockit_target_connect_failures_total":            0,
		}},
		{name: "refused", target: refused, want: map[string]float64{
			"sockit_target_connect_failures_total": 1,
			`sockit_bytes_total{direction="in"}`:   0,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut := new(testkit.Buffer), new(testkit.Buffer)
			ready, mready := make(chan net.Addr, 1), make(chan net.Addr, 1)
			opts := &RelayOptions{
				IO:   IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
				From: "tcp://127.0.0.1:0", To: tt.target(t), ConnectTimeout: testkit.Timeout, Grace: testkit.Timeout,
				Metrics: "127.0.0.1:0", metricsReady: func(a net.Addr) { mready <- a }, Ready: func(a net.Addr) { ready <- a },
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- runRelay(ctx, opts) }()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(testkit.Timeout):
					t.Errorf("relay did not stop %s after cancel", testkit.Timeout)
				}
			}()
			var at net.Addr
			select {
			case at = <-ready:
			case err := <-done:
				t.Fatalf("runRelay: %v\n%s", err, errOut)
			case <-time.After(testkit.Timeout):
				t.Fatalf("relay not listening after %s", testkit.Timeout)
			}
			m := <-mready // sent before Ready
			// A refused target resets the client, at times before its
			// connect(2) returns: then the dial itself fails, and that is
			// the run too.
			if c, err := net.DialTimeout("tcp", at.String(), testkit.Timeout); err == nil {
				c.SetDeadline(time.Now().Add(testkit.Timeout))
				c.Write([]byte("ping\n"))
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c) // to the end: EOF, or a reset when the target refused
				c.Close()
			}
			var got map[string]float64
			testkit.Eventually(t, "the relay to count the connection", func() bool {
				got = scrape(t, m)
				for k, v := range tt.want {
					if g, ok := got[k]; !ok || g != v {
						return false
					}
				}
				return true
			})
			checkMetrics(t, got, tt.want)
		})
	}
}
