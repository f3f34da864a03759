package gossip

import (
	"errors"
	"sort"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/opengslb/opengslb/messages"
)

// agentState is what an overwatch's Run knows of one agent member.
type agentState struct {
	name           string
	region         string
	addr           string
	alive          bool
	left           bool      // it left gracefully: late reports are refused
	since          time.Time // when it last became alive
	reported       bool      // a report was accepted since it last failed or left
	lastReport     time.Time
	accepted       uint64
	refused        uint64
	lastRefusal    string
	services       map[string]bool
	lastStateQuery time.Time
	// goneUnsent is the reason of an AgentGone the zone did not take; the
	// stale check sends it again, so a busy zone cannot leave a departed
	// agent's backends in answers.
	goneUnsent string
	// corroborating: a failure waits for the verdict of pinging the other
	// overwatches; held: it was not corroborated, the reports age instead.
	corroborating bool
	held          bool
	reachableAt   time.Time // held: when a peer first answered again
}

func (r *run) agent(name string) *agentState {
	st := r.agents[name]
	if st == nil {
		st = &agentState{name: name, services: make(map[string]bool)}
		r.agents[name] = st
	}
	return st
}

// staleTickFor is how often an overwatch looks for silent agents: often
// enough to ask one soon after it passes the threshold.
func staleTickFor(threshold time.Duration) time.Duration {
	return min(max(threshold/3, 50*time.Millisecond), 10*time.Second)
}

func (r *run) startOverwatch() {
	gossipIsolated.Set(0) // a new Run knows no peers yet
	r.setTick(staleTickFor(staleThreshold(r.a.cfg)))
	if !r.a.warmedUp {
		r.warmup = time.NewTimer(r.a.opts.WarmupTimeout)
	}
	r.a.markReady()
	// Ask every agent for its state. A new serf is alone until it joins
	// (and each agent that joins is asked on its own), so the query is
	// sent only when there is someone to ask: queued alone, it would be
	// gossiped to whoever joins first, twice asking the same agent.
	if r.serf.NumNodes() > 1 {
		r.stateQuery("", "overwatch started")
	}
	r.startJoin()
}

// Refusal reasons, as answered to the agent ("refused: <reason>").
const (
	reasonDecode       = "decode error"
	reasonTooLarge     = "too large"
	reasonUnknown      = "unknown service"
	reasonBadToken     = "bad token"
	reasonNameMismatch = "agent name mismatch"
	reasonBusy         = "overwatch busy"
	reasonLeft         = "agent left"
)

// handleReport checks one report query and, if it passes, hands the
// report to the zone. The checks run cheapest and least trusting first:
// shape, then the service's token, then who sent it, then freshness.
func (r *run) handleReport(q *serf.Query) {
	now := r.a.opts.Now()
	src := q.SourceNode()
	rep, err := Decode(q.Payload)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			r.refuse(q, src, "", resultTooLarge, reasonTooLarge, err)
		} else {
			r.refuse(q, src, "", resultDecodeError, reasonDecode, err)
		}
		return
	}
	token, ok := r.a.tokens[rep.Service]
	if !ok {
		r.refuse(q, src, rep.Service, resultUnknownService, reasonUnknown, nil)
		return
	}
	if err := rep.Verify(token); err != nil {
		r.refuse(q, src, rep.Service, resultBadToken, reasonBadToken, err)
		return
	}
	if rep.Agent != src {
		r.refuse(q, src, rep.Service, resultNameMismatch, reasonNameMismatch, nil)
		return
	}
	if err := r.a.guard.Check(rep.Agent, rep.Service, rep.Seq, now); err != nil {
		r.refuse(q, src, rep.Service, resultReplay, err.Error(), nil)
		return
	}
	st := r.agent(src)
	if st.left {
		// A report that was in flight when the agent left must not bring
		// its backends back after AgentGone withdrew them.
		r.refuse(q, src, rep.Service, resultReplay, reasonLeft, nil)
		return
	}
	if st.addr == "" {
		for _, m := range r.serf.Members() {
			if m.Name == src {
				st.addr, st.region = memberAddr(m), m.Tags[tagRegion]
			}
		}
	}
	if err := r.toZone(rep.AgentReport(st.addr, now)); err != nil {
		// Not recorded by the guard, so the agent's next report is taken.
		r.refuse(q, src, rep.Service, resultZoneBusy, reasonBusy, err)
		return
	}
	r.a.guard.Accept(rep.Agent, rep.Service, rep.Seq)
	reportsTotal(resultAccepted).Inc()
	st.reported, st.lastReport = true, now
	st.accepted++
	st.services[rep.Service] = true
	r.dirty = true
	r.respond(q, "ok")
	r.a.log.Debug().Str("agent", src).Str("service", rep.Service).Uint64("seq", rep.Seq).
		Int("backends", len(rep.Backends)).Msg("agent report accepted")
	agentsRegistered.Set(float64(r.registered()))
	r.checkWarmup()
}

