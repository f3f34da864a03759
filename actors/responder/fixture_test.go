package responder

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// fixture is a zone with one domain per policy and fallback rule. Backends
// whose address ends in .9 or ::9 are unhealthy; every other is healthy.
func fixture() (*config.Config, map[messages.BackendKey]messages.HealthState) {
	cfg := &config.Config{
		Mode: "overwatch",
		DNS: config.DNS{
			Zones:       []string{"gslb.example.com."},
			DefaultTTL:  30,
			NegativeTTL: 60,
			Nameservers: []string{"ns1.gslb.example.com.", "ns2.gslb.example.com."},
		},
	}
	domain := func(name, routing, fallback string) {
		cfg.Domains = append(cfg.Domains, config.Domain{
			Name: name + ".gslb.example.com.", Service: name, Routing: routing, TTL: 30, Fallback: fallback,
		})
	}
	backend := func(service, addr string, weight, priority int) {
		cfg.Backends = append(cfg.Backends, config.Backend{
			Service: service, Address: addr, Port: 80, Weight: weight, Priority: priority,
			HealthCheck: config.HealthCheck{Type: config.CheckNone},
		})
	}
	domain("webapp", config.RoutingRoundRobin, config.FallbackAll)
	backend("webapp", "10.0.1.10", 100, 1)
	backend("webapp", "10.0.1.11", 100, 1)
	backend("webapp", "10.0.1.12", 100, 1)
	backend("webapp", "10.0.1.9", 100, 1)
	backend("webapp", "2001:db8::10", 100, 1)

	domain("weighted", config.RoutingWeighted, config.FallbackAll)
	backend("weighted", "10.0.2.1", 300, 1)
	backend("weighted", "10.0.2.2", 100, 1)

	domain("failover", config.RoutingFailover, config.FallbackAll)
	backend("failover", "10.0.3.1", 100, 1)
	backend("failover", "10.0.3.2", 100, 2)
	backend("failover", "10.0.3.3", 100, 3)

	domain("down", config.RoutingRoundRobin, config.FallbackAll)
	backend("down", "10.0.4.9", 100, 1)
	backend("down", "10.0.5.9", 100, 1)

	domain("strict", config.RoutingRoundRobin, config.FallbackServfail)
	backend("strict", "10.0.6.9", 100, 1)

	domain("quiet", config.RoutingRoundRobin, config.FallbackNodata)
	backend("quiet", "10.0.7.9", 100, 1)

	// a.deep sits two labels below the apex: "deep" is an empty non-terminal.
	cfg.Domains = append(cfg.Domains, config.Domain{
		Name: "a.deep.gslb.example.com.", Service: "deep", Routing: config.RoutingRoundRobin, TTL: 30, Fallback: config.FallbackAll,
	})
	backend("deep", "10.0.8.1", 100, 1)

	domain("big", config.RoutingRoundRobin, config.FallbackAll)
	for i := range 60 {
		backend("big", fmt.Sprintf("10.1.0.%d", i+1), 100, 1)
	}

	health := make(map[messages.BackendKey]messages.HealthState)
	for _, b := range cfg.Backends {
		addr := netip.MustParseAddr(b.Address)
		state := messages.HealthHealthy
		if last := addr.As16()[15]; last == 9 {
			state = messages.HealthUnhealthy
		}
		health[messages.BackendKey{Service: b.Service, Address: addr, Port: b.Port}] = state
	}
	return cfg, health
}

func fixtureSnapshot(t testing.TB) *zone.Snapshot {
	t.Helper()
	cfg, health := fixture()
	snap, err := zone.Build(zone.Input{Config: cfg, Health: health}, 2026112501, 1, time.Unix(1764000000, 0))
	if err != nil {
		t.Fatalf("build fixture snapshot: %v", err)
	}
	return snap
}
