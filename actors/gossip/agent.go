package gossip

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// serviceState is what an agent's Run knows of its last report of one
// service.
type serviceState struct {
	seq     uint64
	sentAt  time.Time
	sendErr string
	acks    map[string]AckStatus // by overwatch
}

// ackResult is one overwatch's answer to a report, from a collector.
type ackResult struct {
	service string
	seq     uint64
	from    string
	payload string
}

// planAgent derives, from cfg, the services this agent reports (those it
// holds a token for) and their configured backends. The health of each
// backend is filled in at send time.
func (a *Actor) planAgent(cfg *config.Config) error {
	if cfg == nil || cfg.Agent == nil {
		return errors.New("gossip: agent: not configured")
	}
	tokens := make(map[string][]byte, len(cfg.Agent.ServiceTokens))
	plan := make(map[string][]messages.AgentBackend, len(cfg.Agent.ServiceTokens))
	for svc, tok := range cfg.Agent.ServiceTokens {
		if tok == "" {
			return fmt.Errorf("gossip: agent.service_tokens.%s: empty token", svc)
		}
		tokens[svc] = []byte(tok)
		plan[svc] = nil
	}
	var untokened []string
	for i, b := range cfg.Agent.Backends {
		addr, err := netip.ParseAddr(b.Address)
		if err != nil {
			return fmt.Errorf("gossip: agent.backends[%d].address: %w", i, err)
		}
		if _, ok := tokens[b.Service]; !ok {
			if !slices.Contains(untokened, b.Service) {
				untokened = append(untokened, b.Service)
			}
			continue
		}
		region := b.Region
		if region == "" {
			region = cfg.Agent.Identity.Region
		}
		plan[b.Service] = append(plan[b.Service], messages.AgentBackend{
			Address:  addr.Unmap(),
			Port:     b.Port,
			Weight:   b.Weight,
			Priority: b.Priority,
			Region:   region,
			Check: messages.CheckSpec{
				Type:           b.HealthCheck.Type,
				Path:           b.HealthCheck.Path,
				Host:           b.HealthCheck.Host,
				ExpectedStatus: slices.Clone(b.HealthCheck.ExpectedStatus),
			},
		})
	}
	if len(untokened) > 0 {
		sort.Strings(untokened)
		a.log.Error().Strs("services", untokened).
			Msg("backends of services without a token in agent.service_tokens: not reported")
	}
	a.tokens, a.plan = tokens, plan
	// Forget verdicts on backends no longer configured, so a backend
	// added back later starts unknown rather than with an old verdict.
	for k := range a.health {
		if !slices.ContainsFunc(plan[k.Service], func(b messages.AgentBackend) bool { return b.Key(k.Service) == k }) {
			delete(a.health, k)
		}
	}
	return nil
}

// nextSeq is the agent's send time in unix nanoseconds, kept strictly
// increasing even if the clock stalls or steps back.
func (a *Actor) nextSeq() uint64 {
	now := a.opts.Now().UnixNano()
	a.lastSeq = max(uint64(max(now, 0)), a.lastSeq+1)
	return a.lastSeq
}

func (r *run) startAgent() {
	r.setTick(heartbeat(r.a.cfg))
	r.startJoin()
}

// backendHealth records a local verdict, tells the hooks, and reports the
// service at once if the verdict changed.
func (r *run) backendHealth(bh messages.BackendHealth) {
	at := bh.At
	if at.IsZero() {
		at = r.a.opts.Now()
	}
	r.hook(messages.HookEvent{Event: config.HookBackendHealth, Backend: &bh, At: at})
	key := bh.Key
	key.Address = key.Address.Unmap()
	prev, known := r.a.health[key]
	if !slices.ContainsFunc(r.a.plan[key.Service], func(b messages.AgentBackend) bool { return b.Key(key.Service) == key }) {
		r.a.log.Debug().Str("backend", key.String()).Msg("health of a backend this agent does not report: ignored")
		return
	}
	r.a.health[key] = bh.State
	if known && prev == bh.State || !known && bh.State == messages.HealthUnknown {
		return
	}
	r.sendReport(key.Service, "health changed")
}

// sendAll reports every service.
func (r *run) sendAll(why string) {
	services := make([]string, 0, len(r.a.plan))
	for svc := range r.a.plan {
		services = append(services, svc)
	}
	sort.Strings(services)
	for _, svc := range services {
		r.sendReport(svc, why)
	}
}

// report builds the current report of service.
func (r *run) report(service string) messages.AgentReport {
	planned := r.a.plan[service]
	backends := make([]messages.AgentBackend, len(planned))
	for i, b := range planned {
		b.Health = r.a.health[b.Key(service)] // HealthUnknown until decided
		backends[i] = b
	}
	return messages.AgentReport{
		Agent:    r.a.set.node,
		Region:   r.a.set.region,
		Service:  service,
		Backends: backends,
	}
}

