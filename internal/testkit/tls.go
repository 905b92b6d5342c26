package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"sync"

	"github.com/sockit/sockit/certs"
)

var (
	cert      = sync.OnceValue(func() tls.Certificate { return mustSelfSigned() })
	otherCert = sync.OnceValue(func() tls.Certificate { return mustSelfSigned() })
)

func mustSelfSigned() tls.Certificate {
	c, err := certs.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	return c
}

// Cert is the self-signed certificate (for localhost and the loopback
// addresses) that the tests' TLS servers present; it is made once per test
// binary.
func Cert() tls.Certificate { return cert() }

// OtherCert is another self-signed certificate, one that ClientTLS does
// not trust.
func OtherCert() tls.Certificate { return otherCert() }

// ServerTLS is a server's TLS configuration presenting Cert.
func ServerTLS() *tls.Config { return &tls.Config{Certificates: []tls.Certificate{Cert()}} }

// ClientTLS is a client's TLS configuration that trusts Cert only.
func ClientTLS() *tls.Config { return Trusting(Cert()) }

// Trusting is a client's TLS configuration that trusts c only.
func Trusting(c tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	return &tls.Config{RootCAs: pool}
}
