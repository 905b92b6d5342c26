package certs_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/certs"
)

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	cert, err := certs.SelfSigned([]string{"example.test", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !leaf.NotBefore.Before(now.Add(-59*time.Minute)) || leaf.NotAfter.Before(now.Add(23*time.Hour)) || leaf.NotAfter.After(now.Add(25*time.Hour)) {
		t.Errorf("valid %v to %v, want an hour ago to a day from now", leaf.NotBefore, leaf.NotAfter)
	}
	for _, name := range []string{"localhost", "example.test", "127.0.0.1", "::1", "192.0.2.7"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	if err := leaf.VerifyHostname("other.test"); err == nil {
		t.Error("the certificate is valid for other.test too")
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("does not verify against itself as the root: %v", err)
	}
	if got := leaf.PublicKeyAlgorithm; got != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", got)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	fp := certs.Fingerprint(cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint = %q, want 32 upper-case hex bytes joined by colons", fp)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	if want := strings.ReplaceAll(fmt.Sprintf("% X", sum[:]), " ", ":"); fp != want {
		t.Errorf("Fingerprint = %s, want %s", fp, want)
	}
}

// writePEM writes the certificate and key of a fresh self-signed pair.
func writePEM(t *testing.T) (certFile, keyFile string, der []byte) {
	t.Helper()
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert.Certificate[0]
}

func TestLoadKeyPair(t *testing.T) {
	t.Parallel()
	certFile, keyFile, der := writePEM(t)
	cert, err := certs.LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.Certificate[0], der) {
		t.Error("loaded a different certificate")
	}
	_, err = certs.LoadKeyPair(certFile, filepath.Join(t.TempDir(), "missing.pem"))
	if err == nil || !strings.Contains(err.Error(), "missing.pem") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("LoadKeyPair of a missing key = %v, want a not-exist error naming the file", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestClientConfig(t *testing.T) {
	t.Parallel()
	certFile, _, der := writePEM(t)
	cfg, err := certs.ClientConfig(false, certFile, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: cfg.ServerName}); err != nil {
		t.Errorf("the CA file's certificate does not verify with the config's roots: %v", err)
	}
	if cfg.InsecureSkipVerify || cfg.ServerName != "localhost" {
		t.Errorf("config = insecure %v, server name %q", cfg.InsecureSkipVerify, cfg.ServerName)
	}
	if cfg, err := certs.ClientConfig(true, "", ""); err != nil || !cfg.InsecureSkipVerify || cfg.RootCAs != nil {
		t.Errorf("ClientConfig(insecure) = %+v, %v", cfg, err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	if _, err := certs.ClientConfig(false, notPEM, ""); err == nil {
		t.Error("ClientConfig with a CA file without certificates succeeded")
	}
}

func TestClientConfigNoCertificates(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := certs.ClientConfig(false, notPEM, "")
	if !errors.Is(err, certs.ErrNoCertificates) || !strings.Contains(err.Error(), notPEM) {
		t.Errorf("ClientConfig with a CA file without certificates = %v, want ErrNoCertificates naming the file", err)
	}
	_, err = certs.ClientConfig(false, filepath.Join(t.TempDir(), "missing.pem"), "")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ClientConfig with a missing CA file = %v, want a not-exist error", err)
	}
}

func TestWriteTemp(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	path, err := certs.WriteTemp(cert, "certs-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(path))
	if rel, err := filepath.Rel(os.TempDir(), path); err != nil || !strings.HasPrefix(rel, "certs-test-") || filepath.Base(path) != "cert.pem" {
		t.Errorf("WriteTemp wrote %s, want TMPDIR/certs-test-*/cert.pem", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || !slices.Equal(block.Bytes, cert.Certificate[0]) || len(strings.TrimSpace(string(rest))) != 0 {
		t.Errorf("%s holds %q, want the certificate as one PEM block", path, data)
	}
	// The file is what a client trusts with ClientConfig.
	cfg, err := certs.ClientConfig(false, path, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "localhost"}); err != nil {
		t.Errorf("the written certificate does not verify as its own root: %v", err)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, unknown := cert.Leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "localhost"})
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	_, host := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.test"})
	_, expired := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: time.Now().Add(48 * time.Hour)})
	tests := []struct {
		name   string
		err    error
		words  string
		target any
	}{
		{name: "unknown authority", err: unknown, words: "not signed by a known CA", target: new(x509.UnknownAuthorityError)},
		{name: "other name", err: host, words: "for another name", target: new(x509.HostnameError)},
		{name: "expired", err: expired, words: "not valid now", target: new(x509.CertificateInvalidError)},
	}
	for _, tt := range tests {
		got := certs.Explain(fmt.Errorf("tls: %w", tt.err))
		if !strings.Contains(got.Error(), tt.words) {
			t.Errorf("%s: Explain = %q, want it to say %q", tt.name, got, tt.words)
		}
		if !errors.As(got, tt.target) {
			t.Errorf("%s: Explain's error %v does not hold the %T", tt.name, got, tt.target)
		}
		if strings.Contains(got.Error(), "--") {
			t.Errorf("%s: Explain = %q names a flag; the library must not", tt.name, got)
		}
	}
	other := errors.New("something else")
	if got := certs.Explain(other); got != other {
		t.Errorf("Explain(%v) = %v, want it unchanged", other, got)
	}
}
