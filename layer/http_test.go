package layer_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/layer"
)

// http:// serves the HTTP service on the socket itself, https:// under
// TLS: Go's net/http client gets its answer over each.
func TestHTTP(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		srv := newEngine(t, b)
		ls := layer.NewServer(layer.ServerConfig{TLS: testkit.ServerTLS()})
		tr := &http.Transport{TLSClientConfig: testkit.ClientTLS()}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: testkit.Timeout}
		for _, scheme := range []string{"http", "https"} {
			ep := endpoint.MustParse(scheme + "://127.0.0.1:0/")
			addr, err := ls.Listen(srv, ep, httpsvc.New(httpsvc.Options{}))
			if err != nil {
				t.Fatalf("Listen(%s) = %v", ep, err)
			}
			resp, err := cl.Get(scheme + "://" + addr.String() + "/plaintext")
			if err != nil {
				t.Fatalf("GET over %s: %v", scheme, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "Hello, World!" || (resp.TLS != nil) != (scheme == "https") {
				t.Errorf("%s: %d %q (TLS %v)", scheme, resp.StatusCode, body, resp.TLS != nil)
			}
		}
		if st := ls.Stats(); st.TLS.Handshakes != 1 {
			t.Errorf("Stats = %+v, want 1 TLS handshake", st)
		}
	})
}
