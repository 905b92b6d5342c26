package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/internal/resume"
	"github.com/sockit/sockit/internal/sniff"
)

// StartTLS runs a TLS handshake over the socket as a client and puts TLS
// on it: from then on Read and Write carry plaintext, CloseWrite sends
// close_notify (TLS's end of data; the socket stays open for the answer),
// and Close sends close_notify, then closes. Under TLS sits a resumable
// writer (internal/resume), so that a write deadline cannot break the TLS
// stream: a Write cut short by the deadline fails with a timeout after
// taking all its bytes, which go out with the next write.
//
// TLS goes first, right on the socket (package layer decides the order).
// ctx bounds the handshake; when it ends, crypto/tls closes the socket.
// Errors are *sockit.Error with Op "tls"; a certificate that does not
// verify says why (certs.Explain), and its x509 error is there for
// errors.As. A server that answers with something else than TLS (plain
// text, our own ClientHello sent back by an echo service) is told by what
// it sent.
func (c *Conn) StartTLS(ctx context.Context, cfg *tls.Config) error {
	if c.Conn != c.sock {
		return sockit.Wrap("tls", c.ep.Network(), c.ep.Addr, errTLSFirst)
	}
	rw := resume.New(c.sock)
	rec := sniff.NewRecorder(rw)
	tc := tls.Client(rec, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if e := sniff.NotTLS(rec.First(), err); e != nil {
			return sockit.Wrap("tls", c.ep.Network(), c.ep.Addr, e)
		}
		return sockit.Wrap("tls", c.ep.Network(), c.ep.Addr, certs.Explain(err))
	}
	c.Conn = resume.Over(tc, rw)
	if c.obs != nil {
		st := tc.ConnectionState()
		detail := fmt.Sprintf("TLS handshake done: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		if len(st.PeerCertificates) > 0 {
			detail += ", server certificate SHA-256 " + certs.Fingerprint(tls.Certificate{Certificate: [][]byte{st.PeerCertificates[0].Raw}})
		}
		c.obs.Observe(sockit.Event{Step: sockit.StepHandshake, FD: c.sock.fd, Net: c.ep.Network(), Detail: detail})
	}
	return nil
}

var errTLSFirst = errors.New("TLS goes right on the socket, under any other layer")
