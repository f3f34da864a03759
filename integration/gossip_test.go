package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Agents and gossip, end to end: overwatches that gossip with each other,
// agents that check backends (HTTP servers in this process) and report
// them, and every assertion made with real DNS queries to every overwatch.
// A replayed report is sent by a serf node in the test process that holds
// the gossip key, as every agent does (serfnode_test.go).

// TestGossipAgentsServedOnEveryOverwatch: two overwatches, two agents each
// listing both; each agent's backend is served by both overwatches, a
// backend that fails disappears from both and comes back when it recovers.
// The agent API says the agent is ready, which overwatches took its report
// and what it thinks of its backend; a backend-health hook on the agent
// sees the verdicts.
func TestGossipAgentsServedOnEveryOverwatch(t *testing.T) {
	a, b := startTarget(t, "127.0.0.11"), startTarget(t, "127.0.0.12")
	hook := newHookRecorder(t)
	c := startCluster(t, 2)
	ag1 := c.startAgent(agentSpec{name: "agent-1", backends: web(a), extra: hookTable("backend-health", hook.script)})
	ag2 := c.startAgent(agentSpec{name: "agent-2", backends: web(b)})

	c.everyOverwatch(t, gossipTimeout, "both agents' backends served", serves(webName, a.ip, b.ip))
	c.everyOverwatch(t, gossipTimeout, "both agents registered", metricIs(`opengslb_overwatch_agents_registered`, 2))
	c.everyOverwatch(t, gossipTimeout, "four members alive", metricIs(`opengslb_gossip_members{status="alive"}`, 4))

	for _, ag := range []*agent{ag1, ag2} {
		if err := ag.ready(); err != nil {
			t.Errorf("agent %s joined but: %v", ag.name, err)
		}
		checkFor(t, gossipTimeout, ag.expectAcks("web", map[string]string{"ow1": "", "ow2": ""}))
	}
	checkFor(t, time.Second, ag1.expectHealth("web", a, "healthy"))

	a.failing.Store(true)
	took := c.everyOverwatch(t, healthTimeout, "failing backend withdrawn", serves(webName, b.ip))
	t.Logf("a failing backend left every overwatch's answer %s after it started failing", took.Round(time.Millisecond))
	checkFor(t, time.Second, ag1.expectHealth("web", a, "unhealthy"))
	// The report that withdrew it was taken by both overwatches.
	checkFor(t, gossipTimeout, ag1.expectAcks("web", map[string]string{"ow1": "", "ow2": ""}))

	a.failing.Store(false)
	took = c.everyOverwatch(t, healthTimeout, "recovered backend served again", serves(webName, a.ip, b.ip))
	t.Logf("a recovered backend was back in every overwatch's answer %s after it recovered", took.Round(time.Millisecond))
	checkFor(t, time.Second, ag1.expectHealth("web", a, "healthy"))

	host, port, _ := strings.Cut(a.addr, ":")
	checkFor(t, gossipTimeout, func() error {
		runs, err := hook.runs()
		if err != nil {
			return err
		}
		var states []string
		for _, r := range runs {
			if r.env["SERF_EVENT"] == "backend-health" && r.env["OPENGSLB_SERVICE"] == "web" &&
				r.env["OPENGSLB_ADDRESS"] == host && r.env["OPENGSLB_PORT"] == port && r.env["SERF_SELF_ROLE"] == "agent" {
				states = append(states, r.env["OPENGSLB_STATE"])
			}
		}
		slices.Sort(states)
		if states = slices.Compact(states); !slices.Equal(states, []string{"healthy", "unhealthy"}) {
			return fmt.Errorf("backend-health runs for %s on agent-1 saw states %v, want healthy and unhealthy (of %d runs: %+v)", a.addr, states, len(runs), runs)
		}
		return nil
	})
}

