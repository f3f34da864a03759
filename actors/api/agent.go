package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/rs/zerolog"
)

// AgentSources are what the agent's API reports; cmd wires them to the
// actors that own the data, so this package reaches into no actor's state.
type AgentSources struct {
	// Ready returns "" when the agent serves its purpose (joined the
	// cluster), else the reason it does not.
	Ready func() string
	// Backends returns the agent's backends, their local health and which
	// overwatches accepted the last report, as a JSON-encodable value.
	Backends func() any
}

// AgentActor is the agent's small API: liveness, readiness and its backends.
type AgentActor struct {
	listener
	log     zerolog.Logger
	sources AgentSources
}

// NewAgent prepares the agent API for address.
func NewAgent(log zerolog.Logger, address string, sources AgentSources) *AgentActor {
	return &AgentActor{
		listener: newListener("api", "api.listen_address", address),
		log:      log.With().Str("actor", "api").Logger(),
		sources:  sources,
	}
}

// Name implements runtime.Actor.
func (a *AgentActor) Name() string { return "api" }

// Run serves until ctx ends.
func (a *AgentActor) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/v1/ready", func(w http.ResponseWriter, _ *http.Request) {
		if reason := a.sources.Ready(); reason != "" {
			writeError(w, http.StatusServiceUnavailable, "not ready", reason)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /api/v1/agent/backends", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.sources.Backends())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found", r.Method+" "+r.URL.Path+" is not part of the agent API")
	})
	return a.serve(ctx, mux, func(addr string) {
		a.log.Info().Str("address", addr).Msg("serving the agent API")
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError is the API's one error shape: {"error": ..., "detail": ...}.
func writeError(w http.ResponseWriter, status int, msg string, detail any) {
	writeJSON(w, status, map[string]any{"error": msg, "detail": detail})
}
