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
// believed only when it is corroborated: while at least one other
// overwatch is alive (it would have refuted a false suspicion of the
// agent, serf probing indirectly through it), or when this node never knew
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
		r.a.log.Warn().Int("overwatches_failed", failed).
			Msg("every other overwatch is unreachable: this node may be cut off from gossip; agent failures are not believed until another overwatch is reachable, their backends go stale instead")
		return
	}
	gossipIsolated.Set(0)
	r.a.log.Info().Int("overwatches_alive", alive).Msg("another overwatch is reachable again: agent failures are believed again")
}

// holdFailure records an agent's failure that was not corroborated: its
// backends stay in the zone and age there.
func (r *run) holdFailure(st *agentState, v failureVerdict) {
	st.held = true
	r.a.log.Warn().Str("agent", st.name).Str("addr", st.addr).Int("overwatches_pinged", v.known).Int("overwatches_failed", v.failed).
		Dur("stale_threshold", staleThreshold(r.a.cfg)).
		Msg("agent unreachable, but so is every other overwatch: its backends are kept and go stale rather than withdrawn")
}

// recheckHeld pings the other overwatches again for every held agent, so
// a failure that was not believed is once another overwatch answers.
func (r *run) recheckHeld() {
	for name, st := range r.agents {
		if st.held && !st.alive && !st.corroborating {
			if m, ok := r.member(name); ok && m.Status != serf.StatusAlive {
				r.corroborate(st, m)
			}
		}
	}
}

func (r *run) member(name string) (serf.Member, bool) {
	for _, m := range r.serf.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return serf.Member{}, false
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

// failureVerdict is the outcome of pinging the other overwatches about one
// agent's failure: reachable names the overwatch that answered.
type failureVerdict struct {
	agent     string
	reachable string
	known     int // other overwatches not known to have failed or left
	failed    int // other overwatches serf has failed
}

// corroborate decides an agent's failure off the loop: it pings the other
// overwatches serf still counts alive (or suspects), each bounded by the
// probe timeout, and hands the verdict back to the loop.
func (r *run) corroborate(st *agentState, failedAgent serf.Member) {
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
	if len(targets) == 0 && failed == 0 && !st.held {
		// No other overwatch, ever: nobody could corroborate, and a
		// single overwatch must still drop a dead agent at once.
		r.withdraw(st, "failed")
		return
	}
	st.corroborating = true
	ml, ctx, verdicts := r.serf.Memberlist(), r.ctx, r.verdicts
	r.spawn("corroborate", func() {
		v := failureVerdict{agent: failedAgent.Name, known: len(targets), failed: failed}
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
	st := r.agents[v.agent]
	if st == nil || !st.corroborating {
		return // it came back, left or was reaped meanwhile
	}
	st.corroborating = false
	r.dirty = true
	now := r.a.opts.Now()
	switch {
	case v.reachable == "":
		st.reachableAt = time.Time{}
		if !st.held {
			r.holdFailure(st, v)
		}
	case !st.held:
		r.a.log.Debug().Str("agent", v.agent).Str("overwatch", v.reachable).Msg("agent failure corroborated: another overwatch answers")
		r.withdraw(st, "failed")
	case st.reachableAt.IsZero():
		// Peers answer again, but serf may not yet have heard the agent
		// refute its failure: give it stale.threshold to do so.
		st.reachableAt = now
	case now.Sub(st.reachableAt) >= staleThreshold(r.a.cfg):
		st.held, st.reachableAt = false, time.Time{}
		r.a.log.Warn().Str("agent", v.agent).Str("overwatch", v.reachable).
			Msg("agent still failed while another overwatch answers: its backends are withdrawn")
		r.withdraw(st, "failed")
	}
	r.updateIsolation()
}
