package tlslayer_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tlslayer"
)

// Record classifies the handshakes of blocking tls.Conns as the layer
// classifies its own.
func TestRecord(t *testing.T) {
	t.Parallel()
	// handshake runs a blocking server handshake against what client does
	// on the other end, and records its result.
	handshake := func(c *tlslayer.Counters, limit time.Duration, client func(net.Conn)) {
		t.Helper()
		nc, ns := testkit.TCPPair(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer nc.Close()
			client(nc)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		c.Record(tls.Server(ns, testkit.ServerTLS()).HandshakeContext(ctx))
		cancel()
		ns.Close()
		<-done
	}
	trusting := func(cert tls.Certificate) *tls.Config {
		cfg := testkit.Trusting(cert)
		cfg.ServerName = "localhost"
		return cfg
	}
	var c tlslayer.Counters
	handshake(&c, testkit.Timeout, func(nc net.Conn) { tls.Client(nc, trusting(testkit.Cert())).Handshake() })
	handshake(&c, testkit.Timeout, func(nc net.Conn) { tls.Client(nc, trusting(testkit.OtherCert())).Handshake() })
	handshake(&c, testkit.Timeout, func(nc net.Conn) { io.WriteString(nc, "GET / HTTP/1.0\r\n\r\n") })
	handshake(&c, 50*time.Millisecond, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	st := c.Stats()
	want := tlslayer.Stats{Handshakes: 1, Failed: 3, BadCertificate: 1, NotTLS: 1, Timeout: 1}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}
