// Package health provides the HealthActor: it probes each configured backend
// (http, https, tcp or none) on its interval, turns results into a health
// state with rise/fall thresholds, and reports every change of state to the
// ZoneActor as a messages.BackendHealth.
package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// Options are the HealthActor's injectable dependencies. The zero value is
// the production setting.
type Options struct {
	// Now stamps BackendHealth.At. Default time.Now.
	Now func() time.Time
	// TLSConfig is the base of every https check's TLS settings (RootCAs,
	// client certificates). It is cloned per target, which then sets
	// ServerName to health_check.host (when set) and InsecureSkipVerify.
	TLSConfig *tls.Config
}

// Reporter hands a verdict on: to the ZoneActor on an overwatch, to the
// GossipActor on an agent. An error means the verdict was not taken; the
// target sends its current state again after its next check.
type Reporter func(context.Context, messages.BackendHealth) error

// ToZone reports to a ZoneActor's mailbox.
func ToZone(zone runtime.Address[messages.ZoneMsg]) Reporter {
	return func(ctx context.Context, m messages.BackendHealth) error { return zone.Send(ctx, m) }
}

// ToGossip reports to a GossipActor's mailbox (on an agent).
func ToGossip(gossip runtime.Address[messages.GossipMsg]) Reporter {
	return func(ctx context.Context, m messages.BackendHealth) error { return gossip.Send(ctx, m) }
}

// Actor is the HealthActor. Construct it with New, then Run it under a
// supervisor.
type Actor struct {
	log    zerolog.Logger
	inbox  *runtime.Mailbox[messages.HealthMsg]
	report Reporter
	opts   Options

	ready     chan struct{}
	readyOnce sync.Once

	// cfg and gen are the last configuration applied; only the Run goroutine
	// touches them. A restarted Run rebuilds its targets from them.
	cfg *config.Config
	gen uint64
	// validate lists agent-reported backends this overwatch checks itself
	// (validation.enabled); the ZoneActor sends a new list when it changes.
	validate []messages.ValidationTarget

	// onStart, when set (by tests), is called by the Run goroutine each time
	// a target is started.
	onStart func(messages.BackendKey)
}

// New returns a HealthActor that checks the backends of cfg (nil: none
// until a ConfigApplied arrives): [[backends]] on an overwatch,
// [[agent.backends]] on an agent. It takes ConfigApplied and
// ValidationTargets from inbox and hands every verdict to report. It
// starts nothing.
func New(log zerolog.Logger, inbox *runtime.Mailbox[messages.HealthMsg], report Reporter, cfg *config.Config, opts Options) *Actor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Actor{
		log:    log.With().Str("actor", "health").Logger(),
		inbox:  inbox,
		report: report,
		opts:   opts,
		ready:  make(chan struct{}),
		cfg:    cfg,
	}
}

// Name is the actor's name for the supervisor, logs and metrics.
func (a *Actor) Name() string { return "health" }

// Ready is closed once the first Run has started its checks.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

// Run checks the targets of the last applied configuration until ctx ends,
// reconciling them on every ConfigApplied. It rebuilds everything on entry,
// so a supervisor may call it again after a failure, and it returns only
// after every goroutine it started has exited. A panic in a check is
// returned as an error so the supervisor counts a restart.
func (a *Actor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	targets := make(map[messages.BackendKey]*target)
	failed := make(chan error, 1)
	defer func() {
		cancel()
		wg.Wait()
		// Nothing checks these backends any more: their verdict is unknown
		// until a new Run decides again. The series stay registered, since
		// a restarted Run checks the same backends.
		for _, t := range targets {
			t.metrics.setState(messages.HealthUnknown)
		}
	}()

	a.reconcile(ctx, &wg, failed, targets)
	a.readyOnce.Do(func() { close(a.ready) })

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case msg := <-a.inbox.Receive():
			switch m := msg.(type) {
			case messages.ConfigApplied:
				if m.Config == nil {
					a.log.Warn().Uint64("generation", m.Generation).Msg("config applied without a config: ignored")
					continue
				}
				if m.Generation < a.gen {
					a.log.Warn().Uint64("generation", m.Generation).Uint64("current", a.gen).Msg("stale config generation: ignored")
					continue
				}
				a.cfg, a.gen = m.Config, m.Generation
				a.reconcile(ctx, &wg, failed, targets)
			case messages.ValidationTargets:
				a.validate = m.Backends
				a.reconcile(ctx, &wg, failed, targets)
			default:
				unexpectedMessages.Inc()
				a.log.Warn().Str("type", fmt.Sprintf("%T", msg)).Msg("unexpected message: ignored")
			}
		}
	}
}

