package gossip

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
	"github.com/opengslb/opengslb/runtime/runtimetest"
)

// The walk that matters: an agent's report arrives at the overwatch's zone,
// a health change is re-sent at once, a wrong token is refused while the
// right one is taken, a state query makes the agent send again, warm-up
// ends once the agent has reported, and the agent's leave withdraws it at
// once.
func TestAgentReportsToOverwatch(t *testing.T) {
	accepted, badToken := reportsTotal(resultAccepted).Get(), reportsTotal(resultBadToken).Get()
	ow := startOverwatch(t, overwatchConfig("ow-1", map[string]string{"webapp": webToken, "api": apiToken}), testOptions())

	// The agent holds the right webapp token and a wrong api token.
	// Heartbeats are a minute apart: every report below is event-driven.
	acfg := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{ow.a.BindAddr()},
		map[string]string{"webapp": webToken, "api": wrongToken},
		backend("webapp", "10.0.1.10", 8080), backend("api", "10.0.2.10", 9090))
	ag := startAgent(t, acfg, testOptions())
	ag.waitReady(t)

	alive := nextZone(t, ow, "AgentAlive", func(m messages.AgentAlive) bool { return m.Agent == "agent-1" })
	if alive.Region != "us-east" {
		t.Errorf("AgentAlive region %q", alive.Region)
	}
	first := nextZone(t, ow, "first webapp report", func(m messages.AgentReport) bool { return m.Service == "webapp" })
	if len(first.Backends) != 1 || first.Backends[0].Health != messages.HealthUnknown ||
		first.Backends[0].Address != netip.MustParseAddr("10.0.1.10") || first.Backends[0].Check.Path != "/health" {
		t.Fatalf("first report: %+v", first)
	}
	if first.Agent != "agent-1" || first.Address != ag.a.BindAddr() || first.Region != "us-east" {
		t.Errorf("report header: agent %q addr %q (agent at %q) region %q", first.Agent, first.Address, ag.a.BindAddr(), first.Region)
	}

	// Warm-up ends as soon as the only agent has reported.
	wd := nextZone[messages.WarmupDone](t, ow, "WarmupDone", nil)
	if wd.Reason != "all agents reported" || wd.Agents != 1 || len(wd.Missing) != 0 {
		t.Errorf("WarmupDone: %+v", wd)
	}

	// A health change is reported at once, not at the next heartbeat.
	key := messages.BackendKey{Service: "webapp", Address: netip.MustParseAddr("10.0.1.10"), Port: 8080}
	sent := time.Now()
	if err := ag.inbox.Address().Send(context.Background(), messages.BackendHealth{Key: key, State: messages.HealthHealthy, At: sent}); err != nil {
		t.Fatal(err)
	}
	healthy := nextZone(t, ow, "healthy report", func(m messages.AgentReport) bool {
		return m.Service == "webapp" && m.Backends[0].Health == messages.HealthHealthy
	})
	if healthy.Seq <= first.Seq {
		t.Errorf("seq went from %d to %d", first.Seq, healthy.Seq)
	}
	t.Logf("health change reached the zone in %s", time.Since(sent))
	bh := nextHook(t, ag, "backend-health", func(ev messages.HookEvent) bool { return ev.Event == "backend-health" })
	if bh.Backend == nil || bh.Backend.Key != key || bh.Backend.State != messages.HealthHealthy {
		t.Errorf("backend-health hook: %+v", bh)
	}
	join := nextHook(t, ow, "member-join", func(ev messages.HookEvent) bool {
		return ev.Event == "member-join" && slices.ContainsFunc(ev.Members, func(m messages.HookMember) bool { return m.Name == "agent-1" })
	})
	if m := join.Members[0]; m.Role != "agent" || m.Tags["region"] != "us-east" || m.Status != "alive" {
		t.Errorf("member-join hook member: %+v", m)
	}

	// The api report carries the wrong token: refused, counted, and the
	// agent knows who refused it and why.
	waitFor(t, "agent status with acks of both services", func() bool {
		st := ag.a.Status()
		return ackOf(st, "webapp", "ow-1").Accepted && ackOf(st, "api", "ow-1").Reason == "bad token"
	})
	if d := reportsTotal(resultBadToken).Get() - badToken; d < 1 {
		t.Errorf("bad_token counted %d times", d)
	}
	if d := reportsTotal(resultAccepted).Get() - accepted; d < 2 {
		t.Errorf("accepted counted %d times", d)
	}
	waitFor(t, "overwatch status of the agent", func() bool {
		for _, as := range ow.a.Status().Agents {
			if as.Agent == "agent-1" {
				return as.Registered && as.Refused >= 1 && as.LastRefusal == "bad token" && slices.Equal(as.Services, []string{"webapp"})
			}
		}
		return false
	})

	waitFor(t, "gauges", func() bool { return agentsRegistered.Get() == 1 && membersAlive.Get() == 2 })
	if acksAccepted.Get() == 0 || acksRefused.Get() == 0 || reportsSent("webapp").Get() == 0 {
		t.Errorf("agent counters: acks accepted %d refused %d, webapp sent %d", acksAccepted.Get(), acksRefused.Get(), reportsSent("webapp").Get())
	}

	// An overwatch's "opengslb-state" query makes the agent send again.
	peer := startRaw(t, "peer", "test", keyBytes, ow.a.BindAddr())
	before := healthy.Seq
	if got := peer.query(t, QueryState, nil, &serf.QueryParam{FilterNodes: []string{"agent-1"}}, "agent-1"); got != "ok" {
		t.Fatalf("state query answered %q", got)
	}
	again := nextZone(t, ow, "report after state query", func(m messages.AgentReport) bool {
		return m.Service == "webapp" && m.Seq > before
	})
	if again.Backends[0].Health != messages.HealthHealthy {
		t.Errorf("re-sent report lost the health: %+v", again.Backends[0])
	}

	// Drain leaves: the overwatch withdraws the agent at once.
	left := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := ag.a.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	gone := nextZone(t, ow, "AgentGone", func(m messages.AgentGone) bool { return m.Agent == "agent-1" })
	if gone.Reason != "left" {
		t.Errorf("AgentGone reason %q, want left", gone.Reason)
	}
	t.Logf("leave reached the zone %s after Drain began", time.Since(left))
	if !ag.a.Status().Draining {
		t.Error("agent status does not say draining")
	}
	ag.stop(t)
	if ag.a.Status().Running {
		t.Error("stopped agent still says running")
	}
}

