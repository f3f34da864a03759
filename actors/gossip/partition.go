package gossip

import (
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/serf/serf"
)

// An overwatch cut off from gossip sees every other member fail at once:
// agents and overwatches alike. Withdrawing the agents' backends then
// would empty its answers although nothing is wrong with them; the other
// overwatches, which still hear the agents, know better. So a failure is
// believed only when it is corroborated: when another overwatch answers a
// ping now (so this node is not the one cut off, and serf's indirect
// probes through that overwatch failed too), or when this node never knew
// another overwatch (a single-overwatch deployment has nobody to ask).
// A failure that was not corroborated is held: the agent's reports go
// stale per stale.threshold and are withdrawn past stale.remove_after, as
// for a silent agent, unless another overwatch answers again and serf
// still has the agent failed stale.threshold later.

var gossipIsolated = metrics.GetOrCreateGauge(`opengslb_gossip_isolated`, nil)

// overwatchPeers counts the other overwatches serf knows, alive and
// failed. Members that left are not counted: they said goodbye, which a
// partition cannot fake.
func overwatchPeers(s *serf.Serf, self string) (alive, failed int) {
	for _, m := range s.Members() {
		if m.Name == self || m.Tags[tagRole] != RoleOverwatch {
			continue
		}
		switch m.Status {
		case serf.StatusAlive:
			alive++
		case serf.StatusFailed:
			failed++
		}
	}
	return alive, failed
}

// updateIsolation recomputes whether this overwatch is cut off: it knows
// other overwatches and every one of them has failed.
func (r *run) updateIsolation() {
	if r.a.set.role != RoleOverwatch {
		return
	}
	alive, failed := overwatchPeers(r.serf, r.a.set.node)
	isolated := alive == 0 && failed > 0
	if isolated == r.isolated {
		return
	}
	r.isolated, r.dirty = isolated, true
	if isolated {
		gossipIsolated.Set(1)
		r.a.log.Warn().Int("overwatches_failed", failed).Str("gossip", r.a.BindAddr()).Strs("join", r.a.set.join).
			Msg("every other overwatch is unreachable: this node may be cut off from gossip (check that its gossip address is reachable over TCP and UDP from the others, and theirs from it); agent failures are not believed until another overwatch answers, their backends go stale instead")
		return
	}
	gossipIsolated.Set(0)
	r.a.log.Info().Int("overwatches_alive", alive).Msg("another overwatch is reachable again: agent failures are believed again")
}

// holdFailure records an agent's failure that was not corroborated: its
// backends stay in the zone and age there.
func (r *run) holdFailure(st *agentState, v failureVerdict) {
	st.held = true
	r.a.log.Warn().Str("agent", st.name).Str("addr", st.addr).Int("overwatches_pinged", v.pinged).Int("overwatches_failed", v.failed).
		Dur("stale_threshold", staleThreshold(r.a.cfg)).
		Msg("agent unreachable, but so is every other overwatch: its backends are kept and go stale rather than withdrawn")
}

// recheckHeld pings the other overwatches again, once for all held
// agents, so a failure that was not believed is once another overwatch
// answers.
func (r *run) recheckHeld() {
	status := make(map[string]serf.MemberStatus)
	for _, m := range r.serf.Members() {
		status[m.Name] = m.Status
	}
	var held []*agentState
	for name, st := range r.agents {
		if st.held && !st.alive && !st.corroborating && status[name] != serf.StatusAlive {
			held = append(held, st)
		}
	}
	if len(held) > 0 {
		r.corroborate(held...)
	}
}

// heldAgents counts the agents whose failure is held.
func (r *run) heldAgents() int {
	n := 0
	for _, st := range r.agents {
		if st.held {
			n++
		}
	}
	return n
}

// failureVerdict is the outcome of pinging the other overwatches about
// agents' failures: reachable names the overwatch that answered.
type failureVerdict struct {
	agents    []string
	reachable string
	pinged    int // other overwatches serf counts alive
	failed    int // other overwatches serf has failed
}

// corroborate decides agents' failures off the loop: it pings the other
// overwatches serf still counts alive, each bounded by the probe timeout,
// until one answers, and hands the verdict back to the loop.
func (r *run) corroborate(agents ...*agentState) {
	var targets []serf.Member
	failed := 0
	for _, m := range r.serf.Members() {
		if m.Name == r.a.set.node || m.Tags[tagRole] != RoleOverwatch {
			continue
		}
		switch m.Status {
		case serf.StatusAlive:
			targets = append(targets, m)
		case serf.StatusFailed:
			failed++
		}
	}
	v := failureVerdict{pinged: len(targets), failed: failed}
	for _, st := range agents {
		if len(targets) == 0 && failed == 0 && !st.held {
			// No other overwatch, ever: nobody could corroborate, and a
			// single overwatch must still drop a dead agent at once.
			r.withdraw(st, "failed")
			continue
		}
		st.corroborating = true
		v.agents = append(v.agents, st.name)
	}
	if len(v.agents) == 0 {
		return
	}
	if len(targets) == 0 {
		r.handleVerdict(v) // nobody to ping: not corroborated
		return
	}
	ml, ctx, verdicts := r.serf.Memberlist(), r.ctx, r.verdicts
	r.spawn("corroborate", func() {
		for _, m := range targets {
			if _, err := ml.Ping(m.Name, &net.UDPAddr{IP: m.Addr, Port: int(m.Port)}); err == nil {
				v.reachable = m.Name
				break
			}
		}
		select {
		case verdicts <- v:
		case <-ctx.Done():
		}
	})
}

func (r *run) handleVerdict(v failureVerdict) {
	for _, name := range v.agents {
		if st := r.agents[name]; st != nil && st.corroborating {
			st.corroborating = false
			r.judge(st, v)
		}
		// Otherwise it came back, left or was reaped meanwhile.
	}
	r.dirty = true
}

// judge applies one verdict to one agent.
func (r *run) judge(st *agentState, v failureVerdict) {
	now := r.a.opts.Now()
	switch {
	case v.reachable == "":
		st.reachableAt = time.Time{}
		if !st.held {
			r.holdFailure(st, v)
		}
	case !st.held:
		r.a.log.Debug().Str("agent", st.name).Str("overwatch", v.reachable).Msg("agent failure corroborated: another overwatch answers")
		r.withdraw(st, "failed")
	case st.reachableAt.IsZero():
		// Peers answer again, but serf may not yet have heard the agent
		// refute its failure: give it stale.threshold to do so.
		st.reachableAt = now
	case now.Sub(st.reachableAt) >= staleThreshold(r.a.cfg):
		st.held, st.reachableAt = false, time.Time{}
		r.a.log.Warn().Str("agent", st.name).Str("overwatch", v.reachable).
			Msg("agent still failed while another overwatch answers: its backends are withdrawn")
		r.withdraw(st, "failed")
	}
}
