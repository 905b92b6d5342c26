package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/ws"
)

// serveTLS is the certificate of a server's tls:// and wss:// endpoints
// (serve, relay): the one from --cert/--key, or a self-signed one made for
// the session, whose fingerprint the banner prints and whose PEM is
// written to a file that clients can pass as --ca.
type serveTLS struct {
	cfg         *tls.Config // nil: no TLS endpoint
	selfSigned  bool
	fingerprint string
	caFile      string // self-signed: the certificate as PEM, removed at exit
}

func newServeTLS(eps []endpoint.Endpoint, certFile, keyFile string) (*serveTLS, error) {
	s := &serveTLS{}
	needTLS := false
	for _, ep := range eps {
		needTLS = needTLS || ep.IsTLS()
	}
	if (certFile == "") != (keyFile == "") {
		return nil, usageErr{errors.New("--cert and --key go together")}
	}
	if !needTLS {
		if certFile != "" {
			return nil, usageErr{errors.New("--cert and --key are for tls:// and wss:// endpoints")}
		}
		return s, nil
	}
	var cert tls.Certificate
	var err error
	if certFile != "" {
		cert, err = certs.LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
	} else {
		var hosts []string
		for _, ep := range eps {
			if h, _, err := net.SplitHostPort(ep.Addr); err == nil && h != "" {
				hosts = append(hosts, h)
			}
		}
		if cert, err = certs.SelfSigned(hosts); err != nil {
			return nil, err
		}
		s.selfSigned = true
		if s.caFile, err = certs.WriteTemp(cert, "sockit-serve-"); err != nil {
			return nil, err
		}
	}
	s.fingerprint = certs.Fingerprint(cert)
	s.cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return s, nil
}

func (s *serveTLS) close() {
	if s.caFile != "" {
		os.RemoveAll(filepath.Dir(s.caFile))
	}
}

// banner lines about the certificate.
func (s *serveTLS) banner() []string {
	switch {
	case s.cfg == nil:
		return nil
	case s.selfSigned:
		return []string{"  TLS: a self-signed certificate for this session, SHA-256 " + s.fingerprint,
			"       clients: --insecure, or --ca " + s.caFile}
	}
	return []string{"  TLS: certificate SHA-256 " + s.fingerprint}
}

// layerSummary is the shutdown summary of a server's layers: its TLS
// handshakes if it served TLS, its WebSocket traffic if it served
// WebSocket.
func layerSummary(st layer.Stats, servedTLS, servedWS bool) []string {
	var lines []string
	if servedTLS {
		h := st.TLS
		lines = append(lines, fmt.Sprintf("TLS handshakes: %d completed, %d failed (not TLS %d, timeout %d, bad certificate %d, peer alert %d, peer closed %d, protocol %d)",
			h.Handshakes, h.Failed, h.NotTLS, h.Timeout, h.BadCertificate, h.RemoteAlert, h.PeerClosed, h.Protocol))
	}
	if servedWS {
		w := st.WebSocket
		var errs uint64
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(w.ProtocolErrors)) {
			errs += w.ProtocolErrors[code]
			parts = append(parts, fmt.Sprintf("%s: %d", code, w.ProtocolErrors[code]))
		}
		line := fmt.Sprintf("WebSocket: %s; %s served", upgradeCounts(w), plural(w.HTTP, "page"))
		if w.HTTPRefused > 0 {
			line += fmt.Sprintf(", %s refused (not a page: a browser's /favicon.ico, say)", plural(w.HTTPRefused, "other HTTP request"))
		}
		line += fmt.Sprintf("; messages in %d, out %d; %s closed for protocol errors", w.MessagesIn, w.MessagesOut, plural(errs, "connection"))
		if errs > 0 {
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

// framingNote is the word on a server's byte counts when it served TLS or
// WebSocket: they count the socket's bytes, so an echo's in and out
// differ by the layers' framing and handshakes.
func framingNote(servedTLS, servedWS bool) string {
	var layers string
	switch {
	case servedTLS && servedWS:
		layers = "TLS and WebSocket"
	case servedTLS:
		layers = "TLS"
	case servedWS:
		layers = "WebSocket"
	default:
		return ""
	}
	return " (on the sockets: " + layers + " framing and handshakes included, so in and out differ even for echo)"
}

// upgradeCounts says how many upgrade requests were taken and refused,
// two counts side by side: "3 upgraded, 1 refused (1 for its Origin)".
func upgradeCounts(w ws.Stats) string {
	origin := "their"
	if w.OriginRefused == 1 {
		origin = "its"
	}
	return fmt.Sprintf("%d upgraded, %d refused (%d for %s Origin)", w.Upgrades, w.Rejected, w.OriginRefused, origin)
}

// tlsFlags are a client's TLS choices (send, connect, relay's target).
type tlsFlags struct {
	Insecure bool
	CA       string
}

func (f *tlsFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.Insecure, "insecure", false, "tls, wss: do not verify the server's certificate (a self-signed test server)")
	fs.StringVar(&f.CA, "ca", "", "tls, wss: verify the server's certificate against the CA certificates in this PEM file")
}

// registerProxy adds --proxy, the proxy a client connects through
// (client.Options.Proxy), to fs.
func registerProxy(fs *pflag.FlagSet, proxy *string) {
	fs.StringVar(proxy, "proxy", "", "connect through this proxy: socks5://[user:pass@]host:port (SOCKS5; the proxy resolves names) or http://[user:pass@]host:port (HTTP CONNECT); tcp, tls, ws and wss endpoints")
}

// config is the TLS configuration for ep, nil if it has no TLS; a CA file
// that cannot be used is a usage error.
func (f tlsFlags) config(ep endpoint.Endpoint) (*tls.Config, error) {
	if !ep.IsTLS() {
		return nil, nil
	}
	cfg, err := certs.ClientConfig(f.Insecure, f.CA, "")
	if err != nil {
		return nil, usageErr{err}
	}
	return cfg, nil
}

// dialLayers connects send and connect to ep through its layers: over
// WebSocket each write is a text message when it is valid UTF-8 (binary
// otherwise), as a person typing expects; the handshakes are bounded by
// --connect-timeout. preamble, if set, goes on the socket first.
func dialLayers(ctx context.Context, ep endpoint.Endpoint, f tlsFlags, o client.Options, preamble func(local, remote net.Addr) ([]byte, error)) (*client.Conn, error) {
	cfg := layer.ClientConfig{Stream: ws.StreamOptions{TextIfUTF8: true}, Preamble: preamble}
	var err error
	if cfg.TLS, err = f.config(ep); err != nil {
		return nil, err
	}
	return layer.Dial(ctx, ep, cfg, o)
}