func ackOf(st Status, service, overwatch string) AckStatus {
	for _, ss := range st.Services {
		if ss.Service == service {
			for _, ack := range ss.Acks {
				if ack.Overwatch == overwatch {
					return ack
				}
			}
		}
	}
	return AckStatus{}
}

// Forged, replayed, stale and malformed reports are refused with the
// reason the agent is told and the result that is counted.
func TestOverwatchRefusesBadReports(t *testing.T) {
	ow := startOverwatch(t, overwatchConfig("ow-1", map[string]string{"webapp": webToken}), testOptions())
	fake := startRaw(t, "fake-agent", "agent", keyBytes, ow.a.BindAddr())
	nextZone(t, ow, "AgentAlive", func(m messages.AgentAlive) bool { return m.Agent == "fake-agent" })

	send := func(payload []byte) string {
		return fake.query(t, QueryReport, payload, &serf.QueryParam{FilterTags: toOverwatches}, "ow-1")
	}
	now := uint64(time.Now().UnixNano())
	good := signed(t, "fake-agent", "webapp", now, webToken)
	garbage := append([]byte{ReportVersion}, make([]byte, 40)...)
	cases := []struct {
		name    string
		payload []byte
		answer  string
		result  string
	}{
		{"valid", good, "ok", resultAccepted},
		{"replayed", good, "refused: replay", resultReplay},
		{"older seq", signed(t, "fake-agent", "webapp", now-1, webToken), "refused: replay", resultReplay},
		{"captured long ago", signed(t, "fake-agent", "webapp", now-uint64(time.Hour), webToken), "refused: replay", resultReplay},
		{"from the future", signed(t, "fake-agent", "webapp", now+uint64(time.Hour), webToken), "refused: replay: in the future", resultReplay},
		{"wrong token", signed(t, "fake-agent", "webapp", now+1, "guessed-token-0123456789"), "refused: bad token", resultBadToken},
		{"unknown service", signed(t, "fake-agent", "billing", now+2, webToken), "refused: unknown service", resultUnknownService},
		{"someone else's name", signed(t, "agent-7", "webapp", now+3, webToken), "refused: agent name mismatch", resultNameMismatch},
		{"garbage", garbage, "refused: decode error", resultDecodeError},
		{"too large", make([]byte, MaxReportSize+1), "refused: too large", resultTooLarge},
		{"valid again", signed(t, "fake-agent", "webapp", now+4, webToken), "ok", resultAccepted},
	}
	for _, c := range cases {
		before := reportsTotal(c.result).Get()
		got := send(c.payload)
		if got != c.answer {
			t.Errorf("%s: answered %q, want %q", c.name, got, c.answer)
		}
		if d := reportsTotal(c.result).Get() - before; d != 1 {
			t.Errorf("%s: result %q counted %d times, want 1", c.name, c.result, d)
		}
	}
	// The old capture is refused by the seq already; the window refuses it
	// for an overwatch that has forgotten (see TestReplayPrune).
	r1 := nextZone(t, ow, "first accepted report", func(m messages.AgentReport) bool { return m.Agent == "fake-agent" })
	r2 := nextZone(t, ow, "second accepted report", func(m messages.AgentReport) bool { return m.Agent == "fake-agent" })
	if r1.Seq != now || r2.Seq != now+4 {
		t.Errorf("zone got seqs %d, %d; want %d, %d (and nothing in between)", r1.Seq, r2.Seq, now, now+4)
	}
	waitFor(t, "refusals in the overwatch status", func() bool {
		for _, as := range ow.a.Status().Agents {
			if as.Agent == "fake-agent" {
				return as.Accepted == 2 && as.Refused == 9
			}
		}
		return false
	})
}

