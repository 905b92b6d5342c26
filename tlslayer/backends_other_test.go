//go:build !linux

package tlslayer_test

import "github.com/sockit/sockit/engine"

var platformBackends []engine.Backend
