// Package api serves what operators and their tools read over HTTP. For
// now that is the Prometheus metrics endpoint; the JSON API joins it here.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
)

// MetricsActor serves GET /metrics in Prometheus text format, process and
// Go runtime metrics included.
type MetricsActor struct {
	log     zerolog.Logger
	address string

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	bound     string
}

// NewMetrics prepares the endpoint for address; it listens when Run starts.
func NewMetrics(log zerolog.Logger, address string) *MetricsActor {
	return &MetricsActor{log: log.With().Str("actor", "metrics").Logger(), address: address, ready: make(chan struct{})}
}

// Name implements runtime.Actor.
func (m *MetricsActor) Name() string { return "metrics" }

// Ready is closed once the endpoint listens.
func (m *MetricsActor) Ready() <-chan struct{} { return m.ready }

// Addr is the bound address, empty before Ready.
func (m *MetricsActor) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bound
}

// Run serves until ctx ends.
func (m *MetricsActor) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", m.address)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s (metrics.listen_address): %w", m.address, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(w, true)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	m.mu.Lock()
	m.bound = ln.Addr().String()
	m.mu.Unlock()
	m.readyOnce.Do(func() { close(m.ready) })
	m.log.Info().Str("address", ln.Addr().String()).Msg("serving metrics at /metrics")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-served
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics: serve on %s: %w", m.address, err)
	}
}
