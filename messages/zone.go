package messages

import (
	"time"

	"github.com/opengslb/opengslb/config"
)

// ZoneMsg is what the ZoneActor accepts.
type ZoneMsg interface{ zoneMsg() }

// ConfigApplied carries a configuration that has been loaded and validated
// and is now the one in force. Generation increases with every apply.
type ConfigApplied struct {
	Config     *config.Config
	Generation uint64
}

func (ConfigApplied) zoneMsg()   {}
func (ConfigApplied) healthMsg() {}

// BackendHealth reports a change of a backend's health state, decided by
// the HealthActor after its thresholds were met.
type BackendHealth struct {
	Key    BackendKey
	State  HealthState
	Detail string // the last check's outcome, for logs and the API
	At     time.Time
}

func (BackendHealth) zoneMsg() {}
