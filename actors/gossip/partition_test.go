package gossip

import (
	"strconv"
	"testing"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// partitionCluster is an overwatch under test, a second overwatch (a bare
// serf node, so the test can kill it) and an agent reporting to both.
type partitionCluster struct {
	ow    *node
	peer  *rawNode
	agent *node
}

func startPartitionCluster(t *testing.T, stale time.Duration) partitionCluster {
	t.Helper()
	cfg := overwatchConfig("ow-1", map[string]string{"webapp": webToken})
	cfg.Overwatch.Stale.Threshold = config.Duration{Duration: stale}
	ow := startOverwatch(t, cfg, testOptions())
	peer := startRaw(t, "ow-2", RoleOverwatch, keyBytes, ow.a.BindAddr())
	bind := "127.0.0.1:" + strconv.Itoa(freePort(t))
	acfg := agentConfig("agent-p", testKey, bind, []string{ow.a.BindAddr()}, map[string]string{"webapp": webToken},
		backend("webapp", "10.0.1.10", 8080))
	ag := startAgent(t, acfg, testOptions())
	ag.waitReady(t)
	nextZone(t, ow, "first report", func(m messages.AgentReport) bool { return m.Agent == "agent-p" })
	waitFor(t, "ow-2 alive at ow-1", func() bool { return hasMember(ow.a.Status(), "ow-2", "alive") })
	return partitionCluster{ow: ow, peer: peer, agent: ag}
}

// With another overwatch alive, an agent's crash withdraws its backends
// at once, as before: the peer answers the ping, so this node is not the
// one cut off.
func TestAgentFailureCorroboratedByAnotherOverwatch(t *testing.T) {
	c := startPartitionCluster(t, 30*time.Second)
	c.agent.stop(t)
	gone := nextZone(t, c.ow, "AgentGone", func(m messages.AgentGone) bool { return m.Agent == "agent-p" })
	if gone.Reason != "failed" {
		t.Fatalf("AgentGone reason %q, want failed", gone.Reason)
	}
	if st := c.ow.a.Status(); st.Isolated || st.HeldAgents != 0 {
		t.Fatalf("status isolated=%v held=%d, want neither with ow-2 alive", st.Isolated, st.HeldAgents)
	}
}

// When every other overwatch has failed too, this node may be the one cut
// off: the agent's backends are kept (the zone ages them per
// stale.threshold) and the status says so. Once another overwatch is
// reachable and the agent is still failed after stale.threshold, they
// are withdrawn.
func TestAgentFailureHeldWhileIsolated(t *testing.T) {
	const stale = 1500 * time.Millisecond
	c := startPartitionCluster(t, stale)
	if err := c.peer.s.Shutdown(); err != nil { // a crash: no leave
		t.Fatal(err)
	}
	waitFor(t, "ow-1 isolated", func() bool { return c.ow.a.Status().Isolated })

	c.agent.stop(t)
	waitFor(t, "agent held", func() bool {
		st := c.ow.a.Status()
		return st.HeldAgents == 1 && len(st.Agents) == 1 && st.Agents[0].Held && !st.Agents[0].Alive
	})
	// Longer than a corroboration round and a stale check: nothing told
	// the zone to withdraw the agent.
	deadline := time.After(2 * stale)
	for held := true; held; {
		select {
		case msg := <-c.ow.zone.Receive():
			if m, ok := msg.(messages.AgentGone); ok {
				t.Fatalf("AgentGone %+v while ow-1 is isolated: the agent's backends were withdrawn", m)
			}
		case <-deadline:
			held = false
		}
	}

	// Another overwatch joins: ow-1 is no longer isolated, the agent is
	// still dead, and its backends go.
	startRaw(t, "ow-3", RoleOverwatch, keyBytes, c.ow.a.BindAddr())
	waitFor(t, "ow-1 no longer isolated", func() bool { return !c.ow.a.Status().Isolated })
	gone := nextZone(t, c.ow, "AgentGone after ow-3 joined", func(m messages.AgentGone) bool { return m.Agent == "agent-p" })
	if gone.Reason != "failed" {
		t.Fatalf("AgentGone reason %q, want failed", gone.Reason)
	}
	waitFor(t, "nothing held", func() bool { return c.ow.a.Status().HeldAgents == 0 })
}
