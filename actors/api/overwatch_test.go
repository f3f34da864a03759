package api

import (
	"context"
	"reflect"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
)

func TestOverwatchProbes(t *testing.T) {
	var reason atomic.Value
	reason.Store("zone has not loaded the configuration")
	h := startOverwatchAPI(t, harnessOptions{ready: func() string { return reason.Load().(string) }})

	if r := h.do(t, "GET", "/api/v1/live", nil); r.code != 200 || r.body["status"] != "ok" {
		t.Errorf("live: %v", r)
	}
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != 503 || r.body["error"] != "not ready" || r.body["detail"] != "zone has not loaded the configuration" {
		t.Errorf("ready while the source says not: %v", r)
	}
	reason.Store("")
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != 200 || r.body["status"] != "ready" {
		t.Errorf("ready: %v", r)
	}
	r := h.do(t, "GET", "/api/v1/version", nil)
	if r.code != 200 || r.body["version"] != "v1.2.3-test" || r.body["go_version"] != goruntime.Version() {
		t.Errorf("version: %v", r)
	}
	if r := h.do(t, "HEAD", "/api/v1/live", nil); r.code != 200 {
		t.Errorf("HEAD live: %v", r)
	}
}

func TestOverwatchReadyWithoutSnapshot(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{noStore: true})
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != 503 || !strings.Contains(r.body["detail"].(string), "snapshot") {
		t.Errorf("ready before any snapshot: %v", r)
	}
	// Lists are empty rather than errors before the first snapshot.
	for path, key := range map[string]string{"/api/v1/overwatch/backends": "backends", "/api/v1/domains": "domains", "/api/v1/overrides": "overrides"} {
		if r := h.do(t, "GET", path, nil); r.code != 200 || len(list(t, r, key)) != 0 {
			t.Errorf("%s before any snapshot: %v", path, r)
		}
	}
	if r := h.do(t, "GET", "/api/v1/status", nil); r.code != 200 || r.body["ready"] != false {
		t.Errorf("status before any snapshot: %v", r)
	}
}

func TestOverwatchStatus(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{agents: func() any {
		return []map[string]string{{"name": "agent-1"}, {"name": "agent-2"}}
	}})
	r := h.do(t, "GET", "/api/v1/status", nil)
	want := map[string]any{
		"node": "overwatch-us-east-1", "region": "us-east", "version": "v1.2.3-test",
		"ready": true, "ready_detail": "", "serial": float64(2026011501), "config_generation": float64(7),
		"domains": float64(3), "agents": float64(2), "overrides": float64(1),
		"backends": map[string]any{"healthy": float64(2), "unhealthy": float64(2), "unknown": float64(0), "stale": float64(1)},
	}
	if r.code != 200 || !reflect.DeepEqual(r.body, want) {
		t.Errorf("status:\n got %v\nwant %v", r.body, want)
	}
}

// With gossip on, the status says whether this node is cut off from every
// other overwatch, as the gossip source describes it.
func TestOverwatchStatusGossip(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{gossip: func() any {
		return map[string]any{"isolated": true, "held_agents": 2}
	}})
	r := h.do(t, "GET", "/api/v1/status", nil)
	want := map[string]any{"isolated": true, "held_agents": float64(2)}
	if r.code != 200 || !reflect.DeepEqual(r.body["gossip"], want) {
		t.Errorf("status gossip block: got %v, want %v", r.body["gossip"], want)
	}
}