// TestGossipRefusesImpostors: next to an agent with the right token, one
// with a wrong token for the service (and a token for a service the
// overwatches do not know) is refused and its backends never served; a
// node with another gossip key never becomes a member at all.
func TestGossipRefusesImpostors(t *testing.T) {
	good, forged, ghost, foreign := startTarget(t, "127.0.0.21"), startTarget(t, "127.0.0.22"),
		startTarget(t, "127.0.0.23"), startTarget(t, "127.0.0.24")
	c := startCluster(t, 2)
	c.startAgent(agentSpec{name: "good", backends: web(good)})
	c.everyOverwatch(t, gossipTimeout, "the good agent's backend served", serves(webName, good.ip))

	t.Run("wrong token", func(t *testing.T) {
		forger := c.startAgent(agentSpec{
			name:     "forger",
			tokens:   map[string]string{"web": "not-the-web-token-0000", "ghost": "ghost-token-0123456789"},
			backends: append(web(forged), agentBackend{service: "ghost", target: ghost}),
		})
		// Every report of the forger is answered with a refusal, by
		// both overwatches, and counted.
		checkFor(t, gossipTimeout, forger.expectAcks("web", map[string]string{"ow1": "bad token", "ow2": "bad token"}))
		checkFor(t, gossipTimeout, forger.expectAcks("ghost", map[string]string{"ow1": "unknown service", "ow2": "unknown service"}))
		c.everyOverwatch(t, gossipTimeout, "bad tokens counted", metricAtLeast(`opengslb_gossip_reports_total{result="bad_token"}`, 2))
		c.everyOverwatch(t, gossipTimeout, "unknown services counted", metricAtLeast(`opengslb_gossip_reports_total{result="unknown_service"}`, 2))
		// More than a heartbeat (1s) of refused reports, then neither the
		// answer nor the registration has changed.
		c.neverServes(t, webName, forged.ip, 1500*time.Millisecond)
		c.everyOverwatch(t, time.Second, "only the good agent served", serves(webName, good.ip))
		c.everyOverwatch(t, time.Second, "only the good agent registered", metricIs(`opengslb_overwatch_agents_registered`, 1))
	})

	t.Run("other gossip key", func(t *testing.T) {
		membership := func(o *overwatch) (string, error) {
			text, err := o.metricsText()
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for _, status := range []string{"alive", "failed", "left"} {
				n, _ := metricValue(text, fmt.Sprintf(`opengslb_gossip_members{status=%q}`, status))
				fmt.Fprintf(&b, "%s=%v ", status, n)
			}
			return b.String(), nil
		}
		before := make(map[*overwatch]string)
		for _, o := range c.ows {
			m, err := membership(o)
			if err != nil {
				t.Fatal(err)
			}
			before[o] = m
		}
		outsider := c.addAgent(agentSpec{name: "outsider", key: newGossipKey(t), backends: web(foreign)}, startAgentUnjoined)
		checkFor(t, gossipTimeout, func() error {
			text, err := outsider.metricsText()
			if err != nil {
				return err
			}
			if n, _ := metricValue(text, "opengslb_gossip_join_failures_total"); n < 2 {
				return fmt.Errorf("the outsider has failed to join %v times; waiting for 2", n)
			}
			return nil
		})
		c.neverServes(t, webName, foreign.ip, 500*time.Millisecond)
		c.everyOverwatch(t, time.Second, "membership unchanged", func(o *overwatch) error {
			m, err := membership(o)
			if err == nil && m != before[o] {
				err = fmt.Errorf("members %s, before the outsider tried to join %s", m, before[o])
			}
			return err
		})
		c.everyOverwatch(t, time.Second, "only the good agent served", serves(webName, good.ip))
		if err := outsider.ready(); err == nil {
			t.Errorf("the outsider's API says it is ready, but it cannot have joined")
		}
	})
}

