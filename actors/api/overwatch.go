package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// How long the API waits for the actor that owns a change. An override is
// one file write; a reload re-reads the file and hands it to every actor
// that uses it, each send bounded by its own deadline.
const (
	zoneAskTimeout   = 5 * time.Second
	reloadAskTimeout = 20 * time.Second
	// syncAskTimeout covers a round whose peers all take key_sync.timeout
	// (30s by default) plus storing what they served.
	syncAskTimeout = 60 * time.Second
)

// OverwatchSources are what the overwatch's API reads and whom it asks to
// change things; cmd wires them, so this package reaches into no actor.
type OverwatchSources struct {
	Store  *zone.Store
	Zone   runtime.Address[messages.ZoneMsg]   // SetOverride / ClearOverride
	Reload runtime.Address[messages.ReloadMsg] // POST /api/v1/reload
	// Ready returns "" when the node serves DNS with a loaded config, else
	// the reason it does not.
	Ready func() string
	// Agents returns the agents this overwatch knows as a JSON-encodable
	// list; nil when gossip is off.
	Agents func() any
	// Gossip returns this node's view of the gossip cluster for
	// /api/v1/status (whether it is cut off from every other overwatch);
	// nil when gossip is off.
	Gossip func() any
	DNSSEC bool // overwatch.dnssec.enabled
	// Signer serves GET /api/v1/dnssec/keys, KeySync the status block and
	// the token peers present, Sync POST /api/v1/dnssec/sync; unset when
	// DNSSEC is off.
	Signer                runtime.Address[messages.SignerMsg]
	KeySync               KeySyncSource
	Sync                  runtime.Address[messages.SyncMsg]
	Node, Region, Version string
}

// OverwatchActor is the overwatch's JSON API: health probes, what DNS
// serves and why, operator overrides and reload.
type OverwatchActor struct {
	listener
	log    zerolog.Logger
	cfg    config.API
	src    OverwatchSources
	access access
	// err is a configuration the constructor could not use; Run reports it.
	err error
	// draining is set by Drain and never cleared: a node on its way out
	// stays out of rotation whatever restarts in between.
	draining atomic.Bool
	// now and the ask timeouts are fields so tests can shorten them.
	now           func() time.Time
	zoneTimeout   time.Duration
	reloadTimeout time.Duration
	syncTimeout   time.Duration
}

// NewOverwatch prepares the API for cfg; it listens when Run starts.
func NewOverwatch(log zerolog.Logger, cfg config.API, src OverwatchSources) *OverwatchActor {
	a := &OverwatchActor{
		listener:      newListener("api", "api.listen_address", cfg.ListenAddress),
		log:           log.With().Str("actor", "api").Logger(),
		cfg:           cfg,
		src:           src,
		now:           time.Now,
		zoneTimeout:   zoneAskTimeout,
		reloadTimeout: reloadAskTimeout,
		syncTimeout:   syncAskTimeout,
	}
	a.access, a.err = newAccess(cfg)
	if a.err == nil && (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		a.err = fmt.Errorf("api: tls_cert_file and tls_key_file go together: set both for HTTPS, or neither")
	}
	a.errorLog = newDebugLog(a.log)
	return a
}

// Name implements runtime.Actor.
func (a *OverwatchActor) Name() string { return "api" }

// Drain puts the node in lame-duck mode: /api/v1/ready answers 503 so load
// balancers and scripts move on, and changes are refused because the node
// may not live to apply them. Reads keep working until the API stops.
func (a *OverwatchActor) Drain(context.Context) error {
	if !a.draining.Swap(true) {
		a.log.Info().Msg("draining: ready now answers 503 and changes are refused")
	}
	return nil
}

// Run serves until ctx ends.
func (a *OverwatchActor) Run(ctx context.Context) error {
	if a.err != nil {
		return fmt.Errorf("%w: %w", runtime.ErrFatal, a.err)
	}
	var tlsConfig *tls.Config
	if a.cfg.TLSCertFile != "" {
		// Loaded on every start, so a restart picks up a renewed pair.
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("api: load the certificate pair %s / %s (api.tls_cert_file, api.tls_key_file): %w", a.cfg.TLSCertFile, a.cfg.TLSKeyFile, err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	mux := a.routes()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		info := &requestInfo{route: "unmatched"}
		defer guard(a.log, r, rec, info)
		info.client = a.access.client(r)
		if !a.access.permits(info.client) {
			if _, pattern := mux.Handler(r); pattern != "" && pattern != "/" {
				info.route = pattern
			}
			deniedNetwork.Inc()
			a.log.Debug().Str("client", info.client.String()).Str("remote", r.RemoteAddr).Str("method", r.Method).
				Str("path", r.URL.Path).Msg("API request refused: client not in api.allowed_networks")
			writeError(rec, http.StatusForbidden, "forbidden", "client "+info.client.String()+" is not in api.allowed_networks")
			return
		}
		mux.ServeHTTP(rec, withInfo(r, info))
	})
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https, plain http from loopback"
	}
	return a.serveTLS(ctx, handler, tlsConfig, func(addr string) {
		a.log.Info().Str("address", addr).Str("scheme", scheme).Str("writes", a.access.writeMode()).
			Strs("allowed_networks", prefixStrings(a.access)).Bool("trust_proxy_headers", a.access.trustProxy).
			Msg("serving the overwatch API")
	})
}

