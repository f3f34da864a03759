package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// partitionTiming makes serf decide within seconds, so the partition is
// seen, and healed, well inside the test's bounds: the same keys an
// operator tunes on a fast network.
const partitionTiming = `probe_interval = "500ms"
probe_timeout = "250ms"
suspicion_mult = 2
reconnect_interval = "1s"
`

// One overwatch of three has its gossip cut. The other two keep hearing
// the agent and serve its backend as before. The cut-off one cannot tell
// a dead agent from its own isolation, so it keeps the agent's backend,
// marks it stale past stale.threshold, goes on answering with it, and
// says so: stale in the API and metrics, isolated in its status, the
// agent held. Once gossip flows again it rejoins, hears the agent and the
// backend is fresh everywhere.
func TestGossipPartitionOneOverwatch(t *testing.T) {
	ns, child := runInNetns(t)
	if !child {
		return
	}
	const name, served = "web.gslb.test.", "127.0.0.1"
	target := startTarget(t, served)
	c := &cluster{t: t, key: newGossipKey(t)}
	inA := func(_ int, s *owSpec) {
		s.bind, s.timing, s.stale = netnsGossipA+":0", partitionTiming, "3s"
	}
	c.startOverwatch(0, inA)
	c.startOverwatch(1, inA)
	cut := c.startInNamespace(ns.b, owSpec{
		name: "ow3", key: c.key, bind: netnsGossipB + ":0", join: c.gossipAddrs(),
		timing: partitionTiming, stale: "3s",
	})
	c.startAgent(agentSpec{name: "agent1", bind: netnsGossipA + ":0", timing: partitionTiming, backends: web(target)})
	c.everyOverwatch(t, gossipTimeout, "the agent's backend is served", serves(name, served))
	kept := c.ows[:2]
	t.Cleanup(func() {
		if t.Failed() {
			for _, line := range strings.Split(cut.stderr.String(), "\n") {
				if !strings.Contains(line, `"serf_level"`) && !strings.Contains(line, "report accepted") {
					t.Log(line)
				}
			}
		}
	})

	if err := ns.cutGossip(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.healGossip() })
	cutAt := time.Now()

	// The cut-off overwatch: stale past stale.threshold, still served.
	checkFor(t, 15*time.Second, func() error {
		if err := cut.expectMetric(`opengslb_overwatch_backends{state="stale"}`, 1)(); err != nil {
			return err
		}
		return serves(name, served)(cut)
	})
	t.Logf("ow3 marked the backend stale %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	// It then finds every member failed, and still does not withdraw.
	checkFor(t, 30*time.Second, func() error {
		for series, want := range map[string]float64{
			`opengslb_gossip_isolated`:                 1,
			`opengslb_gossip_members{status="failed"}`: 3,
		} {
			if err := cut.expectMetric(series, want)(); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("ow3 declared every other member failed %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	if err := serves(name, served)(cut); err != nil {
		t.Fatalf("ow3, cut off, no longer serves the agent's backend: %v", err)
	}
	st := cut.apiStatus(t)
	if !st.Gossip.Isolated || st.Gossip.HeldAgents != 1 || st.Backends.Stale != 1 {
		t.Fatalf("ow3's /api/v1/status while cut off: isolated=%v held_agents=%d stale=%d, want true, 1, 1",
			st.Gossip.Isolated, st.Gossip.HeldAgents, st.Backends.Stale)
	}

	// The other two: the agent is fresh, ow3 is failed.
	for _, o := range kept {
		if err := serves(name, served)(o); err != nil {
			t.Fatalf("%s during the partition: %v", o.name, err)
		}
		for series, want := range map[string]float64{
			`opengslb_overwatch_backends{state="stale"}`: 0,
			`opengslb_gossip_members{status="failed"}`:   1,
			`opengslb_gossip_isolated`:                   0,
		} {
			checkFor(t, gossipTimeout, o.expectMetric(series, want))
		}
	}

	if err := ns.healGossip(); err != nil {
		t.Fatal(err)
	}
	took := c.everyOverwatch(t, 20*time.Second, "converged after the heal", func(o *overwatch) error {
		for series, want := range map[string]float64{
			`opengslb_gossip_members{status="alive"}`:    4,
			`opengslb_gossip_isolated`:                   0,
			`opengslb_overwatch_backends{state="stale"}`: 0,
		} {
			if err := o.expectMetric(series, want)(); err != nil {
				return err
			}
		}
		return serves(name, served)(o)
	})
	t.Logf("every overwatch converged %s after the heal", took.Round(time.Millisecond))
	if st := cut.apiStatus(t); st.Gossip.Isolated || st.Gossip.HeldAgents != 0 {
		t.Fatalf("ow3's /api/v1/status after the heal: isolated=%v held_agents=%d", st.Gossip.Isolated, st.Gossip.HeldAgents)
	}
}

// startInNamespace starts an overwatch of the cluster inside network
// namespace ns, its DNS, API and metrics on the service address there.
// The ports were free in this namespace; ns is otherwise empty.
func (c *cluster) startInNamespace(ns string, s owSpec) *overwatch {
	c.t.Helper()
	ip, err := ipCommand()
	if err != nil {
		c.t.Fatal(err)
	}
	p := freePorts(c.t)
	o := &overwatch{process: newProcess(c.t, "overwatch"), ports: ports{
		dns: onHost(p.dns, netnsServiceB), metrics: onHost(p.metrics, netnsServiceB), api: onHost(p.api, netnsServiceB),
	}}
	o.name, o.wrap = s.name, []string{ip, "netns", "exec", ns}
	// The test reaches this API from the other namespace, not loopback.
	o.writeConfig(fmt.Sprintf("allowed_networks = [%q]\n", netnsServiceA+"/32") + s.body())
	o.launch()
	if err := o.awaitStart(o.ready); err != nil {
		c.t.Fatal(err)
	}
	c.ows = append(c.ows, o)
	c.specs = append(c.specs, s)
	c.t.Cleanup(c.stopAll)
	return o
}

func onHost(addr, host string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	return net.JoinHostPort(host, port)
}

// statusView is the part of /api/v1/status these tests read.
type statusView struct {
	Backends struct {
		Stale int `json:"stale"`
	} `json:"backends"`
	Gossip struct {
		Isolated   bool `json:"isolated"`
		HeldAgents int  `json:"held_agents"`
	} `json:"gossip"`
}

func (o *overwatch) apiStatus(t testing.TB) statusView {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + o.ports.api + "/api/v1/status")
	if err != nil {
		t.Fatalf("%s: GET /api/v1/status: %v", o.name, err)
	}
	defer resp.Body.Close()
	var st statusView
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /api/v1/status: HTTP %d", o.name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s: /api/v1/status: %v", o.name, err)
	}
	return st
}
