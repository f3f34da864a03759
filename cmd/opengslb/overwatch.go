package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/urfave/cli/v2"

	"github.com/opengslb/opengslb/actors/api"
	"github.com/opengslb/opengslb/actors/gossip"
	"github.com/opengslb/opengslb/actors/health"
	"github.com/opengslb/opengslb/actors/hooks"
	"github.com/opengslb/opengslb/actors/responder"
	"github.com/opengslb/opengslb/actors/signer"
	keysync "github.com/opengslb/opengslb/actors/sync"
	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func runOverwatchCommand(c *cli.Context) error {
	if c.Bool("demo") {
		cfg, err := demoConfig()
		if err != nil {
			return err
		}
		printDemoHelp(c.App.Writer, cfg)
		return runOverwatch(cfg, "")
	}
	path := c.String("config")
	if path == "" {
		return errors.New("overwatch: --config FILE is required (or --demo for the built-in demo)")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if cfg.Mode != "overwatch" {
		return fmt.Errorf("overwatch: %s has mode = %q; run it with `opengslb %s` or `opengslb run`", path, cfg.Mode, cfg.Mode)
	}
	return runOverwatch(cfg, path)
}

// runOverwatch wires the overwatch's actors and runs them until SIGINT or
// SIGTERM. path is the file SIGHUP re-reads ("" for the demo).
func runOverwatch(cfg *config.Config, path string) error {
	log := stderrLogger(cfg.Logging)
	events := runtimeEvents(log)
	registerBuildInfo()

	ctx, reloads, stop := daemonSignals()
	defer stop()

	// Mailbox policies. Health verdicts must not be lost: block, bounded by
	// the sender's deadline. The health actor only needs the newest config.
	// Hooks must never stall gossip: reject when full, and count it.
	zoneBox := runtime.NewMailbox[messages.ZoneMsg]("zone", 1024, runtime.Block, events)
	healthBox := runtime.NewMailbox[messages.HealthMsg]("health", 1, runtime.Latest, events)
	hooksBox := runtime.NewMailbox[messages.HookMsg]("hooks", 256, runtime.Reject, events)
	gossipBox := runtime.NewMailbox[messages.GossipMsg]("gossip", 16, runtime.Block, events)
	// Signing requests come from the zone alone, one at a time, and must
	// not be lost: block.
	signerBox := runtime.NewMailbox[messages.SignerMsg]("signer", 4, runtime.Block, events)
	// Key sync requests come from the signer at start-up, the API and
	// reloads; each waits for its answer, so block.
	syncBox := runtime.NewMailbox[messages.SyncMsg]("sync", 8, runtime.Block, events)
	exportDepth(zoneBox, healthBox, hooksBox, gossipBox, signerBox, syncBox)
	published := runtime.NewTopic[messages.SnapshotPublished]("snapshots", events)
	store := &zone.Store{}

	consumers := []configConsumer{
		consumer("zone", zoneBox.Address(), func(m messages.ConfigApplied) messages.ZoneMsg { return m }),
		consumer("health", healthBox.Address(), func(m messages.ConfigApplied) messages.HealthMsg { return m }),
		consumer("hooks", hooksBox.Address(), func(m messages.ConfigApplied) messages.HookMsg { return m }),
	}
	reloadBox := runtime.NewMailbox[messages.ReloadMsg]("reload", 4, runtime.Reject, events)
	sup := runtime.NewSupervisor("overwatch", runtime.Options{Events: events, StopTimeout: 10 * time.Second})
	supervise(sup, api.NewMetrics(log, cfg.Metrics.ListenAddress))
	self := hooks.Self{Name: cfg.NodeID(), Role: "overwatch", Tags: map[string]string{"role": "overwatch", "region": cfg.Region()}}
	supervise(sup, hooks.New(log, hooksBox, self, cfg.Hooks, hooks.Options{}))
	zoneOpts := zone.Options{Health: healthBox.Address()}
	var keySync *keysync.Actor
	if cfg.Overwatch.DNSSEC.Enabled {
		// The signer asks key sync for the peers' keys before it makes
		// its own, so sync starts first; both start before the zone so
		// that the first snapshot is signed.
		sig := signer.New(log, signerBox, cfg, signer.Options{Sync: syncBox.Address()})
		keySync = keysync.New(log, syncBox, signerBox.Address(), zoneBox.Address(), cfg, keysync.Options{SignerReady: sig.Ready()})
		supervise(sup, keySync)
		supervise(sup, sig)
		zoneOpts.Signer = signerBox.Address()
		consumers = append(consumers,
			consumer("signer", signerBox.Address(), func(m messages.ConfigApplied) messages.SignerMsg { return m }),
			consumer("sync", syncBox.Address(), func(m messages.ConfigApplied) messages.SyncMsg { return m }))
	}
	supervise(sup, zone.New(log, store, zoneBox, published, cfg, zoneOpts))
	var g *gossip.Actor
	if cfg.Overwatch != nil && cfg.Overwatch.Gossip != nil {
		var err error
		if g, err = gossip.NewOverwatch(log, gossipBox, zoneBox.Address(), hooksBox.Address(), cfg, gossip.Options{}); err != nil {
			return fmt.Errorf("overwatch: %w", err)
		}
		supervise(sup, g)
		consumers = append(consumers, consumer("gossip", gossipBox.Address(), func(m messages.ConfigApplied) messages.GossipMsg { return m }))
	}
	dns := responder.New(log, store, cfg.DNS.ListenAddress, responder.Options{})
	supervise(sup, dns)
	// Verdicts go to the zone (must arrive) and, best effort, to the
	// backend-health hooks (a full hooks mailbox refuses and counts).
	toZone := health.ToZone(zoneBox.Address())
	report := func(ctx context.Context, m messages.BackendHealth) error {
		if err := toZone(ctx, m); err != nil {
			return err
		}
		_ = hooksBox.Address().Send(ctx, messages.HookEvent{Event: config.HookBackendHealth, Backend: &m, At: m.At})
		return nil
	}
	supervise(sup, health.New(log, healthBox, report, cfg, health.Options{}))
	supervise(sup, &reloader{
		log: log.With().Str("actor", "reload").Logger(), path: path, load: config.Load,
		signals: reloads, requests: reloadBox, current: cfg, consumers: consumers,
	})
	// The API starts last so that it drains first: readiness turns 503
	// before anything else stops.
	sources := api.OverwatchSources{
		Store:   store,
		Zone:    zoneBox.Address(),
		Reload:  reloadBox.Address(),
		Ready:   overwatchReadiness(store, dns, g),
		Agents:  agentsOf(g),
		Gossip:  gossipOf(g),
		Node:    cfg.NodeID(),
		Region:  cfg.Region(),
		Version: versionString(),
		DNSSEC:  cfg.Overwatch.DNSSEC.Enabled,
	}
	if keySync != nil {
		sources.Signer, sources.KeySync, sources.Sync = signerBox.Address(), keySync, syncBox.Address()
	}
	supervise(sup, api.NewOverwatch(log, cfg.API, sources))
	configLoadedAt.Set(float64(time.Now().Unix()))

	log.Info().Str("config", path).Str("dns", cfg.DNS.ListenAddress).Str("metrics", cfg.Metrics.ListenAddress).
		Strs("zones", cfg.DNS.Zones).Int("domains", len(cfg.Domains)).Int("backends", len(cfg.Backends)).
		Str("version", versionString()).Msg("overwatch starting")
	err := sup.Run(ctx)
	if err != nil {
		log.Error().Err(err).Msg("overwatch stopped with an error")
		return err
	}
	log.Info().Msg("overwatch stopped")
	return nil
}

type mailbox interface {
	Name() string
	Len() int
}

// exportDepth exports each mailbox's depth as opengslb_mailbox_depth.
func exportDepth(boxes ...mailbox) {
	for _, box := range boxes {
		metrics.GetOrCreateGauge(fmt.Sprintf(`opengslb_mailbox_depth{mailbox=%q}`, box.Name()), func() float64 { return float64(box.Len()) })
	}
}

// overwatchReadiness is the API's /api/v1/ready: DNS is serving a loaded
// configuration and, with gossip, the warm-up is over (until then
// agent-backed names answer SERVFAIL, and a rolling restart must wait).
func overwatchReadiness(store *zone.Store, dns *responder.Actor, g *gossip.Actor) func() string {
	return func() string {
		select {
		case <-dns.Ready():
		default:
			return "DNS is not serving yet"
		}
		snap := store.Load()
		if snap == nil {
			return "no zone snapshot yet"
		}
		if g != nil && !snap.Warm {
			return "gossip warm-up: not every agent has reported yet"
		}
		return ""
	}
}

// gossipOf summarises this overwatch's view of the cluster, for
// /api/v1/status: isolated says every other overwatch it knows has
// failed, so it may be the one cut off and holds agents' backends
// (going stale) rather than withdrawing them.
func gossipOf(g *gossip.Actor) func() any {
	if g == nil {
		return nil
	}
	return func() any {
		st := g.Status()
		type view struct {
			Isolated    bool           `json:"isolated"`
			HeldAgents  int            `json:"held_agents"`
			Members     map[string]int `json:"members"`
			Overwatches map[string]int `json:"overwatches"`
		}
		v := view{Isolated: st.Isolated, HeldAgents: st.HeldAgents, Members: map[string]int{}, Overwatches: map[string]int{}}
		for _, m := range st.Members {
			v.Members[m.Status]++
			if m.Role == gossip.RoleOverwatch && m.Name != st.Node {
				v.Overwatches[m.Status]++
			}
		}
		return v
	}
}

// agentsOf lists what this overwatch knows of each agent, for the API.
func agentsOf(g *gossip.Actor) func() any {
	if g == nil {
		return nil
	}
	return func() any {
		st := g.Status()
		members := make(map[string]string, len(st.Members))
		for _, m := range st.Members {
			members[m.Name] = m.Status
		}
		type agentView struct {
			gossip.AgentStatus
			SerfStatus string `json:"serf_status"`
		}
		out := make([]agentView, 0, len(st.Agents))
		for _, a := range st.Agents {
			out = append(out, agentView{AgentStatus: a, SerfStatus: members[a.Agent]})
		}
		return out
	}
}