// routes builds the API's paths; each is registered without a method so
// dispatch can answer 405 in the API's own error shape.
func (a *OverwatchActor) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range []route{
		{"/api/v1/live", map[string]http.HandlerFunc{http.MethodGet: a.live}},
		{"/api/v1/ready", map[string]http.HandlerFunc{http.MethodGet: a.ready}},
		{"/api/v1/version", map[string]http.HandlerFunc{http.MethodGet: a.version}},
		{"/api/v1/status", map[string]http.HandlerFunc{http.MethodGet: a.status}},
		{"/api/v1/overwatch/backends", map[string]http.HandlerFunc{http.MethodGet: a.backends}},
		{"/api/v1/overwatch/agents", map[string]http.HandlerFunc{http.MethodGet: a.agents}},
		{"/api/v1/domains", map[string]http.HandlerFunc{http.MethodGet: a.domains}},
		{"/api/v1/domains/{name}", map[string]http.HandlerFunc{http.MethodGet: a.domain}},
		{"/api/v1/dnssec/status", map[string]http.HandlerFunc{http.MethodGet: a.dnssecStatus}},
		{"/api/v1/dnssec/ds", map[string]http.HandlerFunc{http.MethodGet: a.dnssecDS}},
		{"/api/v1/dnssec/keys", map[string]http.HandlerFunc{http.MethodGet: a.dnssecKeys}},
		{"/api/v1/dnssec/sync", map[string]http.HandlerFunc{http.MethodPost: a.dnssecSync}},
		{"/api/v1/overrides", map[string]http.HandlerFunc{http.MethodGet: a.overrides}},
		{"/api/v1/overrides/{service}", map[string]http.HandlerFunc{http.MethodPut: a.setOverride, http.MethodDelete: a.clearOverride}},
		{"/api/v1/overrides/{service}/{backend}", map[string]http.HandlerFunc{http.MethodPut: a.setOverride, http.MethodDelete: a.clearOverride}},
		{"/api/v1/reload", map[string]http.HandlerFunc{http.MethodPost: a.reload}},
	} {
		mux.Handle(rt.pattern, a.dispatch(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found", r.Method+" "+r.URL.Path+" is not part of the API")
	})
	return mux
}

// dispatch picks the route's handler for the method (405 if none) and
// applies the write rules before any handler that changes state: the
// token or loopback rule first, then the drain.
func (a *OverwatchActor) dispatch(rt route) http.Handler {
	allow := allowHeader(rt.methods)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoOf(r)
		info.route = rt.pattern
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		h, ok := rt.methods[method]
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed", r.Method+" is not allowed on "+rt.pattern+"; use "+allow)
			return
		}
		if changesState(method) {
			if !a.access.mayWrite(w, r, info.client) {
				a.log.Debug().Str("client", info.client.String()).Str("method", r.Method).Str("path", r.URL.Path).
					Msg("API write refused")
				return
			}
			if a.draining.Load() {
				writeError(w, http.StatusServiceUnavailable, "shutting down", "this node is draining and takes no more changes; send them to another overwatch")
				return
			}
		}
		h(w, r)
	})
}

func (a *OverwatchActor) snapshot() *zone.Snapshot {
	if a.src.Store == nil {
		return nil
	}
	return a.src.Store.Load()
}

// notReady is "" when the node should get traffic, else why not.
func (a *OverwatchActor) notReady() string {
	if a.draining.Load() {
		return "shutting down"
	}
	if a.src.Ready != nil {
		if reason := a.src.Ready(); reason != "" {
			return reason
		}
	}
	if a.snapshot() == nil {
		return "no zone snapshot published yet"
	}
	return ""
}

func prefixStrings(a access) []string {
	out := make([]string, 0, len(a.allowed))
	for _, p := range a.allowed {
		out = append(out, p.String())
	}
	return out
}

// newDebugLog sends net/http's own complaints (a failed TLS handshake, a
// malformed request) and the TLS port's refusals of plain HTTP from the
// network to the actor's log at debug: they are the client's problem, not
// the operator's.
func newDebugLog(l zerolog.Logger) *log.Logger {
	return log.New(debugWriter{l}, "", 0)
}

type debugWriter struct{ log zerolog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