// TestGossipAgentCrashAndLeave: an agent killed with SIGKILL is declared
// failed by serf's failure detector, and every overwatch withdraws its
// backends then; an agent stopped gracefully (SIGTERM) leaves, and every
// overwatch withdraws its backends at once.
//
// The crash comes first, while four members are alive: memberlist shortens
// a suspicion to its minimum (4s with the default LAN timings) once two
// other members confirm it, and with fewer members that could confirm it
// waits longer (up to 24s).
func TestGossipAgentCrashAndLeave(t *testing.T) {
	a, b := startTarget(t, "127.0.0.31"), startTarget(t, "127.0.0.32")
	c := startCluster(t, 2)
	ag1 := c.startAgent(agentSpec{name: "agent-1", backends: web(a)})
	ag2 := c.startAgent(agentSpec{name: "agent-2", backends: web(b)})
	c.everyOverwatch(t, gossipTimeout, "both agents' backends served", serves(webName, a.ip, b.ip))

	ag2.crash()
	took := c.everyOverwatch(t, failTimeout, "a killed agent's backend withdrawn", serves(webName, a.ip))
	t.Logf("a killed agent's backend left every overwatch's answer %s after SIGKILL", took.Round(time.Millisecond))
	c.everyOverwatch(t, time.Second, "withdrawn because it failed", func(o *overwatch) error {
		if reason, err := o.goneReason("agent-2"); err != nil || reason != "failed" {
			return fmt.Errorf("agent-2 gone: reason %q (%v), want failed", reason, err)
		}
		return nil
	})

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ag1.stop(syscall.SIGTERM) // fails the test unless it exits 0
	}()
	took = c.everyOverwatch(t, leaveTimeout, "a leaving agent's backend withdrawn", answersNoAddress(webName))
	t.Logf("a leaving agent's backend left every overwatch's answer %s after SIGTERM", took.Round(time.Millisecond))
	<-stopped
	c.everyOverwatch(t, time.Second, "withdrawn because it left", func(o *overwatch) error {
		if reason, err := o.goneReason("agent-1"); err != nil || reason != "left" {
			return fmt.Errorf("agent-1 gone: reason %q (%v), want left", reason, err)
		}
		return nil
	})
	c.everyOverwatch(t, time.Second, "one member failed, one left", func(o *overwatch) error {
		for series, want := range map[string]float64{
			`opengslb_gossip_members{status="alive"}`:  2,
			`opengslb_gossip_members{status="left"}`:   1,
			`opengslb_gossip_members{status="failed"}`: 1,
			`opengslb_overwatch_agents_registered`:     0,
		} {
			if err := o.expectMetric(series, want)(); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestGossipSilentAgentGoesStale: an agent whose reports are no longer
// accepted is still a member, so nothing withdraws its backends at once:
// past stale.threshold they are marked stale (and still served), past
// stale.remove_after withdrawn. Here the silence comes from a token
// rotation done on the overwatches first (SIGHUP): the agent still signs
// with the old token. Once the agent has the new one too (SIGHUP), its
// backend is served again.
func TestGossipSilentAgentGoesStale(t *testing.T) {
	t.Parallel() // beside TestGossipAgentWaitsForOverwatch, which mostly waits
	a := startTarget(t, "127.0.0.81")
	c := startCluster(t, 2, func(_ int, s *owSpec) { s.stale, s.remove = "2s", "4s" })
	ag := c.startAgent(agentSpec{name: "agent-1", backends: web(a)})
	c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, a.ip))
	c.everyOverwatch(t, time.Second, "nothing stale", metricIs(`opengslb_overwatch_backends{state="stale"}`, 0))

	const rotated = "web-token-rotated-0123456789"
	c.reloadOverwatches(t, func(s *owSpec) { s.tokens = map[string]string{"web": rotated} })
	checkFor(t, gossipTimeout, ag.expectAcks("web", map[string]string{"ow1": "bad token", "ow2": "bad token"}))
	c.everyOverwatch(t, gossipTimeout, "marked stale", metricIs(`opengslb_overwatch_backends{state="stale"}`, 1))
	c.everyOverwatch(t, time.Second, "a stale backend is still served", serves(webName, a.ip))
	c.everyOverwatch(t, gossipTimeout, "withdrawn past remove_after", answersNoAddress(webName))
	for _, o := range c.ows {
		if _, err := o.findLog("no report past stale.remove_after: backends withdrawn"); err != nil {
			t.Errorf("%s: %v", o.name, err)
		}
	}

	spec := ag.spec
	spec.tokens = map[string]string{"web": rotated}
	ag.reload(t, spec)
	c.everyOverwatch(t, gossipTimeout, "served again with the new token", serves(webName, a.ip))
	checkFor(t, gossipTimeout, ag.expectAcks("web", map[string]string{"ow1": "", "ow2": ""}))
}

// TestGossipColdStart: overwatches started before any agent answer the
// agent-backed name SERVFAIL, so resolvers ask elsewhere rather than cache
// a negative answer, until an agent has reported; then they serve its
// backend. A member-join hook on the first overwatch sees the agent join.
// An overwatch added later, which no agent lists, learns the backends from
// the cluster at once.
func TestGossipColdStart(t *testing.T) {
	target := startTarget(t, "127.0.0.41")
	hook := newHookRecorder(t)
	// A long stale threshold, which is also the warm-up timeout: the
	// overwatches must wait for the agent, not give up on it.
	c := startCluster(t, 2, func(i int, s *owSpec) {
		s.stale = "30s"
		if i == 0 {
			s.extra = hookTable("member-join", hook.script)
		}
	})
	c.everyOverwatch(t, time.Second, "cold: SERVFAIL", func(o *overwatch) error {
		return o.expectRcode(webName, dns.TypeA, dns.RcodeServerFailure)()
	})
	c.everyOverwatch(t, time.Second, "warm-up not done", metricIs(`opengslb_overwatch_warmup_done`, 0))

	ag := c.startAgent(agentSpec{name: "agent-1", region: "eu-west", backends: web(target)})
	took := c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, target.ip))
	t.Logf("cold overwatches served the agent's backend %s after it was ready", took.Round(time.Millisecond))
	c.everyOverwatch(t, time.Second, "warm-up done", metricIs(`opengslb_overwatch_warmup_done`, 1))
	for _, o := range c.ows {
		e, err := o.findLog("warm-up done")
		if err != nil || e.str("reason") != "all agents reported" {
			t.Errorf("%s: warm-up done %v (%v), want reason \"all agents reported\"", o.name, e, err)
		}
	}

	t.Run("member-join hook", func(t *testing.T) {
		addr := ag.mustGossipAddr(t)
		line := fmt.Sprintf("agent-1\t%s\tagent\tregion=eu-west,role=agent", addr)
		checkFor(t, gossipTimeout, func() error {
			runs, err := hook.runs()
			if err != nil {
				return err
			}
			for _, r := range runs {
				if r.env["SERF_EVENT"] == "member-join" && r.hasLine(line) {
					for k, want := range map[string]string{"SERF_SELF_ROLE": "overwatch", "SERF_SELF_NAME": "ow1", "SERF_TAG_ROLE": "overwatch"} {
						if r.env[k] != want {
							return fmt.Errorf("the run that saw the agent join has %s=%q, want %q", k, r.env[k], want)
						}
					}
					return nil
				}
			}
			return fmt.Errorf("no member-join run with the line %q on stdin among %d runs: %+v", line, len(runs), runs)
		})
		if err := metricAtLeast(`opengslb_hook_runs_total{event="member-join",result="success"}`, 1)(c.ows[0]); err != nil {
			t.Error(err)
		}
	})

	t.Run("late overwatch", func(t *testing.T) {
		ow3 := c.startOverwatch(2, func(_ int, s *owSpec) { s.stale = "30s" })
		took := c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, target.ip))
		t.Logf("an overwatch that joined a running cluster served the agent's backend %s after it started", took.Round(time.Millisecond))
		if e, err := ow3.findLog("warm-up done"); err != nil || e.str("reason") != "all agents reported" {
			t.Errorf("ow3: warm-up done %v (%v), want reason \"all agents reported\" (not a timeout)", e, err)
		}
	})
}

