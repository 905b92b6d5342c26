package bench

import (
	"github.com/sockit/sockit/certs"
	"github.com/sockit/sockit/layer"
	"github.com/sockit/sockit/ws"
)

// layers is how the run's connections stack the endpoint's layers
// (package layer): TLS for tls:// and wss://, checked against CAFile or
// not at all (Insecure); WebSocket for ws:// and wss://, every message of
// the load one binary message, and the half-close at the end of the run a
// close frame that the server answers after its last echo.
func layers(o *Options) (layer.ClientConfig, error) {
	cfg := layer.ClientConfig{
		WebSocket:        ws.ClientOptions{MaxMessage: max(ws.DefaultMaxMessage, 2*o.Size)},
		HandshakeTimeout: o.ConnectTimeout,
		MaxInput:         engineConfig(o).MaxInput,
		Proxy:            o.Proxy,
	}
	if o.Endpoint.IsTLS() {
		tc, err := certs.ClientConfig(o.Insecure, o.CAFile, "")
		if err != nil {
			return layer.ClientConfig{}, err
		}
		cfg.TLS = tc
	}
	return cfg, nil
}