// sendReport sends service's report as a query to every overwatch and
// starts a collector for the answers.
func (r *run) sendReport(service, why string) {
	if r.a.draining.Load() {
		return
	}
	st := r.services[service]
	if st == nil {
		st = &serviceState{acks: make(map[string]AckStatus)}
		r.services[service] = st
	}
	r.dirty = true
	log := r.a.log.With().Str("service", service).Str("why", why).Logger()
	if !overwatchAlive(r.serf, r.a.set.node) {
		st.sendErr = "no overwatch is reachable"
		log.Debug().Msg("report not sent: no overwatch is alive")
		return
	}
	rep := r.report(service)
	rep.Seq = r.a.nextSeq()
	payload, err := Encode(rep, r.a.tokens[service])
	if err != nil {
		st.sendErr = err.Error()
		reportErrors(service).Inc()
		log.Error().Err(err).Msg("report not sent")
		return
	}
	params := &serf.QueryParam{
		FilterTags: map[string]string{tagRole: "^" + RoleOverwatch + "$"},
		Timeout:    r.a.opts.ReportTimeout,
	}
	resp, err := r.serf.Query(QueryReport, payload, params)
	if err != nil {
		st.sendErr = err.Error()
		reportErrors(service).Inc()
		log.Error().Err(err).Int("size", len(payload)).Msg("report not sent")
		return
	}
	st.seq, st.sentAt, st.sendErr = rep.Seq, r.a.opts.Now(), ""
	reportsSent(service).Inc()
	log.Debug().Uint64("seq", rep.Seq).Int("backends", len(rep.Backends)).Int("size", len(payload)).Msg("report sent")

	seq, ctx, acks := rep.Seq, r.ctx, r.acks
	r.spawn("report collector", func() {
		defer resp.Close()
		for {
			select {
			case nr, ok := <-resp.ResponseCh():
				if !ok {
					return
				}
				select {
				case acks <- ackResult{service: service, seq: seq, from: nr.From, payload: string(nr.Payload)}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
}

// handleAck records one overwatch's answer.
func (r *run) handleAck(x ackResult) {
	st := r.services[x.service]
	if st == nil {
		return
	}
	if prev, ok := st.acks[x.from]; ok && prev.Seq > x.seq {
		return // an answer to an older report, arriving late
	}
	ack := AckStatus{Overwatch: x.from, Seq: x.seq, At: r.a.opts.Now()}
	if x.payload == "ok" {
		ack.Accepted = true
		acksAccepted.Inc()
	} else {
		ack.Reason = strings.TrimPrefix(x.payload, "refused: ")
		if len(ack.Reason) > 200 {
			ack.Reason = ack.Reason[:200]
		}
		acksRefused.Inc()
		ev := r.a.log.Warn().Str("service", x.service).Str("overwatch", x.from).Uint64("seq", x.seq).Str("reason", ack.Reason)
		if fix := refusalFix(ack.Reason, x.service); fix != "" {
			ev = ev.Str("fix", fix)
		}
		ev.Msg("overwatch refused this agent's report")
	}
	st.acks[x.from] = ack
	r.dirty = true
}

// handleStateQuery answers an overwatch asking for everything.
func (r *run) handleStateQuery(q *serf.Query) {
	if err := q.Respond([]byte("ok")); err != nil {
		r.a.log.Debug().Err(err).Str("overwatch", q.SourceNode()).Msg("state query: answer not sent")
	}
	r.sendAll("state query from " + q.SourceNode())
}

func (r *run) serviceStatus() []ServiceStatus {
	out := make([]ServiceStatus, 0, len(r.a.plan))
	for svc := range r.a.plan {
		ss := ServiceStatus{Service: svc, Backends: []BackendStatus{}, Acks: []AckStatus{}}
		for _, b := range r.report(svc).Backends {
			ss.Backends = append(ss.Backends, BackendStatus{
				Address: b.Address.String(), Port: b.Port, Weight: b.Weight, Priority: b.Priority,
				Region: b.Region, Health: b.Health.String(),
			})
		}
		if st := r.services[svc]; st != nil {
			ss.Seq, ss.SentAt, ss.SendError = st.seq, st.sentAt, st.sendErr
			for _, ack := range st.acks {
				ss.Acks = append(ss.Acks, ack)
			}
			sort.Slice(ss.Acks, func(i, j int) bool { return ss.Acks[i].Overwatch < ss.Acks[j].Overwatch })
		}
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// refusalFix tells the operator which setting a refusal points at.
func refusalFix(reason, service string) string {
	switch {
	case reason == reasonBadToken:
		return "agent.service_tokens." + service + " must equal overwatch.agent_tokens." + service + " on every overwatch"
	case reason == reasonUnknown:
		return "add overwatch.agent_tokens." + service + " on the overwatch, or remove the service from agent.service_tokens"
	case strings.HasPrefix(reason, "replay"):
		return "check this host's clock (reports older than the overwatch's stale.threshold, or a minute in the future, are refused)"
	case reason == reasonTooLarge:
		return "the report for this service is over the size limit: split its backends across agents"
	}
	return ""
}