// answersNoAddress is an everyOverwatch condition: name's A answer is
// NOERROR without addresses (every agent backend withdrawn; no fallback
// can serve what is not there).
func answersNoAddress(name string) func(*overwatch) error {
	return func(o *overwatch) error {
		r, err := o.exchange(q(name, dns.TypeA))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			return fmt.Errorf("%s A: rcode %s, answer %v; want NOERROR and no address", name, dns.RcodeToString[r.Rcode], addresses(r))
		}
		return nil
	}
}

// hookRecorder is a hook command that records every run, its SERF_* and
// OPENGSLB_* environment and its stdin, in a file of its own.
type hookRecorder struct {
	dir, script string
}

type hookRun struct {
	env   map[string]string
	stdin []string
}

func (r hookRun) hasLine(line string) bool {
	for _, l := range r.stdin {
		if l == line {
			return true
		}
	}
	return false
}

func newHookRecorder(t testing.TB) *hookRecorder {
	t.Helper()
	dir := t.TempDir()
	h := &hookRecorder{dir: dir, script: filepath.Join(dir, "record.sh")}
	// Written to a temporary name and renamed, so the test never reads
	// half a run.
	script := fmt.Sprintf(`#!/bin/sh
out=%q/run.$$.$(date +%%s%%N)
{
	env | grep -E '^(SERF|OPENGSLB)_' | sort
	echo '--- stdin'
	cat
} >"$out.tmp" && mv "$out.tmp" "$out"
`, dir)
	if err := os.WriteFile(h.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *hookRecorder) runs() ([]hookRun, error) {
	files, err := filepath.Glob(filepath.Join(h.dir, "run.*"))
	if err != nil {
		return nil, err
	}
	var out []hookRun
	for _, f := range files {
		if strings.HasSuffix(f, ".tmp") {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		env, stdin, _ := strings.Cut(string(text), "--- stdin\n")
		r := hookRun{env: make(map[string]string)}
		for _, l := range strings.Split(strings.TrimSpace(env), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				r.env[k] = v
			}
		}
		if stdin != "" {
			r.stdin = strings.Split(strings.TrimSuffix(stdin, "\n"), "\n")
		}
		out = append(out, r)
	}
	return out, nil
}

// TestGossipRefusesReplayedReport: someone who holds the gossip key (every
// agent does) records an agent's signed report and sends it again. Under
// another node's name the overwatches refuse it (the report names its
// agent, and serf names the sender); under the agent's own name, from the
// agent's address after it crashed, they refuse it as a replay, and the
// crashed agent's backend stays withdrawn.
func TestGossipRefusesReplayedReport(t *testing.T) {
	t.Parallel() // beside TestGossipAgentWaitsForOverwatch, which mostly waits
	target := startTarget(t, "127.0.0.51")
	// A window (the stale threshold) longer than the test, so the replay
	// is refused for having been seen, not for its age.
	c := startCluster(t, 2, func(_ int, s *owSpec) { s.stale = "30s" })
	ag := c.startAgent(agentSpec{name: "agent-1", backends: web(target)})
	c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, target.ip))
	agentAddr := ag.mustGossipAddr(t)

	// Tagged as an overwatch, the spy receives every report.
	spy := joinSerf(t, "spy", "overwatch", c.key, "127.0.0.1:0", c.gossipAddrs())
	payload, err := spy.capture("agent-1", gossipTimeout)
	if err != nil {
		t.Fatal(err)
	}
	answers, err := spy.report(payload, "ow1", "ow2")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ow1": "refused: agent name mismatch", "ow2": "refused: agent name mismatch"}; fmt.Sprint(answers) != fmt.Sprint(want) {
		t.Errorf("a report resent by another node: answers %v, want %v", answers, want)
	}
	c.everyOverwatch(t, time.Second, "name mismatch counted", metricAtLeast(`opengslb_gossip_reports_total{result="name_mismatch"}`, 1))

	ag.crash()
	c.everyOverwatch(t, failTimeout, "the crashed agent's backend withdrawn", answersNoAddress(webName))

	// The impostor takes the crashed agent's name and address (memberlist
	// lets a failed node rejoin from its own address only).
	impostor := joinSerf(t, "agent-1", "agent", c.key, agentAddr, c.gossipAddrs())
	answers, err = impostor.report(payload, "ow1", "ow2")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ow1": "refused: replay", "ow2": "refused: replay"}; fmt.Sprint(answers) != fmt.Sprint(want) {
		t.Errorf("a recorded report replayed under its agent's name: answers %v, want %v", answers, want)
	}
	c.everyOverwatch(t, time.Second, "replay counted", metricAtLeast(`opengslb_gossip_reports_total{result="replay"}`, 1))
	c.neverServes(t, webName, target.ip, time.Second)
}

