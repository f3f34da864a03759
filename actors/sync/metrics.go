package sync

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// Metric families, in VictoriaMetrics' default set (served on /metrics):
//
//	opengslb_dnssec_sync_success                      gauge    1 when the last round reached every peer and adopted what they hold
//	opengslb_dnssec_last_sync_timestamp               gauge    unix seconds of the last such round; 0 before one
//	opengslb_dnssec_sync_attempts_total{peer,result}  counter  one per peer per round; result as messages.PeerOutcome
//
// With no peers configured a round trivially succeeds, so an overwatch
// that is alone is not an alert. The gauges exist only once a sync actor
// does (DNSSEC on): an unsigned overwatch has nothing to sync and must not
// trip the guide's "no sync in 2 hours" alert.
var (
	syncSuccess   = func() *metrics.Gauge { return metrics.GetOrCreateGauge(`opengslb_dnssec_sync_success`, nil) }
	lastSyncStamp = func() *metrics.Gauge { return metrics.GetOrCreateGauge(`opengslb_dnssec_last_sync_timestamp`, nil) }
)

func countAttempt(peer, result string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`opengslb_dnssec_sync_attempts_total{peer=%q,result=%q}`, peer, result)).Inc()
}
