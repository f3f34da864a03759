package gossip

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func TestConstructorsValidate(t *testing.T) {
	hooks := runtime.NewMailbox[messages.HookMsg]("hooks", 1, runtime.Reject, nil).Address()
	zone := runtime.NewMailbox[messages.ZoneMsg]("zone", 1, runtime.Block, nil).Address()
	inbox := runtime.NewMailbox[messages.GossipMsg]("gossip", 1, runtime.Block, nil)
	ow := func(edit func(*config.Config)) error {
		cfg := overwatchConfig("ow-1", nil)
		edit(cfg)
		_, err := NewOverwatch(testLogger(t), inbox, zone, hooks, cfg, Options{})
		return err
	}
	ag := func(edit func(*config.Config)) error {
		cfg := agentConfig("a-1", testKey, "127.0.0.1:0", []string{"127.0.0.1:7946"}, map[string]string{"webapp": webToken},
			backend("webapp", "10.0.0.1", 80))
		edit(cfg)
		_, err := NewAgent(testLogger(t), inbox, hooks, cfg, Options{})
		return err
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"overwatch bad key", ow(func(c *config.Config) { c.Overwatch.Gossip.EncryptionKey = "not base64!" }), "overwatch.gossip.encryption_key"},
		{"overwatch short key", ow(func(c *config.Config) { c.Overwatch.Gossip.EncryptionKey = "c2hvcnQ=" }), "overwatch.gossip.encryption_key"},
		{"overwatch no gossip", ow(func(c *config.Config) { c.Overwatch.Gossip = nil }), "overwatch.gossip: not configured"},
		{"overwatch bad bind", ow(func(c *config.Config) { c.Overwatch.Gossip.BindAddress = "127.0.0.1" }), "overwatch.gossip.bind_address"},
		{"overwatch bad port", ow(func(c *config.Config) { c.Overwatch.Gossip.BindAddress = "127.0.0.1:99999" }), "overwatch.gossip.bind_address"},
		{"agent bad key", ag(func(c *config.Config) { c.Agent.Gossip.EncryptionKey = "@@@" }), "agent.gossip.encryption_key"},
		{"agent no key", ag(func(c *config.Config) { c.Agent.Gossip.EncryptionKey = "" }), "agent.gossip.encryption_key"},
		{"agent no overwatches", ag(func(c *config.Config) { c.Agent.Gossip.OverwatchNodes = nil }), "agent.gossip.overwatch_nodes"},
		{"agent bad overwatch", ag(func(c *config.Config) { c.Agent.Gossip.OverwatchNodes = []string{"ow-1"} }), "agent.gossip.overwatch_nodes[0]"},
		{"agent long name", ag(func(c *config.Config) { c.Agent.Identity.NodeID = strings.Repeat("a", MaxNodeName+1) }), "agent.identity.node_id"},
		{"agent bad backend", ag(func(c *config.Config) { c.Agent.Backends[0].Address = "nowhere" }), "agent.backends[0].address"},
		{"agent in overwatch mode", ag(func(c *config.Config) { c.Mode = config.ModeOverwatch }), `mode is "overwatch"`},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to name %q", c.name, c.err, c.want)
		}
		if c.err != nil && strings.Contains(c.err.Error(), testKey) {
			t.Errorf("%s: error quotes the key", c.name)
		}
	}
	if _, err := NewOverwatch(testLogger(t), inbox, runtime.Address[messages.ZoneMsg]{}, hooks, overwatchConfig("ow-1", nil), Options{}); err == nil {
		t.Error("overwatch without a zone address accepted")
	}
}