func (r *run) refuse(q *serf.Query, agent, service, result, reason string, err error) {
	reportsTotal(result).Inc()
	if st := r.agents[agent]; st != nil {
		st.refused++
		st.lastRefusal = reason
		r.dirty = true
	}
	ev := r.a.log.Warn()
	if result == resultZoneBusy {
		ev = r.a.log.Error()
	}
	ev.Err(err).Str("agent", agent).Str("service", service).Str("reason", reason).Msg("agent report refused")
	r.respond(q, "refused: "+reason)
}

func (r *run) respond(q *serf.Query, answer string) {
	if err := q.Respond([]byte(answer)); err != nil {
		r.a.log.Debug().Err(err).Str("agent", q.SourceNode()).Msg("report query: answer not sent")
	}
}

// agentMember follows one agent member's life: join or alive again →
// AgentAlive and a targeted state query; failed or left → AgentGone.
func (r *run) agentMember(t serf.EventType, m serf.Member) {
	now := r.a.opts.Now()
	st := r.agent(m.Name)
	st.region, st.addr = m.Tags[tagRegion], memberAddr(m)
	log := r.a.log.With().Str("agent", m.Name).Str("addr", st.addr).Logger()
	switch t {
	case serf.EventMemberJoin, serf.EventMemberUpdate:
		if m.Status != serf.StatusAlive || st.alive {
			return
		}
		st.alive, st.left, st.since = true, false, now
		st.corroborating, st.held, st.reachableAt = false, false, time.Time{}
		if err := r.toZone(messages.AgentAlive{Agent: m.Name, Region: st.region, At: now}); err != nil {
			log.Error().Err(err).Msg("agent alive: not sent to zone")
		}
		log.Info().Str("region", st.region).Msg("agent joined")
		st.lastStateQuery = now
		r.stateQuery(m.Name, "agent joined")
	case serf.EventMemberFailed:
		if !st.alive {
			return
		}
		st.alive, st.reported = false, false
		r.corroborate(st)
	case serf.EventMemberLeave:
		st.left, st.corroborating, st.held = true, false, false
		r.withdraw(st, "left")
	case serf.EventMemberReap:
		delete(r.agents, m.Name)
	}
}

// withdraw tells the zone an agent is gone, its backends with it.
func (r *run) withdraw(st *agentState, reason string) {
	st.alive, st.reported, st.goneUnsent = false, false, ""
	log := r.a.log.With().Str("agent", st.name).Str("addr", st.addr).Logger()
	if err := r.toZone(messages.AgentGone{Agent: st.name, Reason: reason, At: r.a.opts.Now()}); err != nil {
		st.goneUnsent = reason
		log.Error().Err(err).Str("reason", reason).Msg("agent gone: not yet handed to the zone; retried on the next stale check")
	}
	log.Warn().Str("reason", reason).Msg("agent gone: its backends are withdrawn")
}

// registered counts alive agents with an accepted report.
func (r *run) registered() int {
	n := 0
	for _, st := range r.agents {
		if st.alive && st.reported {
			n++
		}
	}
	return n
}

// stateQuery asks one agent (or every agent, for "") to send all its
// reports again. Answers are not awaited: the reports are the answer.
func (r *run) stateQuery(agent, why string) {
	p := &serf.QueryParam{FilterTags: map[string]string{tagRole: "^" + RoleAgent + "$"}}
	if agent != "" {
		p.FilterNodes = []string{agent}
	}
	if _, err := r.serf.Query(QueryState, nil, p); err != nil {
		r.a.log.Warn().Err(err).Str("agent", agent).Str("why", why).Msg("state query not sent")
		return
	}
	stateQueries.Inc()
	r.a.log.Debug().Str("agent", agent).Str("why", why).Msg("state query sent")
}

