// Package api serves what operators and their tools read over HTTP: the
// Prometheus metrics endpoint and the JSON API.
package api

import (
	"context"
	"net/http"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
)

// MetricsActor serves GET /metrics in Prometheus text format, process and
// Go runtime metrics included.
type MetricsActor struct {
	listener
	log zerolog.Logger
}

// NewMetrics prepares the endpoint for address; it listens when Run starts.
func NewMetrics(log zerolog.Logger, address string) *MetricsActor {
	return &MetricsActor{
		listener: newListener("metrics", "metrics.listen_address", address),
		log:      log.With().Str("actor", "metrics").Logger(),
	}
}

// Name implements runtime.Actor.
func (m *MetricsActor) Name() string { return "metrics" }

// Run serves until ctx ends.
func (m *MetricsActor) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(w, true)
	})
	return m.serve(ctx, mux, func(addr string) {
		m.log.Info().Str("address", addr).Msg("serving metrics at /metrics")
	})
}
