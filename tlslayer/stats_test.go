package tlslayer_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

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
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			nc, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
			if err != nil {
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(ioTimeout))
			client(nc)
		}()
		ns, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		c.Record(tls.Server(ns, serverConfig()).HandshakeContext(ctx))
		cancel()
		ns.Close()
		<-done
	}
	trusting := func(cert tls.Certificate) *tls.Config {
		cfg := clientConfig(cert)
		cfg.ServerName = "localhost"
		return cfg
	}
	var c tlslayer.Counters
	handshake(&c, ioTimeout, func(nc net.Conn) { tls.Client(nc, trusting(testCert())).Handshake() })
	handshake(&c, ioTimeout, func(nc net.Conn) { tls.Client(nc, trusting(otherCert())).Handshake() })
	handshake(&c, ioTimeout, func(nc net.Conn) { io.WriteString(nc, "GET / HTTP/1.0\r\n\r\n") })
	handshake(&c, 50*time.Millisecond, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	st := c.Stats()
	want := tlslayer.Stats{Handshakes: 1, Failed: 3, BadCertificate: 1, NotTLS: 1, Timeout: 1}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}
