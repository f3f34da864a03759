package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/urfave/cli/v2"

	"github.com/opengslb/opengslb/actors/api"
	"github.com/opengslb/opengslb/actors/health"
	"github.com/opengslb/opengslb/actors/responder"
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

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	reloads := make(chan struct{}, 1)
	go forwardSignals(ctx, hups, reloads)

	// Mailbox policies. Health verdicts must not be lost: block, bounded by
	// the sender's deadline. The health actor only needs the newest config.
	zoneBox := runtime.NewMailbox[messages.ZoneMsg]("zone", 1024, runtime.Block, events)
	healthBox := runtime.NewMailbox[messages.HealthMsg]("health", 1, runtime.Latest, events)
	for _, box := range []interface {
		Name() string
		Len() int
	}{zoneBox, healthBox} {
		metrics.GetOrCreateGauge(fmt.Sprintf(`opengslb_mailbox_depth{mailbox=%q}`, box.Name()), func() float64 { return float64(box.Len()) })
	}
	published := runtime.NewTopic[messages.SnapshotPublished]("snapshots", events)
	store := &zone.Store{}

	sup := runtime.NewSupervisor("overwatch", runtime.Options{Events: events, StopTimeout: 10 * time.Second})
	sup.Add(api.NewMetrics(log, cfg.Metrics.ListenAddress))
	sup.Add(zone.New(log, store, zoneBox, published, cfg, zone.Options{}))
	sup.Add(responder.New(log, store, cfg.DNS.ListenAddress, responder.Options{}))
	sup.Add(health.New(log, healthBox, health.ToZone(zoneBox.Address()), cfg, health.Options{}))
	sup.Add(&reloader{
		log: log.With().Str("actor", "reload").Logger(), path: path, load: config.Load,
		signals: reloads, current: cfg,
		consumers: []configConsumer{
			consumer("zone", zoneBox.Address(), func(m messages.ConfigApplied) messages.ZoneMsg { return m }),
			consumer("health", healthBox.Address(), func(m messages.ConfigApplied) messages.HealthMsg { return m }),
		},
	})
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

// forwardSignals turns SIGHUPs into reload requests; several signals
// while one reload runs collapse into one more reload.
func forwardSignals(ctx context.Context, hups <-chan os.Signal, reloads chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hups:
			select {
			case reloads <- struct{}{}:
			default:
			}
		}
	}
}