// staleCheck asks every alive agent silent for longer than the stale
// threshold for its state, at most once per threshold each, and prunes
// the replay guard.
func (r *run) staleCheck() {
	r.reconcileMembers()
	r.updateIsolation()
	now := r.a.opts.Now()
	r.recheckHeld()
	threshold := staleThreshold(r.a.cfg)
	for name, st := range r.agents {
		if !st.alive {
			continue
		}
		last := st.lastReport
		if st.since.After(last) {
			last = st.since
		}
		if now.Sub(last) > threshold && now.Sub(st.lastStateQuery) > threshold {
			st.lastStateQuery = now
			r.a.log.Info().Str("agent", name).Dur("silent", now.Sub(last)).Msg("no report from agent past stale.threshold: asking for its state")
			r.stateQuery(name, "stale")
		}
	}
	r.a.guard.Prune(now)
	if !r.a.warmedUp && r.warmup == nil {
		r.warmupTimeout() // a WarmupDone the zone could not take is retried
	}
}

// reconcileMembers repairs what a lost event or a busy zone left wrong:
// serf's member list is the truth about who is alive, and an AgentGone the
// zone did not take is sent again.
func (r *run) reconcileMembers() {
	for _, m := range r.serf.Members() {
		if m.Name == r.a.set.node || m.Tags[tagRole] != RoleAgent {
			continue
		}
		st := r.agents[m.Name]
		alive := st != nil && st.alive
		switch {
		case m.Status == serf.StatusAlive && !alive:
			r.agentMember(serf.EventMemberJoin, m)
		case m.Status == serf.StatusFailed && alive:
			r.agentMember(serf.EventMemberFailed, m)
		case m.Status == serf.StatusLeft && alive:
			r.agentMember(serf.EventMemberLeave, m)
		}
	}
	for name, st := range r.agents {
		if st.goneUnsent == "" || st.alive {
			continue
		}
		if err := r.toZone(messages.AgentGone{Agent: name, Reason: st.goneUnsent, At: r.a.opts.Now()}); err != nil {
			r.a.log.Error().Err(err).Str("agent", name).Msg("agent gone: still not handed to the zone")
			continue
		}
		st.goneUnsent = ""
	}
}

// warmupState lists the alive agents and those of them without a report.
func (r *run) warmupState() (alive int, missing []string) {
	for name, st := range r.agents {
		if !st.alive {
			continue
		}
		alive++
		if !st.reported {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return alive, missing
}

// checkWarmup ends warm-up once every alive agent has reported. It needs
// at least one: right after a start nobody may have joined yet, and an
// empty membership says nothing about the cluster.
func (r *run) checkWarmup() {
	if r.a.warmedUp {
		return
	}
	if alive, missing := r.warmupState(); alive > 0 && len(missing) == 0 {
		r.finishWarmup("all agents reported", alive, nil)
	}
}

func (r *run) warmupTimeout() {
	if r.a.warmedUp {
		return
	}
	alive, missing := r.warmupState()
	r.finishWarmup("timeout", alive, missing)
}

func (r *run) finishWarmup(reason string, alive int, missing []string) {
	msg := messages.WarmupDone{At: r.a.opts.Now(), Reason: reason, Agents: alive, Missing: missing}
	if err := r.toZone(msg); err != nil {
		r.a.log.Error().Err(err).Str("reason", reason).Msg("warm-up done: not sent to zone; retrying")
		return
	}
	r.a.warmedUp = true
	r.dirty = true
	if r.warmup != nil {
		r.warmup.Stop()
		r.warmup = nil
	}
	ev := r.a.log.Info()
	if len(missing) > 0 {
		ev = r.a.log.Warn()
	}
	ev.Str("reason", reason).Int("agents", alive).Strs("missing", missing).Msg("warm-up done")
}

func (r *run) agentStatus() []AgentStatus {
	out := make([]AgentStatus, 0, len(r.agents))
	for _, st := range r.agents {
		as := AgentStatus{
			Agent: st.name, Region: st.region, Addr: st.addr, Alive: st.alive,
			Registered: st.alive && st.reported, Held: st.held, LastReport: st.lastReport,
			Accepted: st.accepted, Refused: st.refused, LastRefusal: st.lastRefusal,
		}
		for svc := range st.services {
			as.Services = append(as.Services, svc)
		}
		sort.Strings(as.Services)
		out = append(out, as)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}
