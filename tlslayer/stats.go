package tlslayer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"sync/atomic"
)

// Reason says why a handshake failed, in the classes an operator acts on
// differently.
type Reason uint8

// The reasons a handshake fails.
const (
	// ReasonProtocol: any other handshake error, such as no common
	// version or cipher suite or a malformed message; crypto/tls sent the
	// alert that fits.
	ReasonProtocol Reason = iota
	// ReasonTimeout: Options.HandshakeTimeout ran out (or, for a handshake
	// counted with Record, a deadline or the context's).
	ReasonTimeout
	// ReasonNotTLS: the first bytes were not a TLS record (a plain-text
	// client on a TLS port, a port scanner). crypto/tls sends no alert for
	// this, except to an SSLv2 hello (protocol_version). A client counts a
	// server that answers with a ClientHello (an echo service sending ours
	// back) here too, and its error says what the server sent.
	ReasonNotTLS
	// ReasonBadCertificate: a certificate was rejected, the peer's by us
	// or ours by the peer (its bad_certificate, unknown_ca and kin alerts).
	ReasonBadCertificate
	// ReasonRemoteAlert: the peer ended the handshake with another alert.
	ReasonRemoteAlert
	// ReasonPeerClosed: the connection ended (FIN, reset, shutdown) before
	// the handshake did.
	ReasonPeerClosed
)

var reasonNames = [...]string{
	ReasonProtocol:       "protocol error",
	ReasonTimeout:        "timed out",
	ReasonNotTLS:         "not TLS",
	ReasonBadCertificate: "bad certificate",
	ReasonRemoteAlert:    "alert from the peer",
	ReasonPeerClosed:     "connection closed",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown reason"
}

// HandshakeError is why a handshake failed. A client-side inner handler
// gets it in OnClose (without OnOpen), as it gets a connect error from a
// dial that fails.
type HandshakeError struct {
	Addr   string // the peer's address
	Reason Reason
	Err    error // from crypto/tls; os.ErrDeadlineExceeded for ReasonTimeout
}

func (e *HandshakeError) Error() string {
	return "tls handshake with " + e.Addr + ": " + e.Reason.String() + ": " + e.Err.Error()
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Timeout reports whether the handshake timed out.
func (e *HandshakeError) Timeout() bool { return e.Reason == ReasonTimeout }

// reasonOf classifies a handshake error.
func reasonOf(err error) Reason {
	var rhe tls.RecordHeaderError
	var cve *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var op *net.OpError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &rhe):
		return ReasonNotTLS
	case errors.As(err, &cve), errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname):
		return ReasonBadCertificate
	case errors.As(err, &op) && op.Op == "remote error":
		if certAlert(remoteAlert(op.Err)) {
			return ReasonBadCertificate
		}
		return ReasonRemoteAlert
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ReasonPeerClosed
	}
	return ReasonProtocol
}

// remoteAlert returns the alert a peer sent. crypto/tls reports it as a
// *net.OpError with Op "remote error" whose Err is its unexported alert
// type, a uint8 (crypto/tls/conn.go, readRecordOrCCS, recordTypeAlert).
func remoteAlert(err error) tls.AlertError {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae
	}
	if v := reflect.ValueOf(err); v.IsValid() && v.Kind() == reflect.Uint8 {
		return tls.AlertError(v.Uint())
	}
	return 0
}

// certAlert reports whether a is one of the certificate alerts of RFC 8446
// section 6.2: bad_certificate (42) through unknown_ca (48), and
// certificate_required (116).
func certAlert(a tls.AlertError) bool {
	return (a >= 42 && a <= 48 && a != 47) || a == 116
}

// Counters counts the handshakes of one or more layers (share one to get a
// total). The zero value is ready to use; it is safe for concurrent use.
type Counters struct {
	ok     atomic.Uint64
	failed [len(reasonNames)]atomic.Uint64
}

func (c *Counters) succeeded()    { c.ok.Add(1) }
func (c *Counters) fail(r Reason) { c.failed[r].Add(1) }

// Record counts a handshake made outside a layer, on a blocking tls.Conn:
// completed if err is nil, and otherwise failed for the Reason err gives,
// classified as a layer classifies its own. Safe from any goroutine.
func (c *Counters) Record(err error) {
	if err == nil {
		c.succeeded()
		return
	}
	c.fail(reasonOf(err))
}

// Stats returns a snapshot of the counters.
func (c *Counters) Stats() Stats {
	s := Stats{
		Handshakes:     c.ok.Load(),
		Timeout:        c.failed[ReasonTimeout].Load(),
		NotTLS:         c.failed[ReasonNotTLS].Load(),
		BadCertificate: c.failed[ReasonBadCertificate].Load(),
		RemoteAlert:    c.failed[ReasonRemoteAlert].Load(),
		PeerClosed:     c.failed[ReasonPeerClosed].Load(),
		Protocol:       c.failed[ReasonProtocol].Load(),
	}
	s.Failed = s.Timeout + s.NotTLS + s.BadCertificate + s.RemoteAlert + s.PeerClosed + s.Protocol
	return s
}

// Stats are handshake counts: those completed, and those failed in total
// and by Reason.
type Stats struct {
	Handshakes uint64 // completed: the inner handler's OnOpen was (or will be) called
	Failed     uint64 // failed, the sum of the fields below

	Timeout        uint64 // ReasonTimeout
	NotTLS         uint64 // ReasonNotTLS
	BadCertificate uint64 // ReasonBadCertificate
	RemoteAlert    uint64 // ReasonRemoteAlert
	PeerClosed     uint64 // ReasonPeerClosed
	Protocol       uint64 // ReasonProtocol
}
