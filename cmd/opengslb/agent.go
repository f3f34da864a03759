package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/opengslb/opengslb/actors/api"
	"github.com/opengslb/opengslb/actors/gossip"
	"github.com/opengslb/opengslb/actors/health"
	"github.com/opengslb/opengslb/actors/hooks"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func runAgentCommand(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return errors.New("agent: --config FILE is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if cfg.Mode != config.ModeAgent {
		return fmt.Errorf("agent: %s has mode = %q; run it with `opengslb %s` or `opengslb run`", path, cfg.Mode, cfg.Mode)
	}
	return runAgent(cfg, path)
}

// runAgent wires the agent's actors: health checks of local backends feed
// the gossip actor, which reports them to every overwatch. SIGTERM and
// SIGINT leave the cluster gracefully, so overwatches withdraw this agent's
// backends at once rather than after failure detection.
func runAgent(cfg *config.Config, path string) error {
	log := stderrLogger(cfg.Logging)
	events := runtimeEvents(log)
	registerBuildInfo()

	ctx, reloads, stop := daemonSignals()
	defer stop()

	// Local verdicts must reach the gossip actor: block, bounded. Hooks
	// must never stall gossip: reject when full, and count it.
	gossipBox := runtime.NewMailbox[messages.GossipMsg]("gossip", 1024, runtime.Block, events)
	healthBox := runtime.NewMailbox[messages.HealthMsg]("health", 1, runtime.Latest, events)
	hooksBox := runtime.NewMailbox[messages.HookMsg]("hooks", 256, runtime.Reject, events)
	exportDepth(gossipBox, healthBox, hooksBox)

	g, err := gossip.NewAgent(log, gossipBox, hooksBox.Address(), cfg, gossip.Options{})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	self := hooks.Self{Name: cfg.NodeID(), Role: "agent", Tags: map[string]string{"role": "agent", "region": cfg.Region()}}

	sup := runtime.NewSupervisor("agent", runtime.Options{Events: events, StopTimeout: 10 * time.Second})
	supervise(sup, api.NewMetrics(log, cfg.Metrics.ListenAddress))
	supervise(sup, hooks.New(log, hooksBox, self, cfg.Hooks, hooks.Options{}))
	// The agent keeps trying to join while no overwatch answers; that must
	// not stop the process (or its health checks) from starting, so the
	// gossip actor does not gate the actors after it. /api/v1/ready tells
	// whether it has joined.
	supervise(sup, joinsInBackground{g})
	supervise(sup, health.New(log, healthBox, health.ToGossip(gossipBox.Address()), cfg, health.Options{}))
	supervise(sup, api.NewAgent(log, cfg.API.ListenAddress, api.AgentSources{
		Ready: func() string {
			select {
			case <-g.Ready():
				return ""
			default:
				return "not joined to any overwatch yet"
			}
		},
		Backends: func() any { return g.Status() },
	}))
	supervise(sup, &reloader{
		log: log.With().Str("actor", "reload").Logger(), path: path, load: config.Load,
		signals: reloads, current: cfg,
		consumers: []configConsumer{
			consumer("gossip", gossipBox.Address(), func(m messages.ConfigApplied) messages.GossipMsg { return m }),
			consumer("health", healthBox.Address(), func(m messages.ConfigApplied) messages.HealthMsg { return m }),
			consumer("hooks", hooksBox.Address(), func(m messages.ConfigApplied) messages.HookMsg { return m }),
		},
	})
	configLoadedAt.Set(float64(time.Now().Unix()))

	log.Info().Str("config", path).Str("node", cfg.NodeID()).Str("gossip", cfg.Agent.Gossip.BindAddress).
		Strs("overwatches", cfg.Agent.Gossip.OverwatchNodes).Int("backends", len(cfg.Agent.Backends)).
		Str("version", versionString()).Msg("agent starting")
	if err := sup.Run(ctx); err != nil {
		log.Error().Err(err).Msg("agent stopped with an error")
		return err
	}
	log.Info().Msg("agent stopped")
	return nil
}

// joinsInBackground runs the agent's gossip actor without its Ready: the
// supervisor starts the next actor at once instead of waiting (at most its
// start timeout) for a join that may take as long as the overwatches are
// away.
type joinsInBackground struct{ g *gossip.Actor }

func (j joinsInBackground) Name() string                    { return j.g.Name() }
func (j joinsInBackground) Run(ctx context.Context) error   { return j.g.Run(ctx) }
func (j joinsInBackground) Drain(ctx context.Context) error { return j.g.Drain(ctx) }