// A reload replaces the overwatch's agent tokens and the agent's backends
// and tokens; the agent reports again at once.
func TestConfigApplied(t *testing.T) {
	owCfg := overwatchConfig("ow-1", map[string]string{"webapp": webToken})
	ow := startOverwatch(t, owCfg, testOptions())
	acfg := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{ow.a.BindAddr()},
		map[string]string{"webapp": webToken, "api": apiToken}, backend("webapp", "10.0.1.10", 8080))
	ag := startAgent(t, acfg, testOptions())
	ag.waitReady(t)
	nextZone(t, ow, "webapp report", func(m messages.AgentReport) bool { return m.Service == "webapp" })
	waitFor(t, "api refused as unknown", func() bool { return ackOf(ag.a.Status(), "api", "ow-1").Reason == "unknown service" })

	// The overwatch learns the api token.
	next := overwatchConfig("ow-1", map[string]string{"webapp": webToken, "api": apiToken})
	next.Overwatch.Gossip.BindAddress = owCfg.Overwatch.Gossip.BindAddress
	if err := ow.inbox.Address().Send(context.Background(), messages.ConfigApplied{Config: next, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	// The agent gains an api backend: it reports everything at once. The
	// overwatch may see this before its own reload; the next heartbeat
	// would then fix it, so wait for the overwatch's reload first.
	waitFor(t, "overwatch reload", func() bool { return ow.a.inbox.Len() == 0 })
	acfg2 := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{ow.a.BindAddr()},
		map[string]string{"webapp": webToken, "api": apiToken}, backend("webapp", "10.0.1.10", 8080), backend("api", "10.0.2.10", 9090))
	if err := ag.inbox.Address().Send(context.Background(), messages.ConfigApplied{Config: acfg2, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	// (An api report without backends, answering the overwatch's state
	// query, may be taken first.)
	api := nextZone(t, ow, "api report with its backend", func(m messages.AgentReport) bool { return m.Service == "api" && len(m.Backends) > 0 })
	if len(api.Backends) != 1 || api.Backends[0].Port != 9090 {
		t.Fatalf("api report: %+v", api)
	}
	// An older generation is ignored.
	old := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{ow.a.BindAddr()}, map[string]string{"webapp": webToken})
	if err := ag.inbox.Address().Send(context.Background(), messages.ConfigApplied{Config: old, Generation: 1}); err != nil {
		t.Fatal(err)
	}
	// A message sent after it proves it was handled: the inbox is FIFO.
	marker := messages.BackendHealth{Key: messages.BackendKey{Service: "webapp", Address: netip.MustParseAddr("10.0.1.10"), Port: 8080}, State: messages.HealthUnhealthy}
	if err := ag.inbox.Address().Send(context.Background(), marker); err != nil {
		t.Fatal(err)
	}
	nextZone(t, ow, "the marker's report", func(m messages.AgentReport) bool {
		return m.Service == "webapp" && len(m.Backends) == 1 && m.Backends[0].Health == messages.HealthUnhealthy
	})
	waitFor(t, "the marker in the agent's status", func() bool {
		for _, s := range ag.a.Status().Services {
			if s.Service == "webapp" && len(s.Backends) == 1 && s.Backends[0].Health == "unhealthy" {
				return true
			}
		}
		return false
	})
	if got := len(ag.a.Status().Services); got != 2 {
		t.Fatalf("after an older generation the agent reports %d services, want the 2 of generation 2", got)
	}
}

// An agent started before any overwatch keeps trying with back-off and
// joins when one comes up; when its only overwatch leaves and comes back,
// it joins again by itself.
func TestAgentJoinsLateAndRejoins(t *testing.T) {
	port := freePort(t)
	owAddr := "127.0.0.1:" + strconv.Itoa(port)
	acfg := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{owAddr}, map[string]string{"webapp": webToken},
		backend("webapp", "10.0.1.10", 8080))
	failures := joinFailures.Get()
	ag := startAgent(t, acfg, testOptions())
	waitFor(t, "failed join attempts", func() bool { return ag.a.Status().JoinAttempts >= 2 })
	if joinFailures.Get()-failures < 2 {
		t.Error("join failures not counted")
	}

	owCfg := overwatchConfig("ow-1", map[string]string{"webapp": webToken})
	owCfg.Overwatch.Gossip.BindAddress = owAddr
	ow := startOverwatch(t, owCfg, testOptions())
	ag.waitReady(t)
	nextZone(t, ow, "report", func(m messages.AgentReport) bool { return m.Agent == "agent-1" })

	// The overwatch restarts gracefully: drain (leave), stop, run again.
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := ow.a.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	ow.stop(t)
	waitFor(t, "agent to see the overwatch leave", func() bool { return hasMember(ag.a.Status(), "ow-1", "left") })
	ow.a.draining.Store(false) // a new process would start fresh
	ow.run(t)
	nextZone(t, ow, "report after the overwatch came back", func(m messages.AgentReport) bool { return m.Agent == "agent-1" })
	waitFor(t, "agent to list the overwatch alive", func() bool { return hasMember(ag.a.Status(), "ow-1", "alive") })
}

// An overwatch never waits for its peers: it is ready at once and keeps
// trying to join in the background.
func TestOverwatchJoinIsBestEffort(t *testing.T) {
	cfg := overwatchConfig("ow-1", nil, "127.0.0.1:"+strconv.Itoa(freePort(t)))
	ow := startOverwatch(t, cfg, testOptions()) // ready, or it fails
	waitFor(t, "join attempts", func() bool {
		st := ow.a.Status()
		return st.JoinAttempts >= 2 && st.JoinError != "" && !st.Joined
	})
}

// A full hooks mailbox costs hook events, never gossip: the report is
// still taken, and the loss is counted.
func TestHooksNeverBlockGossip(t *testing.T) {
	n := newNode()
	// A blocking mailbox of one that nobody reads: the worst wiring.
	n.hooks = runtime.NewMailbox[messages.HookMsg]("hooks", 1, runtime.Block, nil)
	a, err := NewOverwatch(testLogger(t), n.inbox, n.zone.Address(), n.hooks.Address(), overwatchConfig("ow-1", map[string]string{"webapp": webToken}), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	n.a = a
	dropped := hookDropped.Get()
	n.run(t)
	<-a.Ready()
	fake := startRaw(t, "fake-agent", "agent", keyBytes, a.BindAddr())
	start := time.Now()
	got := fake.query(t, QueryReport, signed(t, "fake-agent", "webapp", uint64(time.Now().UnixNano()), webToken),
		&serf.QueryParam{FilterTags: toOverwatches}, "ow-1")
	if got != "ok" {
		t.Fatalf("answer %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("report took %s with hooks stuck", d)
	}
	if hookDropped.Get() == dropped {
		t.Error("no hook event counted as dropped")
	}
}

// Drain without a running serf has nothing to leave; Run after Drain does
// not join.
func TestDrainWithoutRun(t *testing.T) {
	acfg := agentConfig("agent-1", testKey, "127.0.0.1:0", []string{"127.0.0.1:1"}, map[string]string{"webapp": webToken})
	n := newNode()
	a, err := NewAgent(testLogger(t), n.inbox, n.hooks.Address(), acfg, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.a = a
	n.run(t)
	waitFor(t, "serf running", func() bool { return a.Status().Running })
	if st := a.Status(); st.JoinAttempts != 0 || !st.Draining {
		t.Errorf("drained agent joins: %+v", st)
	}
	n.stop(t)
	if err := a.Drain(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
