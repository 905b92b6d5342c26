package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
)

// Each backend takes the lab's options it supports (LabSupportOf) and
// refuses the others with an OptionError naming the field: none is
// silently ignored.
func TestLabSupportIsEnforced(t *testing.T) {
	testkit.ForBackends(t, func(t *testing.T, b engine.Backend) {
		can := engine.LabSupportOf(b)
		tests := []struct {
			field     string
			cfg       engine.Config
			supported bool
		}{
			{field: "Urgent", cfg: engine.Config{Urgent: engine.UrgentReceive}, supported: can.UrgentReceive},
			{field: "Urgent", cfg: engine.Config{Urgent: engine.UrgentInline}, supported: can.UrgentInline},
			{field: "Rights", cfg: engine.Config{Rights: true}, supported: can.Rights},
			{field: "AcceptDelay", cfg: engine.Config{AcceptDelay: time.Second}, supported: can.AcceptDelay},
			{field: "ObserveWaits", cfg: engine.Config{ObserveWaits: true}, supported: can.Waits},
		}
		for _, tt := range tests {
			cfg := tt.cfg
			cfg.Backend = b
			srv, err := engine.NewServer(&cfg)
			if err == nil {
				srv.Close()
			}
			var oe *sockit.OptionError
			switch {
			case tt.supported && err != nil:
				t.Errorf("%+v: %v, want it taken (LabSupportOf says supported)", tt.cfg, err)
			case !tt.supported && (!errors.As(err, &oe) || oe.Fields[0] != tt.field):
				t.Errorf("%+v: %v, want an OptionError on %s (LabSupportOf says unsupported)", tt.cfg, err, tt.field)
			}
		}
	})
}