func TestOverwatchBackends(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	r := h.do(t, "GET", "/api/v1/overwatch/backends", nil)
	if r.code != 200 {
		t.Fatalf("backends: %v", r)
	}
	backends := list(t, r, "backends")
	var order []string
	for _, b := range backends {
		order = append(order, b["service"].(string)+"/"+b["address"].(string))
	}
	// Each backend once although two domains serve webapp; addresses in
	// numeric order, IPv4 before IPv6.
	wantOrder := []string{"api/10.0.2.1", "webapp/10.0.1.9", "webapp/10.0.1.10", "webapp/10.0.1.20", "webapp/2001:db8::1"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Fatalf("backends in order %v, want %v", order, wantOrder)
	}

	drained := backends[2]
	wantDrained := map[string]any{
		"service": "webapp", "address": "10.0.1.10", "port": float64(80), "weight": float64(100), "priority": float64(1),
		"region": "us-east", "source": "static", "agent": nil, "claimed_health": nil, "validated_health": "healthy",
		"effective_state": "healthy", "last_report": nil, "age_seconds": nil, "stale": false, "served": false,
		"override": map[string]any{
			"service": "webapp", "backend": "10.0.1.10:80", "state": "drain", "reason": "patching",
			"expires": "2026-01-15T13:00:00Z", "created": "2026-01-15T11:59:00Z", "source": "127.0.0.1",
		},
	}
	if !reflect.DeepEqual(drained, wantDrained) {
		t.Errorf("drained static backend:\n got %v\nwant %v", drained, wantDrained)
	}
	agent := backends[3]
	wantAgent := map[string]any{
		"service": "webapp", "address": "10.0.1.20", "port": float64(8080), "weight": float64(50), "priority": float64(1),
		"region": "us-west", "source": "agent-1", "agent": "agent-1", "claimed_health": "healthy", "validated_health": "healthy",
		"effective_state": "healthy", "last_report": "2026-01-15T11:58:30Z", "age_seconds": float64(90), "stale": true,
		"served": true, "override": nil,
	}
	if !reflect.DeepEqual(agent, wantAgent) {
		t.Errorf("agent backend:\n got %v\nwant %v", agent, wantAgent)
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?service=api", []string{"api/10.0.2.1"}},
		{"?state=healthy", []string{"webapp/10.0.1.10", "webapp/10.0.1.20", "webapp/2001:db8::1"}},
		{"?state=unhealthy", []string{"api/10.0.2.1", "webapp/10.0.1.9"}},
		{"?state=unknown", nil},
		{"?state=stale", []string{"webapp/10.0.1.20"}},
		{"?state=served", []string{"webapp/10.0.1.20", "webapp/2001:db8::1"}},
		{"?state=drain", []string{"webapp/10.0.1.10"}},
		{"?state=up", nil},
		{"?service=webapp&state=unhealthy", []string{"webapp/10.0.1.9"}},
		{"?service=nothing", nil},
	} {
		r := h.do(t, "GET", "/api/v1/overwatch/backends"+c.query, nil)
		var got []string
		for _, b := range list(t, r, "backends") {
			got = append(got, b["service"].(string)+"/"+b["address"].(string))
		}
		if r.code != 200 || !reflect.DeepEqual(got, c.want) {
			t.Errorf("backends%s: %d %v, want %v", c.query, r.code, got, c.want)
		}
	}
	r = h.do(t, "GET", "/api/v1/overwatch/backends?state=sick", nil)
	if r.code != 400 || !strings.Contains(r.body["detail"].(string), "healthy, unhealthy, unknown, stale, served, drain, down, up") {
		t.Errorf("unknown state filter: %v", r)
	}
}

func TestOverwatchAgents(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	if r := h.do(t, "GET", "/api/v1/overwatch/agents", nil); r.code != 200 || len(list(t, r, "agents")) != 0 {
		t.Errorf("agents with gossip off: %v", r)
	}
	h = startOverwatchAPI(t, harnessOptions{agents: func() any {
		return []map[string]any{{"name": "agent-1", "region": "us-west"}}
	}})
	r := h.do(t, "GET", "/api/v1/overwatch/agents", nil)
	if agents := list(t, r, "agents"); r.code != 200 || len(agents) != 1 || agents[0]["name"] != "agent-1" {
		t.Errorf("agents: %v", r)
	}
}

func TestOverwatchDomains(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	r := h.do(t, "GET", "/api/v1/domains", nil)
	domains := list(t, r, "domains")
	if r.code != 200 || len(domains) != 3 {
		t.Fatalf("domains: %v", r)
	}
	want := map[string]any{
		"name": "webapp.gslb.example.com.", "service": "webapp", "routing": "round-robin", "ttl": float64(30),
		"fallback": "all", "fallback_active": false, "cold": false,
		"answer": map[string]any{"A": []any{"10.0.1.20"}, "AAAA": []any{"2001:db8::1"}, "rcode": "NOERROR"},
	}
	if !reflect.DeepEqual(domains[0], want) {
		t.Errorf("domains[0]:\n got %v\nwant %v", domains[0], want)
	}
	for _, name := range []string{"webapp.gslb.example.com.", "WebApp.GSLB.example.com", "webapp.gslb.example.com"} {
		if r := h.do(t, "GET", "/api/v1/domains/"+name, nil); r.code != 200 || !reflect.DeepEqual(r.body, want) {
			t.Errorf("domain %s: %v", name, r)
		}
	}
	r = h.do(t, "GET", "/api/v1/domains/api.gslb.example.com", nil)
	wantAPI := map[string]any{"A": []any{}, "AAAA": []any{}, "rcode": "SERVFAIL"}
	if r.code != 200 || r.body["fallback_active"] != true || !reflect.DeepEqual(r.body["answer"], wantAPI) {
		t.Errorf("domain with nothing healthy and fallback servfail: %v", r)
	}
	if r := h.do(t, "GET", "/api/v1/domains/nope.gslb.example.com", nil); r.code != 404 {
		t.Errorf("unknown domain: %v", r)
	}
}