// A node without the gossip key never gets in: its joins fail, and the
// overwatch never lists it.
func TestWrongKeyNeverJoins(t *testing.T) {
	ow := startOverwatch(t, overwatchConfig("ow-1", map[string]string{"webapp": webToken}), testOptions())
	acfg := agentConfig("intruder", otherKey, "127.0.0.1:0", []string{ow.a.BindAddr()}, map[string]string{"webapp": webToken},
		backend("webapp", "10.0.1.10", 8080))
	ag := startAgent(t, acfg, testOptions())
	waitFor(t, "three failed join attempts", func() bool {
		st := ag.a.Status()
		return st.JoinAttempts >= 3 && st.JoinError != ""
	})
	select {
	case <-ag.a.Ready():
		t.Fatal("agent with the wrong key is ready")
	default:
	}
	if hasMember(ow.a.Status(), "intruder", "") {
		t.Fatal("overwatch lists the agent with the wrong key")
	}
	for _, m := range ow.a.Status().Members {
		if m.Name != "ow-1" {
			t.Errorf("unexpected member %+v", m)
		}
	}
}

// An agent that dies without leaving is declared failed within the
// failure detector's bound; run again, it is back.
func TestAgentKilledIsFailed(t *testing.T) {
	ow := startOverwatch(t, overwatchConfig("ow-1", map[string]string{"webapp": webToken}), testOptions())
	bind := "127.0.0.1:" + strconv.Itoa(freePort(t))
	acfg := agentConfig("agent-k", testKey, bind, []string{ow.a.BindAddr()}, map[string]string{"webapp": webToken},
		backend("webapp", "10.0.1.10", 8080))
	ag := startAgent(t, acfg, testOptions())
	ag.waitReady(t)
	nextZone(t, ow, "first report", func(m messages.AgentReport) bool { return m.Agent == "agent-k" })

	killed := time.Now()
	ag.stop(t) // Run returns: serf shuts down without leaving
	gone := nextZone(t, ow, "AgentGone", func(m messages.AgentGone) bool { return m.Agent == "agent-k" })
	if gone.Reason != "failed" {
		t.Fatalf("AgentGone reason %q, want failed", gone.Reason)
	}
	t.Logf("failure detected %s after the kill", time.Since(killed))

	// Run again on the same actor and address: serf is rebuilt, rejoins,
	// and the agent reports again.
	ag.run(t)
	nextZone(t, ow, "AgentAlive after restart", func(m messages.AgentAlive) bool { return m.Agent == "agent-k" })
	nextZone(t, ow, "report after restart", func(m messages.AgentReport) bool { return m.Agent == "agent-k" })
}

// Warm-up ends on its bound when an alive agent never reports, naming it.
func TestWarmupTimeout(t *testing.T) {
	opts := testOptions()
	opts.WarmupTimeout = 1500 * time.Millisecond
	ow := startOverwatch(t, overwatchConfig("ow-1", map[string]string{"webapp": webToken}), opts)
	startRaw(t, "silent-agent", "agent", keyBytes, ow.a.BindAddr())
	wd := nextZone[messages.WarmupDone](t, ow, "WarmupDone", nil)
	if wd.Reason != "timeout" || wd.Agents != 1 || !slices.Equal(wd.Missing, []string{"silent-agent"}) {
		t.Fatalf("WarmupDone: %+v", wd)
	}
	waitFor(t, "status to say warmed up", func() bool { return ow.a.Status().WarmedUp })
}

