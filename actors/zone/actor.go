package zone

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// DefaultCoalesce is how long the actor gathers changes before it rebuilds:
// a burst of health changes (a rack losing power) becomes one snapshot.
const DefaultCoalesce = 20 * time.Millisecond

// Options tune the actor; zero values take defaults.
type Options struct {
	Coalesce time.Duration
	Now      func() time.Time
	// Health receives the agent-reported backends to validate; a zero
	// address sends nothing (no validation, or a standalone overwatch).
	Health runtime.Address[messages.HealthMsg]
	// StaleEvery is how often report ages are checked; default 1s.
	StaleEvery time.Duration
	// Signer signs snapshots while overwatch.dnssec.enabled; a zero
	// address serves every zone unsigned.
	Signer runtime.Address[messages.SignerMsg]
	// SignTimeout bounds one signing request; default 30s, time enough to
	// sign a large configuration's first snapshot.
	SignTimeout time.Duration
}

// Actor owns the desired state (configuration and health) and publishes a
// new snapshot whenever it changes.
type Actor struct {
	log       zerolog.Logger
	store     *Store
	inbox     *runtime.Mailbox[messages.ZoneMsg]
	published *runtime.Topic[messages.SnapshotPublished]
	opts      Options

	// Touched only by Run's goroutine; kept across restarts so a panic
	// does not lose what the actor had learnt.
	cfg        *config.Config
	generation uint64
	health     map[messages.BackendKey]messages.HealthState
	serial     uint32
	agents     map[string]*agentState
	// warm is false until the gossip actor says the cluster's state is in.
	warm bool
	// validating is the last validation list sent to the HealthActor.
	validating string
	// exported holds the domains whose per-domain series exist, so a
	// domain removed by a reload stops being exported.
	exported map[string]bool
	// overrides are the operator's decisions, keyed by Override.Key; nil
	// until loaded from data_dir.
	overrides map[string]messages.Override
	// pendingReplies wait for the snapshot that serves their override.
	pendingReplies []chan<- error
	// disagree holds the agent backends an agent calls healthy but this
	// overwatch's validation cannot reach, to log each one once.
	disagree map[string]bool
	// rebuildAt, when set, is when the snapshot must be built again even
	// if nothing changed: its signatures need refreshing, or the last
	// build failed and is retried.
	rebuildAt time.Time

	readyOnce sync.Once
	ready     chan struct{}
}

var (
	snapshotBuilds      = metrics.NewCounter(`opengslb_snapshot_builds_total{result="ok"}`)
	snapshotBuildErrors = metrics.NewCounter(`opengslb_snapshot_builds_total{result="error"}`)
	snapshotBuildTime   = metrics.NewPrometheusHistogram(`opengslb_snapshot_build_duration_seconds`)
)

