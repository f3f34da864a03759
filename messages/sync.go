package messages

import "time"

// SyncMsg is what the SyncActor accepts.
type SyncMsg interface{ syncMsg() }

func (ConfigApplied) syncMsg() {}

// FetchKeys asks the sync actor, at the signer's start-up, for whatever
// keys the peers hold, so a new node adopts them instead of generating its
// own. The answer comes within key_sync.timeout; empty when no peer had any.
type FetchKeys struct {
	Reply chan<- []KeyMaterial
}

func (FetchKeys) syncMsg() {}

// SyncNow polls every peer at once (POST /api/v1/dnssec/sync).
type SyncNow struct {
	Reply chan<- SyncRound
}

func (SyncNow) syncMsg() {}

// SyncRound is the outcome of one poll of every peer.
type SyncRound struct {
	At      time.Time
	Peers   []PeerOutcome
	Adopted []KeyChange
	// Err is set when the fetched keys could not be adopted (the signer
	// could not store them); the keys in use did not change.
	Err string
}

// OK is whether every peer answered with valid keys and they were adopted.
func (r SyncRound) OK() bool {
	if r.Err != "" {
		return false
	}
	for _, p := range r.Peers {
		if p.Error != "" {
			return false
		}
	}
	return true
}

// PeerOutcome is one peer's answer in a round.
type PeerOutcome struct {
	Peer   string // the configured URL
	Result string // ok | unreachable | tls | unauthorized | refused | bad_response
	Error  string // empty when Result is ok
	Keys   int    // valid keys the peer served
}

// Peer outcome results, also the "result" label of the attempts metric.
const (
	SyncOK           = "ok"
	SyncUnreachable  = "unreachable"
	SyncTLS          = "tls"
	SyncUnauthorized = "unauthorized"
	SyncRefused      = "refused"
	SyncBadResponse  = "bad_response"
)

// SyncStatus is what GET /api/v1/dnssec/status shows under "sync".
type SyncStatus struct {
	Enabled       bool
	LastSync      time.Time // the last round's end; zero before the first
	LastSyncError string    // empty when the last round was fine
	NextSync      time.Time
	PeerCount     int
}