// The size limit holds end to end: a report of MaxReportSize bytes from a
// node with the longest name still fits serf's QuerySizeLimit.
func TestMaxReportFitsQueryLimit(t *testing.T) {
	n := startRaw(t, strings.Repeat("n", MaxNodeName), "agent", keyBytes)
	resp, err := n.s.Query(QueryReport, make([]byte, MaxReportSize), &serf.QueryParam{FilterTags: toOverwatches, Timeout: time.Second})
	if err != nil {
		t.Fatalf("a %d-byte report does not fit: %v", MaxReportSize, err)
	}
	resp.Close()
	if _, err := n.s.Query(QueryReport, make([]byte, QuerySizeLimit), &serf.QueryParam{FilterTags: toOverwatches}); err == nil {
		t.Fatal("serf took a query over QuerySizeLimit")
	}
}

// An alive agent that stays silent past the stale threshold is asked for
// its state again, at most once per threshold.
func TestSilentAgentIsAsked(t *testing.T) {
	cfg := overwatchConfig("ow-1", map[string]string{"webapp": webToken})
	cfg.Overwatch.Stale.Threshold.Duration = 300 * time.Millisecond
	queries := stateQueries.Get()
	ow := startOverwatch(t, cfg, testOptions())
	silent := startRaw(t, "silent-agent", "agent", keyBytes, ow.a.BindAddr())
	var asked []time.Time
	deadline := time.After(within)
	for len(asked) < 3 {
		select {
		case e := <-silent.events:
			if q, ok := e.(*serf.Query); ok && q.Name == QueryState {
				asked = append(asked, time.Now())
			}
		case <-deadline:
			t.Fatalf("asked %d times", len(asked))
		}
	}
	// Once per threshold, not on every stale check (a third of it); a
	// little slack for gossip delivering queries at different speeds.
	for i := 1; i < len(asked); i++ {
		if gap := asked[i].Sub(asked[i-1]); gap < 200*time.Millisecond {
			t.Errorf("state queries %d and %d came %s apart; want about one threshold (300ms)", i, i+1, gap)
		}
	}
	if d := stateQueries.Get() - queries; d < 3 {
		t.Errorf("state queries counted %d", d)
	}
}

// An AgentGone the zone could not take (its mailbox full past ZoneTimeout)
// is sent again by the stale check: a busy zone must not leave a dead
// agent's backends in answers.
func TestAgentGoneIsRetriedWhenTheZoneIsBusy(t *testing.T) {
	cfg := overwatchConfig("ow-1", map[string]string{"webapp": webToken})
	cfg.Overwatch.Stale.Threshold.Duration = 300 * time.Millisecond
	opts := testOptions()
	opts.ZoneTimeout = 50 * time.Millisecond
	ow := newNode()
	ow.zone = runtime.NewMailbox[messages.ZoneMsg]("zone", 2, runtime.Block, nil)
	a, err := NewOverwatch(testLogger(t), ow.inbox, ow.zone.Address(), ow.hooks.Address(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ow.a = a
	ow.run(t)
	<-a.Ready()

	bind := "127.0.0.1:" + strconv.Itoa(freePort(t))
	acfg := agentConfig("agent-z", testKey, bind, []string{ow.a.BindAddr()}, map[string]string{"webapp": webToken},
		backend("webapp", "10.0.1.10", 8080))
	ag := startAgent(t, acfg, testOptions())
	ag.waitReady(t)
	nextZone(t, ow, "first report", func(m messages.AgentReport) bool { return m.Agent == "agent-z" })

	// Fill the zone's mailbox, then make the agent leave.
	for ow.zone.Len() < 2 {
		if err := ow.zone.Address().Send(context.Background(), messages.WarmupDone{Reason: "filler"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := ag.a.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitFor(t, within, "the overwatch to see the agent leave", func() bool { return statusOf(ow, "agent-z") == "left" })
	// Past ZoneTimeout the first hand-over has failed; only the stale
	// check's retry can deliver AgentGone now.
	time.Sleep(3 * opts.ZoneTimeout)
	if ow.zone.Len() != 2 {
		t.Fatalf("zone mailbox holds %d messages, want the 2 fillers", ow.zone.Len())
	}
	gone := nextZone(t, ow, "the retried AgentGone", func(m messages.AgentGone) bool { return m.Agent == "agent-z" })
	if gone.Reason != "left" {
		t.Errorf("AgentGone reason %q, want left", gone.Reason)
	}
}

func statusOf(n *node, name string) string {
	for _, m := range n.a.Status().Members {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}