// New prepares the actor with the configuration in force at start-up; the
// first snapshot is published as soon as Run starts.
func New(log zerolog.Logger, store *Store, inbox *runtime.Mailbox[messages.ZoneMsg], published *runtime.Topic[messages.SnapshotPublished], cfg *config.Config, opts Options) *Actor {
	if opts.Coalesce <= 0 {
		opts.Coalesce = DefaultCoalesce
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StaleEvery <= 0 {
		opts.StaleEvery = time.Second
	}
	if opts.SignTimeout <= 0 {
		opts.SignTimeout = 30 * time.Second
	}
	return &Actor{
		log:       log.With().Str("actor", "zone").Logger(),
		store:     store,
		inbox:     inbox,
		published: published,
		opts:      opts,
		cfg:       cfg,
		health:    make(map[messages.BackendKey]messages.HealthState),
		agents:    make(map[string]*agentState),
		warm:      !gossiping(cfg),
		ready:     make(chan struct{}),
	}
}

// Name implements runtime.Actor.
func (a *Actor) Name() string { return "zone" }

// Ready is closed once the first snapshot is published.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

// Run publishes a snapshot of the current state, then rebuilds after every
// burst of changes until ctx ends.
func (a *Actor) Run(ctx context.Context) error {
	if err := a.loadOverrides(); err != nil {
		a.overrides = nil
		return fmt.Errorf("%w: %w", err, runtime.ErrFatal)
	}
	if err := a.rebuild(ctx); err != nil && a.store.Load() == nil {
		// Nothing to serve at all: a restart will not fix a snapshot
		// that cannot be built from this configuration.
		return fmt.Errorf("zone: first snapshot: %w: %w", err, runtime.ErrFatal)
	}
	a.readyOnce.Do(func() { close(a.ready) })

	var (
		timer   *time.Timer
		timeout <-chan time.Time
	)
	ages := time.NewTicker(a.opts.StaleEvery)
	defer func() {
		ages.Stop()
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		changed := false
		select {
		case <-ctx.Done():
			a.answerPending(fmt.Errorf("%w: saved, but the overwatch stopped before serving it", messages.ErrNotServed))
			return nil
		case msg := <-a.inbox.Receive():
			changed = a.apply(msg)
		case <-ages.C:
			changed = a.age()
			changed = a.expireOverrides() || changed
			changed = changed || (!a.rebuildAt.IsZero() && !a.opts.Now().Before(a.rebuildAt))
		case <-timeout:
			timer, timeout = nil, nil
			if err := a.rebuild(ctx); err != nil {
				a.log.Error().Err(err).Msg("snapshot not rebuilt; the previous one keeps serving, retrying in a second")
				a.answerPending(fmt.Errorf("%w: saved, but not served yet: %w", messages.ErrNotServed, err))
			} else {
				a.answerPending(nil)
			}
			a.sendValidationTargets(ctx)
		}
		if changed && timer == nil {
			timer = time.NewTimer(a.opts.Coalesce)
			timeout = timer.C
		}
	}
}

// apply folds one message into the desired state and reports whether the
// served snapshot may change.
func (a *Actor) apply(msg messages.ZoneMsg) bool {
	switch m := msg.(type) {
	case messages.ConfigApplied:
		if m.Config == nil || m.Generation < a.generation {
			return false
		}
		a.forgetChangedBackends(m.Config)
		a.cfg, a.generation = m.Config, m.Generation
		a.forgetUntokenedReports()
		return true
	case messages.BackendHealth:
		key := m.Key
		key.Address = key.Address.Unmap()
		if a.health[key] == m.State {
			return false
		}
		a.health[key] = m.State
		return true
	case messages.KeysChanged:
		return true
	case messages.SetOverride:
		return a.setOverride(m)
	case messages.ClearOverride:
		return a.clearOverride(m)
	case messages.AgentReport:
		return a.report(m)
	case messages.AgentGone:
		return a.gone(m)
	case messages.AgentAlive:
		return a.alive(m)
	case messages.WarmupDone:
		if a.warm {
			return false
		}
		a.warm = true
		ev := a.log.Info().Str("reason", m.Reason).Int("agents", m.Agents)
		if len(m.Missing) > 0 {
			ev = ev.Strs("missing", m.Missing)
		}
		ev.Msg("warm-up done: agent-backed names answer from what agents reported")
		warmupDone.Set(1)
		return true
	default:
		a.log.Warn().Type("message", msg).Msg("unknown message dropped")
		return false
	}
}

// forgetChangedBackends drops the health of backends the new config
// removes. A backend whose check changed keeps its last verdict until the
// new check decides (the HealthActor reports the first decision): dropping
// it would make a healthy backend unknown and could tip its domain into
// failing open onto backends known to be down.
func (a *Actor) forgetChangedBackends(next *config.Config) {
	keep := make(map[messages.BackendKey]bool, len(next.Backends))
	prev := make(map[messages.BackendKey]bool)
	if a.cfg != nil {
		for _, b := range a.cfg.Backends {
			prev[backendKey(b)] = true
		}
	}
	for _, b := range next.Backends {
		keep[backendKey(b)] = true
	}
	// Validation verdicts about agents' backends outlive a reload: the
	// agents and their checks did not change with this file.
	for _, ab := range a.agentBackends() {
		key := ab.Backend.Key(ab.Service)
		key.Address = key.Address.Unmap()
		if !prev[key] {
			keep[key] = true
		}
	}
	for key := range a.health {
		if !keep[key] {
			delete(a.health, key)
		}
	}
}

func backendKey(b config.Backend) messages.BackendKey {
	addr, _ := netip.ParseAddr(b.Address)
	return messages.BackendKey{Service: b.Service, Address: addr.Unmap(), Port: b.Port}
}

// retryBuild is how soon a failed build is tried again.
const retryBuild = time.Second

func (a *Actor) rebuild(ctx context.Context) error {
	started := a.opts.Now()
	serial := uint32(started.Unix())
	// Serials only grow (RFC 1982), even for two builds in one second.
	if serial <= a.serial {
		serial = a.serial + 1
	}
	in := Input{Config: a.cfg, Health: a.health, Agents: a.agentBackends(), Cold: !a.warm,
		Overrides: sortedOverrides(a.overrides), Now: started}
	if sec := a.dnssec(); sec != nil {
		in.Sign, in.Denial = a.askSigner(ctx), sec.Denial
	}
	snap, err := Build(in, serial, a.generation, started)
	if err != nil {
		snapshotBuildErrors.Inc()
		a.rebuildAt = started.Add(retryBuild)
		return fmt.Errorf("zone: build snapshot for generation %d: %w", a.generation, err)
	}
	a.rebuildAt = snap.RefreshAt()
	a.serial = serial
	a.store.publish(snap)
	snapshotBuilds.Inc()
	snapshotBuildTime.UpdateDuration(started)

	a.forgetRemovedDomains(snap)
	for _, d := range snap.domains {
		setFallbackGauge(d)
	}
	healthy := countBackends(snap)
	a.reportDisagreements(snap)
	a.log.Debug().Uint32("serial", serial).Int("domains", len(snap.domains)).Int("healthy", healthy).Msg("snapshot published")
	if a.published != nil {
		a.published.Publish(messages.SnapshotPublished{
			Serial: serial, Generation: a.generation, Domains: len(snap.domains), Healthy: healthy, At: started,
		})
	}
	return nil
}

var (
	backendsHealthy   = metrics.NewGauge(`opengslb_overwatch_backends{state="healthy"}`, nil)
	backendsUnhealthy = metrics.NewGauge(`opengslb_overwatch_backends{state="unhealthy"}`, nil)
	backendsUnknown   = metrics.NewGauge(`opengslb_overwatch_backends{state="unknown"}`, nil)
	backendsStale     = metrics.NewGauge(`opengslb_overwatch_backends{state="stale"}`, nil)
)

// countBackends exports how many distinct backends (static and agent
// reported, of every domain) are in each state, and returns the healthy
// count. Stale backends are counted both by their state and as stale.
func countBackends(snap *Snapshot) int {
	type key struct {
		service, address, source string
		port                     uint16
	}
	seen := make(map[key]bool)
	var healthy, unhealthy, unknown, stale int
	for _, d := range snap.domains {
		for _, b := range d.Backends {
			k := key{b.Service, b.Address, b.Source, b.Port}
			if seen[k] {
				continue
			}
			seen[k] = true
			switch b.State {
			case messages.HealthHealthy.String():
				healthy++
			case messages.HealthUnhealthy.String():
				unhealthy++
			default:
				unknown++
			}
			if b.Stale {
				stale++
			}
		}
	}
	backendsHealthy.Set(float64(healthy))
	backendsUnhealthy.Set(float64(unhealthy))
	backendsUnknown.Set(float64(unknown))
	backendsStale.Set(float64(stale))
	return healthy
}

var validationDisagreements = metrics.NewGauge(`opengslb_overwatch_validation_disagreements`, nil)

// reportDisagreements logs each agent backend that its agent calls healthy
// while this overwatch's validation finds it unreachable (it is not
// served), once when it starts and once when it ends, and exports the count.
func (a *Actor) reportDisagreements(snap *Snapshot) {
	now := make(map[string]bool)
	for _, d := range snap.domains {
		for _, b := range d.Backends {
			if b.Claimed != messages.HealthHealthy.String() || b.Validated != messages.HealthUnhealthy.String() {
				continue
			}
			key := b.Service + "/" + b.Address + ":" + strconv.Itoa(int(b.Port)) + " from " + b.Source
			now[key] = true
			if !a.disagree[key] {
				a.log.Warn().Str("service", b.Service).Str("backend", b.Address).Uint16("port", b.Port).Str("agent", b.Source).
					Msg("agent says healthy but this overwatch cannot reach it: not served")
			}
		}
	}
	for key := range a.disagree {
		if !now[key] {
			a.log.Info().Str("backend", key).Msg("validation agrees with the agent again")
		}
	}
	a.disagree = now
	validationDisagreements.Set(float64(len(now)))
}

// dnssec returns the signing settings when snapshots are to be signed.
func (a *Actor) dnssec() *config.DNSSEC {
	if a.opts.Signer.IsZero() || a.cfg == nil || a.cfg.Overwatch == nil || !a.cfg.Overwatch.DNSSEC.Enabled {
		return nil
	}
	return &a.cfg.Overwatch.DNSSEC
}

// askSigner signs by asking the SignerActor, bounded by SignTimeout. The
// signer never asks the zone, so the two cannot wait on each other.
func (a *Actor) askSigner(ctx context.Context) SignFunc {
	return func(zones []messages.ZoneToSign) ([]messages.SignedZone, error) {
		ctx, cancel := context.WithTimeout(ctx, a.opts.SignTimeout)
		defer cancel()
		reply, err := runtime.Ask(ctx, a.opts.Signer, func(r chan<- messages.SignReply) messages.SignerMsg {
			return messages.SignRequest{Zones: zones, Reply: r}
		})
		if err != nil {
			return nil, err
		}
		return reply.Zones, reply.Err
	}
}

// gossiping reports whether agents may report to this overwatch.
func gossiping(cfg *config.Config) bool {
	return cfg != nil && cfg.Overwatch != nil && cfg.Overwatch.Gossip != nil
}

// forgetRemovedDomains unregisters the per-domain series of domains the
// new snapshot no longer has: a dashboard must not show a removed domain
// as still failing open.
func (a *Actor) forgetRemovedDomains(snap *Snapshot) {
	current := make(map[string]bool, len(snap.domains))
	for _, d := range snap.domains {
		current[d.Name] = true
	}
	for name := range a.exported {
		if !current[name] {
			metrics.UnregisterMetric(fallbackGaugeName(name))
			metrics.UnregisterMetric(fallbackCounterName(name))
		}
	}
	a.exported = current
}

func fallbackGaugeName(domain string) string {
	return fmt.Sprintf(`opengslb_domain_fallback_active{domain=%q}`, domain)
}

func fallbackCounterName(domain string) string {
	return fmt.Sprintf(`opengslb_dns_fallback_answers_total{domain=%q}`, domain)
}

func setFallbackGauge(d *Domain) {
	v := 0.0
	if d.FallbackActive {
		v = 1
	}
	metrics.GetOrCreateGauge(fallbackGaugeName(d.Name), nil).Set(v)
}
