package tlslayer_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"

	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/service"
	"github.com/sockit/sockit/tlslayer"
)

// Echo over TLS on the engine, with a self-signed certificate, and a
// crypto/tls client that trusts it.
func ExampleServer() {
	cert, err := certs.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	srv, err := engine.NewServer(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	var ctr tlslayer.Counters
	h := tlslayer.Server(service.Echo{}, &tls.Config{Certificates: []tls.Certificate{cert}}, tlslayer.Options{Counters: &ctr})
	addr, err := srv.Listen(endpoint.MustParse("tcp://127.0.0.1:0"), h)
	if err != nil {
		panic(err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: roots})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello over TLS"))
	c.CloseWrite() // close_notify: the echo answers, then closes too
	reply, err := io.ReadAll(c)
	fmt.Printf("%s %v\n", reply, err)
	fmt.Printf("handshakes: %d\n", ctr.Stats().Handshakes)
	// Output:
	// hello over TLS <nil>
	// handshakes: 1
}
