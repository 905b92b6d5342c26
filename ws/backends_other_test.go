//go:build !linux

package ws_test

import "github.com/sockit/sockit/engine"

var platformBackends []engine.Backend
