// Package certs holds the certificate chores of a TLS endpoint: a
// self-signed certificate for tests and local use, its fingerprint, a key
// pair read from PEM files, a client configuration that trusts a CA file,
// and words that say what a failed verification means.
//
// It imports only the standard library, so that the blocking client and
// the CLI can use it without linking the engine.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SelfSigned makes a certificate for tests and local use: a fresh ECDSA
// P-256 key, valid from an hour ago for 24 hours, for server and client
// authentication, with subject alternative names for 127.0.0.1, ::1,
// localhost and each of hosts (an IP address or a DNS name). A client
// trusts it by putting it in its RootCAs, or by checking its Fingerprint.
func SelfSigned(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"sockit"}, CommonName: "sockit self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Fingerprint is the SHA-256 digest of cert's leaf certificate (DER) in
// the form openssl x509 -fingerprint -sha256 prints: upper-case hex bytes
// joined by colons. It is "" for a certificate without one.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{x})))
	}
	return b.String()
}

// LoadKeyPair reads a PEM certificate chain and its PEM private key, as
// tls.LoadX509KeyPair does, with the file names in the error.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: load key pair (certificate %s, key %s): %w", certFile, keyFile, err)
	}
	return cert, nil
}

// ClientConfig returns a client configuration. insecure skips verifying
// the server's certificate (for tests against a self-signed server only: it
// gives up protection from an active attacker). caFile, if not "", names a
// PEM file of the certificates to trust instead of the system's roots.
// serverName, if not "", is the name to verify the server's certificate
// against and to send as SNI; "" leaves it to whoever dials, which uses
// the host it dials.
func ClientConfig(insecure bool, caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecure,
		ServerName:         serverName,
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("certs: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("certs: CA file %s: %w", caFile, ErrNoCertificates)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// ErrNoCertificates is ClientConfig's error for a CA file that holds no
// PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificate in it")

// WriteTemp writes cert's chain as PEM to a file named cert.pem in a fresh
// directory, made by os.MkdirTemp("", pattern), and returns its path: the
// file to give clients to trust a self-signed certificate. The caller
// removes the directory, filepath.Dir(path), when done.
func WriteTemp(cert tls.Certificate, pattern string) (path string, err error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("certs: %w", err)
	}
	path = filepath.Join(dir, "cert.pem")
	var out []byte
	for _, der := range cert.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("certs: %w", err)
	}
	return path, nil
}

// Explain adds what a failed certificate verification means to err, in
// words for a person: a certificate from an unknown authority, for another
// name, or not valid now. Other errors come back unchanged. The x509 error
// stays reachable with errors.As, for a caller that has advice of its own
// to add.
func Explain(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the certificate is not signed by a known CA)", err)
	case errors.As(err, &host):
		return fmt.Errorf("%w (the certificate is for another name)", err)
	case errors.As(err, &inv):
		return fmt.Errorf("%w (the certificate is not valid now, or not for this use)", err)
	}
	return err
}
