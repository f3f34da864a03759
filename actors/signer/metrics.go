package signer

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Signatures are counted by why they were made: a record set a snapshot
// serves for the first time, one whose signature neared expiry, or one
// signed while answering. Every answer this server gives is known when a
// snapshot is built, so "online" stays 0; it is exported so a dashboard
// can prove it.
var (
	signedSnapshot  = metrics.NewCounter(`opengslb_dnssec_signatures_total{reason="snapshot"}`)
	signedRefresh   = metrics.NewCounter(`opengslb_dnssec_signatures_total{reason="refresh"}`)
	signatureReused = metrics.NewCounter(`opengslb_dnssec_signature_cache_hits_total`)
	signingTime     = metrics.NewPrometheusHistogram(`opengslb_dnssec_signing_duration_seconds`)
	cacheEntries    = metrics.NewGauge(`opengslb_dnssec_signature_cache_entries`, nil)
	keysGenerated   = metrics.NewCounter(`opengslb_dnssec_keys_generated_total`)
	keysAdopted     = metrics.NewCounter(`opengslb_dnssec_keys_adopted_total`)
)

// The online series exists, at 0, for dashboards and alerts to read.
func init() { metrics.NewCounter(`opengslb_dnssec_signatures_total{reason="online"}`) }

func keyAgeName(zone string) string {
	return fmt.Sprintf(`opengslb_dnssec_key_age_seconds{zone=%q}`, zone)
}

// exportKeyAge (re)registers a zone's key age, reading the key's creation
// time; a new key for the zone replaces the series.
func exportKeyAge(zone string, created time.Time) {
	metrics.UnregisterMetric(keyAgeName(zone))
	metrics.GetOrCreateGauge(keyAgeName(zone), func() float64 { return time.Since(created).Seconds() })
}