func TestOverwatchListsOverridesInForce(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	r := h.do(t, "GET", "/api/v1/overrides", nil)
	want := []map[string]any{{
		"service": "webapp", "backend": "10.0.1.10:80", "state": "drain", "reason": "patching",
		"expires": "2026-01-15T13:00:00Z", "created": "2026-01-15T11:59:00Z", "source": "127.0.0.1",
	}}
	if got := list(t, r, "overrides"); r.code != 200 || !reflect.DeepEqual(got, want) {
		t.Errorf("overrides:\n got %v\nwant %v (the expired one left out)", got, want)
	}
}

func TestOverwatchUnknownPathsAndMethods(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	if r := h.do(t, "GET", "/api/v1/nope", nil); r.code != 404 || r.body["error"] != "not found" {
		t.Errorf("unknown path: %v", r)
	}
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/api/v1/status", "GET, HEAD"},
		{"POST", "/api/v1/overwatch/backends", "GET, HEAD"},
		{"GET", "/api/v1/reload", "POST"},
		{"GET", "/api/v1/overrides/webapp", "DELETE, PUT"},
		{"POST", "/api/v1/overrides/webapp/10.0.1.10:80", "DELETE, PUT"},
	} {
		r := h.do(t, c.method, c.path, nil)
		if r.code != 405 || r.header.Get("Allow") != c.allow || r.body["error"] != "method not allowed" {
			t.Errorf("%s %s: %v Allow=%q, want 405 with Allow %q", c.method, c.path, r, r.header.Get("Allow"), c.allow)
		}
	}
}

func TestOverwatchRecoversFromAPanic(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{agents: func() any { panic("agents table corrupt") }})
	before := apiPanics.Get()
	counter := metrics.GetOrCreateCounter(`opengslb_api_requests_total{method="GET",route="/api/v1/overwatch/agents",code="500"}`)
	countedBefore := counter.Get()
	r := h.do(t, "GET", "/api/v1/overwatch/agents", nil)
	if r.code != 500 || r.body["error"] != "internal error" {
		t.Errorf("panicking handler: %v", r)
	}
	if got := apiPanics.Get() - before; got != 1 {
		t.Errorf("opengslb_api_panics_total went up by %d, want 1", got)
	}
	if r := h.do(t, "GET", "/api/v1/live", nil); r.code != 200 {
		t.Errorf("live after a panic: %v", r)
	}
	if counter.Get()-countedBefore != 1 {
		t.Error("the panicked request was not counted with code 500")
	}
}

func TestOverwatchCountsRequestsByRoute(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	byRoute := metrics.GetOrCreateCounter(`opengslb_api_requests_total{method="GET",route="/api/v1/domains/{name}",code="200"}`)
	missing := metrics.GetOrCreateCounter(`opengslb_api_requests_total{method="GET",route="unmatched",code="404"}`)
	before, beforeMissing := byRoute.Get(), missing.Get()
	h.do(t, "GET", "/api/v1/domains/webapp.gslb.example.com", nil)
	h.do(t, "GET", "/api/v1/domains/www.gslb.example.com", nil)
	h.do(t, "GET", "/api/v1/what/ever", nil)
	if got := byRoute.Get() - before; got != 2 {
		t.Errorf("two domain lookups counted %d times under the route pattern", got)
	}
	if got := missing.Get() - beforeMissing; got != 1 {
		t.Errorf("unknown path counted %d times under route=unmatched", got)
	}
}

func TestOverwatchRunFailsOnABadNetwork(t *testing.T) {
	cfg := config.API{ListenAddress: "127.0.0.1:0", AllowedNetworks: []string{"not-a-net"}}
	a := NewOverwatch(zerolog.Nop(), cfg, OverwatchSources{Store: zone.StoreOf(fixtureSnapshot(t))})
	err := a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "api.allowed_networks") {
		t.Errorf("Run with an unusable allowed_networks: %v", err)
	}
}