// TestGossipAgentWaitsForOverwatch: an agent started while no overwatch is
// reachable (they are down, or start later, as after a site-wide power
// loss) keeps running and trying to join. Meanwhile its API answers:
// /api/v1/live 200, /api/v1/ready 503 with the reason. Once an overwatch
// is up it joins, and its backend is served.
//
// An agent whose start waited for the join used to serve no API until it
// joined, and exited after the supervisor's 30s start timeout; the 503
// shows that the start no longer waits, without waiting out those 30s.
//
// It is parallel, as are two other tests, because it mostly waits: with
// -parallel at its default (GOMAXPROCS, 2 here) it runs beside them one
// at a time, after the sequential tests.
func TestGossipAgentWaitsForOverwatch(t *testing.T) {
	t.Parallel()
	target := startTarget(t, "127.0.0.61")
	key := newGossipKey(t)
	owAddr := freeAddr(t, true) // the overwatch binds it later
	ag := startAgentUnjoined(t, agentSpec{name: "agent-1", key: key, overwatches: []string{owAddr}, backends: web(target)})

	for path, want := range map[string]int{"/api/v1/live": 200, "/api/v1/ready": 503} {
		checkFor(t, 5*time.Second, func() error {
			code, body, err := ag.get(path)
			if err != nil {
				return fmt.Errorf("GET %s before any overwatch is up: %w; want %d", path, err, want)
			}
			if code != want || want == 503 && !strings.Contains(string(body), "not joined") {
				return fmt.Errorf("GET %s before any overwatch is up: %d %s; want %d", path, code, body, want)
			}
			return nil
		})
	}
	checkFor(t, gossipTimeout, func() error {
		text, err := ag.metricsText()
		if err != nil {
			return err
		}
		if n, _ := metricValue(text, "opengslb_gossip_join_failures_total"); n < 3 {
			return fmt.Errorf("the agent has failed to join %v times; waiting for 3", n)
		}
		return nil
	})

	c := &cluster{t: t, key: key}
	c.startOverwatch(0, func(_ int, s *owSpec) { s.bind = owAddr })
	c.agents = append(c.agents, ag)
	// The agent retries with a jittered, doubling back-off (1s, 2s, 4s,
	// ...): after three failures the next try is at most 8s away.
	checkFor(t, 8*time.Second+gossipTimeout, ag.ready)
	c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, target.ip))
}
