package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/client"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/tlslayer"
	"github.com/sockit/sockit/ws"
)

// serveLayers puts TLS and WebSocket on the endpoints that ask for them:
// tls://, ws://, wss://. One certificate serves every TLS endpoint: the one
// from --cert/--key, or a self-signed one made for the session, whose
// fingerprint the banner prints and whose PEM is written to a file that
// clients can pass as --ca.
type serveLayers struct {
	cfg         *tls.Config
	selfSigned  bool
	fingerprint string
	caFile      string // self-signed: the certificate as PEM, removed at exit
	handshakes  tlslayer.Counters
	ws          []*ws.Server
	maxMessage  int // of WebSocket endpoints; 0 = ws.DefaultMaxMessage
}

func newServeLayers(eps []endpoint.Endpoint, certFile, keyFile string) (*serveLayers, error) {
	l := &serveLayers{}
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
		return l, nil
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
		l.selfSigned = true
		if l.caFile, err = writeCertPEM(cert); err != nil {
			return nil, err
		}
	}
	l.fingerprint = certs.Fingerprint(cert)
	l.cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return l, nil
}

// writeCertPEM writes the certificate chain to a fresh file for clients'
// --ca.
func writeCertPEM(cert tls.Certificate) (string, error) {
	dir, err := os.MkdirTemp("", "sockit-serve-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "cert.pem")
	var out []byte
	for _, der := range cert.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return path, nil
}

func (l *serveLayers) close() {
	if l.caFile != "" {
		os.RemoveAll(filepath.Dir(l.caFile))
	}
}

// wrap returns the handler that serves ep: the service's own for plain
// endpoints; the WebSocket echo (with its page for browsers) for ws and
// wss; under TLS for tls and wss.
func (l *serveLayers) wrap(ep endpoint.Endpoint, h engine.Handler, service string, maxInput int) (engine.Handler, error) {
	if ep.IsWebSocket() {
		if service != "echo" {
			return nil, usageErr{fmt.Errorf("%s: WebSocket endpoints serve echo, not %s", ep, service)}
		}
		page := ws.EchoPage(ep.Path)
		s := ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: ep.Path, MaxMessage: l.maxMessage, HTTP: func(r *ws.Request) (int, string, []byte) {
			if r.Path == "/" || r.Path == ep.Path {
				return 200, "text/html; charset=utf-8", page
			}
			return 0, "", nil
		}})
		l.ws = append(l.ws, s)
		h = s
	}
	if ep.IsTLS() {
		h = tlslayer.Server(h, l.cfg, tlslayer.Options{Counters: &l.handshakes, MaxInput: maxInput})
	}
	return h, nil
}

// banner lines about the layers.
func (l *serveLayers) banner() []string {
	var lines []string
	if l.cfg != nil {
		if l.selfSigned {
			lines = append(lines, "  TLS: a self-signed certificate for this session, SHA-256 "+l.fingerprint,
				"       clients: --insecure, or --ca "+l.caFile)
		} else {
			lines = append(lines, "  TLS: certificate SHA-256 "+l.fingerprint)
		}
	}
	return lines
}