// reconcile makes targets match a.cfg: a target whose key and check are
// unchanged keeps running (its state and schedule survive the reload); a
// removed one is stopped and its series unregistered; a new or changed one
// starts from HealthUnknown. Stopped targets have exited before new ones
// start, so no two goroutines ever check the same backend.
func (a *Actor) reconcile(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, targets map[messages.BackendKey]*target) {
	want := a.specs()
	index := make(map[messages.BackendKey]spec, len(want))
	for _, s := range want {
		index[s.key] = s
	}

	var stopping []*target
	for key, t := range targets {
		if s, ok := index[key]; ok && sameCheck(s.hc, t.hc) {
			continue
		}
		t.cancel()
		stopping = append(stopping, t)
		delete(targets, key)
	}
	for _, t := range stopping {
		<-t.done
		if _, ok := index[t.key]; !ok {
			t.metrics.unregister()
			t.log.Info().Msg("backend removed: check stopped")
		}
	}

	for _, s := range want {
		if _, ok := targets[s.key]; ok {
			continue
		}
		targets[s.key] = a.start(ctx, wg, failed, s)
	}
}

// specs lists the backends of a.cfg in file order. A backend whose address
// does not parse or whose key repeats an earlier one is logged and skipped;
// config validation should have refused both.
func (a *Actor) specs() []spec {
	if a.cfg == nil {
		return nil
	}
	backends := a.cfg.Backends
	if a.cfg.Mode == config.ModeAgent && a.cfg.Agent != nil {
		backends = a.cfg.Agent.Backends
	}
	out := make([]spec, 0, len(backends)+len(a.validate))
	seen := make(map[messages.BackendKey]bool, len(backends))
	for _, b := range backends {
		addr, err := netip.ParseAddr(b.Address)
		if err != nil {
			a.log.Error().Err(err).Str("service", b.Service).Str("address", b.Address).Msg("backend address: not checked")
			continue
		}
		key := messages.BackendKey{Service: b.Service, Address: addr.Unmap(), Port: b.Port}
		if seen[key] {
			a.log.Warn().Str("service", b.Service).Str("backend", key.Endpoint()).Msg("duplicate backend: first one checked")
			continue
		}
		hc := normalize(b.HealthCheck)
		switch hc.Type {
		case config.CheckHTTP, config.CheckHTTPS, config.CheckTCP, config.CheckNone:
		default:
			a.log.Error().Str("service", b.Service).Str("backend", key.Endpoint()).Str("type", hc.Type).Msg("unknown health check type: not checked")
			continue
		}
		seen[key] = true
		out = append(out, spec{key: key, hc: hc})
	}
	return append(out, a.validationSpecs(seen)...)
}

// validationSpecs turns the agent-reported backends to validate into checks
// with the agent's own probe (a "none" check is validated by a TCP connect:
// the overwatch should see the port open at least) at validation's interval
// and timeout. A backend already checked as a static one is not checked
// twice.
func (a *Actor) validationSpecs(seen map[messages.BackendKey]bool) []spec {
	if a.cfg == nil || a.cfg.Overwatch == nil || !a.cfg.Overwatch.Validation.Enabled {
		return nil
	}
	v := a.cfg.Overwatch.Validation
	var out []spec
	for _, t := range a.validate {
		if seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		hc := config.HealthCheck{
			Type:           t.Check.Type,
			Path:           t.Check.Path,
			Host:           t.Check.Host,
			ExpectedStatus: t.Check.ExpectedStatus,
			Interval:       v.CheckInterval,
			Timeout:        v.CheckTimeout,
			// Two misses before overruling an agent: one lost packet
			// between sites should not pull a backend its agent sees up.
			FailureThreshold: 2,
			SuccessThreshold: 1,
			// Agents check what they run; the overwatch cannot know the
			// certificate a backend presents to its local agent.
			InsecureSkipVerify: t.Check.Type == config.CheckHTTPS,
		}
		switch hc.Type {
		case config.CheckHTTP, config.CheckHTTPS, config.CheckTCP:
		default:
			hc.Type = config.CheckTCP
		}
		out = append(out, spec{key: t.Key, hc: normalize(hc)})
	}
	return out
}

// start launches one target's goroutine, counted in wg. A panic in it is
// recovered and handed to Run, which returns it as its error.
func (a *Actor) start(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, s spec) *target {
	ctx, cancel := context.WithCancel(ctx)
	endpoint := s.key.Endpoint()
	dialer := &net.Dialer{}
	var p prober
	switch s.hc.Type {
	case config.CheckHTTP, config.CheckHTTPS:
		p = newHTTPProber(endpoint, s.hc, s.hc.Timeout.Duration, a.opts.TLSConfig, dialer)
	default:
		p = &tcpProber{endpoint: endpoint, timeout: s.hc.Timeout.Duration, dialer: dialer}
	}
	t := &target{
		spec:    s,
		log:     a.log.With().Str("service", s.key.Service).Str("backend", endpoint).Logger(),
		metrics: newTargetMetrics(s.key),
		prober:  p,
		report:  a.report,
		now:     a.opts.Now,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	if a.onStart != nil {
		a.onStart(s.key)
	}
	wg.Go(func() {
		defer close(t.done)
		defer func() {
			if r := recover(); r != nil {
				err := fmt.Errorf("health: check of %s: %w: %v\n%s", s.key, runtime.ErrPanic, r, debug.Stack())
				select {
				case failed <- err:
				default: // Run is already returning another panic
				}
			}
		}()
		t.run(ctx)
	})
	return t
}
