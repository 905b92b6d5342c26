package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/certs"
)

// StartTLS runs a TLS handshake over c as a client and makes c speak TLS
// from then on: its Read and Write carry plaintext, and CloseWrite sends
// close_notify, TLS's end of data. Errors are *sockit.Error with Op "tls".
func (c *Conn) StartTLS(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(c.Conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return sockit.Wrap("tls", c.ep.Network(), c.ep.Addr, explainTLS(err))
	}
	c.Conn = tc
	if c.obs != nil {
		st := tc.ConnectionState()
		detail := fmt.Sprintf("TLS handshake done: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		if len(st.PeerCertificates) > 0 {
			detail += ", server certificate SHA-256 " + certs.Fingerprint(tls.Certificate{Certificate: [][]byte{st.PeerCertificates[0].Raw}})
		}
		c.obs.Observe(sockit.Event{Step: sockit.StepHandshake, FD: c.fd, Net: c.ep.Network(), Detail: detail})
	}
	return nil
}

// explainTLS adds what to do about the usual certificate failures.
func explainTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the server's certificate is not signed by a known CA; pass --ca FILE, or --insecure for a test server)", err)
	case errors.As(err, &host):
		return fmt.Errorf("%w (the certificate is for another name)", err)
	case errors.As(err, &inv):
		return fmt.Errorf("%w (the certificate is not valid now, or not for this use)", err)
	}
	return err
}
