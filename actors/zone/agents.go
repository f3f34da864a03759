package zone

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/opengslb/opengslb/messages"
)

// agentState is what the zone holds of one agent: its last accepted report
// per service. The gossip actor has already checked tokens and sequences.
type agentState struct {
	region  string
	reports map[string]messages.AgentReport
	stale   map[string]bool
}

var (
	warmupDone      = metrics.NewGauge(`opengslb_overwatch_warmup_done`, nil)
	agentsWithdrawn = metrics.NewCounter(`opengslb_overwatch_agents_withdrawn_total`)
)

func (a *Actor) agent(name string) *agentState {
	st := a.agents[name]
	if st == nil {
		st = &agentState{reports: make(map[string]messages.AgentReport), stale: make(map[string]bool)}
		a.agents[name] = st
	}
	return st
}

func (a *Actor) report(m messages.AgentReport) bool {
	st := a.agent(m.Agent)
	st.region = m.Region
	if prev, ok := st.reports[m.Service]; ok && prev.Seq >= m.Seq {
		return false // the gossip actor orders reports; this is defence in depth
	}
	wasStale := st.stale[m.Service]
	prev, had := st.reports[m.Service]
	st.reports[m.Service] = m
	delete(st.stale, m.Service)
	if wasStale {
		a.log.Info().Str("agent", m.Agent).Str("service", m.Service).Msg("agent reports again; no longer stale")
	}
	return !had || wasStale || !sameBackends(prev.Backends, m.Backends)
}

func sameBackends(a, b []messages.AgentBackend) bool {
	return slices.EqualFunc(a, b, func(x, y messages.AgentBackend) bool {
		return x.Address == y.Address && x.Port == y.Port && x.Weight == y.Weight && x.Priority == y.Priority &&
			x.Region == y.Region && x.Health == y.Health && x.Check.Type == y.Check.Type && x.Check.Path == y.Check.Path &&
			x.Check.Host == y.Check.Host && slices.Equal(x.Check.ExpectedStatus, y.Check.ExpectedStatus)
	})
}

// gone withdraws an agent's backends at once: serf saw it fail or leave.
func (a *Actor) gone(m messages.AgentGone) bool {
	st, ok := a.agents[m.Agent]
	if !ok || len(st.reports) == 0 {
		delete(a.agents, m.Agent)
		return false
	}
	delete(a.agents, m.Agent)
	agentsWithdrawn.Inc()
	a.log.Warn().Str("agent", m.Agent).Str("reason", m.Reason).Int("services", len(st.reports)).Msg("agent gone: its backends are withdrawn")
	return true
}

func (a *Actor) alive(m messages.AgentAlive) bool {
	a.agent(m.Agent).region = m.Region
	return false
}

// age marks reports stale past stale.threshold and removes them past
// stale.remove_after. It reports whether anything changed.
func (a *Actor) age() bool {
	if a.cfg == nil || a.cfg.Overwatch == nil {
		return false
	}
	threshold, removeAfter := a.cfg.Overwatch.Stale.Threshold.Duration, a.cfg.Overwatch.Stale.RemoveAfter.Duration
	if threshold <= 0 || removeAfter <= 0 {
		return false
	}
	now := a.opts.Now()
	changed := false
	for name, st := range a.agents {
		for service, r := range st.reports {
			age := now.Sub(r.Received)
			switch {
			case age > removeAfter:
				delete(st.reports, service)
				delete(st.stale, service)
				changed = true
				a.log.Warn().Str("agent", name).Str("service", service).Dur("age", age).Msg("no report past stale.remove_after: backends withdrawn")
			case age > threshold && !st.stale[service]:
				st.stale[service] = true
				changed = true
				a.log.Warn().Str("agent", name).Str("service", service).Dur("age", age).Msg("no report past stale.threshold: backends marked stale")
			}
		}
		if len(st.reports) == 0 && len(st.stale) == 0 && changed {
			delete(a.agents, name)
		}
	}
	return changed
}

// agentBackends flattens the reports for Build, in a stable order so equal
// states build equal snapshots.
func (a *Actor) agentBackends() []AgentBackend {
	names := make([]string, 0, len(a.agents))
	for name := range a.agents {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []AgentBackend
	for _, name := range names {
		st := a.agents[name]
		services := make([]string, 0, len(st.reports))
		for s := range st.reports {
			services = append(services, s)
		}
		sort.Strings(services)
		for _, service := range services {
			r := st.reports[service]
			for _, b := range r.Backends {
				out = append(out, AgentBackend{Agent: name, Service: service, Backend: b, Received: r.Received, Stale: st.stale[service]})
			}
		}
	}
	return out
}

// sendValidationTargets gives the HealthActor the agent-reported backends
// to validate when that list changed. The mailbox keeps only the latest
// list, so this never blocks the zone.
func (a *Actor) sendValidationTargets(ctx context.Context) {
	if a.opts.Health.IsZero() || a.cfg == nil || a.cfg.Overwatch == nil || !a.cfg.Overwatch.Validation.Enabled {
		return
	}
	var targets []messages.ValidationTarget
	seen := make(map[messages.BackendKey]bool)
	for _, ab := range a.agentBackends() {
		key := ab.Backend.Key(ab.Service)
		key.Address = key.Address.Unmap()
		if seen[key] {
			continue
		}
		seen[key] = true
		targets = append(targets, messages.ValidationTarget{Key: key, Check: ab.Backend.Check})
	}
	var sig strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&sig, "%s %+v;", t.Key, t.Check)
	}
	if sig.String() == a.validating {
		return
	}
	if err := a.opts.Health.Send(ctx, messages.ValidationTargets{Backends: targets}); err != nil {
		a.log.Error().Err(err).Msg("validation targets not handed to the health actor")
		return
	}
	a.validating = sig.String()
}

// forgetUntokenedReports drops what agents reported for services that no
// longer have a token: the overwatch no longer trusts anyone to speak for
// them.
func (a *Actor) forgetUntokenedReports() {
	var tokens map[string]string
	if gossiping(a.cfg) {
		tokens = a.cfg.Overwatch.AgentTokens
	}
	for name, st := range a.agents {
		for service := range st.reports {
			if _, ok := tokens[service]; !ok {
				delete(st.reports, service)
				delete(st.stale, service)
				a.log.Warn().Str("agent", name).Str("service", service).Msg("service has no agent token any more: its agent backends are withdrawn")
			}
		}
	}
}
