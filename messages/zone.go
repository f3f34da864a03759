package messages

import (
	"net/netip"
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

// AgentReport is what one agent reports for one service, after the gossip
// actor verified its token proof and its sequence. It replaces whatever the
// agent reported before for that service.
type AgentReport struct {
	Agent    string // the agent's node name
	Region   string
	Address  string // the agent's gossip address, host:port
	Service  string
	Seq      uint64
	Backends []AgentBackend
	Received time.Time
}

func (AgentReport) zoneMsg() {}

// AgentBackend is one backend as its agent describes it.
type AgentBackend struct {
	Address  netip.Addr
	Port     uint16
	Weight   int
	Priority int
	Region   string
	Health   HealthState // the agent's own verdict
	Check    CheckSpec   // how the agent checks it, so an overwatch can validate
}

// Key names the backend.
func (b AgentBackend) Key(service string) BackendKey {
	return BackendKey{Service: service, Address: b.Address, Port: b.Port}
}

// CheckSpec is the part of a health check an overwatch repeats to validate
// an agent's claim.
type CheckSpec struct {
	Type           string // http | https | tcp | none
	Path           string
	Host           string
	ExpectedStatus []int
}

// AgentGone withdraws every backend of an agent at once: serf saw it fail
// or leave.
type AgentGone struct {
	Agent  string
	Reason string // "failed" or "left"
	At     time.Time
}

func (AgentGone) zoneMsg() {}

// AgentAlive tells the zone an agent is a live member again (it may have
// reports on the way); it clears a failed mark without serving anything.
type AgentAlive struct {
	Agent  string
	Region string
	At     time.Time
}

func (AgentAlive) zoneMsg() {}

// WarmupDone tells the zone the overwatch now holds the cluster's state
// (every live agent answered the full-state query, or the warm-up bound
// passed): names that only agents can fill may be answered NODATA again.
type WarmupDone struct {
	At      time.Time
	Reason  string // "all agents reported" or "timeout"
	Agents  int
	Missing []string // agents that had not reported when the bound passed
}

func (WarmupDone) zoneMsg() {}

// KeysChanged tells the zone that the signer's keys changed (key sync
// adopted a peer's key): the snapshot must be signed again now.
type KeysChanged struct{}

func (KeysChanged) zoneMsg() {}
