//go:build !linux

package engine_test

import "github.com/sockit/sockit/engine"

var platformBackends []engine.Backend