// summary lines at shutdown.
func (l *serveLayers) summary() []string {
	var lines []string
	if l.cfg != nil {
		st := l.handshakes.Stats()
		lines = append(lines, fmt.Sprintf("TLS handshakes: %d completed, %d failed (not TLS %d, timeout %d, bad certificate %d, peer alert %d, peer closed %d, protocol %d)",
			st.Handshakes, st.Failed, st.NotTLS, st.Timeout, st.BadCertificate, st.RemoteAlert, st.PeerClosed, st.Protocol))
	}
	if len(l.ws) > 0 {
		var up, rej, in, out, page, errs uint64
		byCode := map[ws.CloseCode]uint64{}
		for _, s := range l.ws {
			st := s.Stats()
			up, rej, in, out, page = up+st.Upgrades, rej+st.Rejected, in+st.MessagesIn, out+st.MessagesOut, page+st.HTTP
			for code, n := range st.ProtocolErrors {
				errs += n
				byCode[code] += n
			}
		}
		line := fmt.Sprintf("WebSocket: %d upgrades (%d refused), %d pages served; messages in %d, out %d; %s closed for protocol errors",
			up, rej, page, in, out, plural(errs, "connection"))
		if errs > 0 {
			var parts []string
			for _, code := range slices.Sorted(maps.Keys(byCode)) {
				parts = append(parts, fmt.Sprintf("%s: %d", code, byCode[code]))
			}
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

// tlsFlags are a client's TLS choices (send, connect).
type tlsFlags struct {
	Insecure bool
	CA       string
}

func (f *tlsFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.Insecure, "insecure", false, "tls, wss: do not verify the server's certificate (a self-signed test server)")
	fs.StringVar(&f.CA, "ca", "", "tls, wss: verify the server's certificate against the CA certificates in this PEM file")
}

// startLayers runs ep's layers over a connected c: the TLS handshake for
// tls and wss (c speaks TLS afterwards), then for ws and wss the WebSocket
// upgrade, whose connection it returns (nil for tls and plain endpoints).
// timeout (> 0) bounds the handshakes together, as part of connecting: a
// server that accepts and never answers is a timeout, not a hang.
func startLayers(ctx context.Context, c *client.Conn, ep endpoint.Endpoint, f tlsFlags, timeout time.Duration, obs sockit.Observer) (*ws.BlockingConn, error) {
	if !ep.IsLayered() {
		return nil, nil
	}
	hctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// timedOut: our bound ran out, not the caller's context.
	timedOut := func() bool { return ctx.Err() == nil && hctx.Err() != nil }
	if ep.IsTLS() {
		host, _, _ := net.SplitHostPort(ep.Addr)
		cfg, err := certs.ClientConfig(f.Insecure, f.CA, host)
		if err != nil {
			return nil, usageErr{err}
		}
		if err := c.StartTLS(hctx, cfg); err != nil {
			if timedOut() {
				return nil, sockit.Wrap("tls", ep.Network(), ep.Addr, handshakeTimeout{"no TLS handshake", timeout})
			}
			return nil, withFlagHints(err)
		}
	}
	if !ep.IsWebSocket() {
		return nil, nil
	}
	wc, err := ws.Dial(hctx, c, ep.Path, ws.ClientOptions{Host: ep.Addr})
	if err != nil {
		if timedOut() {
			err = handshakeTimeout{"no answer to the WebSocket upgrade request", timeout}
		} else if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, sockit.Wrap("websocket", ep.Network(), ep.Addr, err)
	}
	if obs != nil {
		obs.Observe(sockit.Event{Step: sockit.StepHandshake, FD: -1, Net: ep.Network(), Detail: "WebSocket upgrade: GET " + ep.Path + " → 101 Switching Protocols"})
	}
	return wc, nil
}

// withFlagHints adds the flags that help with a failure of a layer: --ca
// or --insecure for a certificate from an authority the client does not
// know.
func withFlagHints(err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("%w; pass --ca FILE, or --insecure for a test server", err)
	}
	return err
}

// handshakeTimeout is a handshake that startLayers's bound cut short. It
// is a timeout (exit code 3) and unwraps to context.DeadlineExceeded.
type handshakeTimeout struct {
	what  string
	limit time.Duration
}

func (e handshakeTimeout) Error() string {
	return fmt.Sprintf("%s within %s (--connect-timeout)", e.what, e.limit)
}
func (e handshakeTimeout) Timeout() bool { return true }
func (e handshakeTimeout) Unwrap() error { return context.DeadlineExceeded }

// sendWS sends msg count times as WebSocket text (binary if it is not
// UTF-8) messages, printing each reply message, then closes with 1000.
func sendWS(ctx context.Context, wc *ws.BlockingConn, msg []byte, out io.Writer, count int, timeout time.Duration) error {
	op := ws.OpText
	if !utf8.Valid(msg) {
		op = ws.OpBinary
	}
	stop := context.AfterFunc(ctx, func() { wc.NetConn().SetDeadline(time.Now()) })
	defer stop()
	for i := 0; i < count; i++ {
		if err := wc.WriteMessage(op, msg); err != nil {
			return err
		}
		if timeout > 0 {
			wc.NetConn().SetReadDeadline(time.Now().Add(timeout))
		}
		_, data, err := wc.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
	}
	wc.NetConn().SetReadDeadline(time.Time{})
	return wc.Close(ws.CloseNormal, "")
}

// pipeWS copies in to WebSocket messages (a line each on a terminal, else
// each read) and the messages it receives to out; at the end of in it
// sends a close frame and prints what still comes until the server's. An
// error reading in also ends the input, and is the result once the close
// handshake is over. Like client.Pipe, it does not wait for a goroutine
// blocked in in.Read.
func pipeWS(ctx context.Context, wc *ws.BlockingConn, in io.Reader, out io.Writer, lines bool) error {
	stop := context.AfterFunc(ctx, func() { wc.Close(ws.CloseGoingAway, "interrupted") })
	defer stop()
	inErr := make(chan error, 1)
	go func() {
		send := func(b []byte) error {
			op := ws.OpText
			if !utf8.Valid(b) {
				op = ws.OpBinary
			}
			return wc.WriteMessage(op, b)
		}
		var err error
		if lines {
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				if send(append(sc.Bytes(), '\n')) != nil {
					return
				}
			}
			err = sc.Err()
		} else {
			buf := make([]byte, 32<<10)
			for {
				n, rerr := in.Read(buf)
				if n > 0 && send(buf[:n]) != nil {
					return
				}
				if rerr != nil {
					if rerr != io.EOF {
						err = rerr
					}
					break
				}
			}
		}
		inErr <- err
		wc.CloseWrite(ws.CloseNormal, "")
	}()
	for {
		_, data, err := wc.ReadMessage()
		if err != nil {
			var ce *ws.CloseError
			if errors.As(err, &ce) && (ce.Code == ws.CloseNormal || ce.Code == ws.CloseGoingAway && ctx.Err() != nil) {
				wc.Close(ws.CloseNormal, "")
				if ctx.Err() != nil {
					return ctx.Err()
				}
				select {
				case err := <-inErr:
					return err
				default:
					return nil
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
	}
}
