package zone

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// gossipConfig is an overwatch that takes agent reports for "webapp" and
// has no static backends of its own.
func gossipConfig() *config.Config {
	cfg := testConfig()
	cfg.Domains = []config.Domain{{Name: "webapp.gslb.example.com.", Service: "webapp", Routing: config.RoutingRoundRobin, TTL: 30, Fallback: config.FallbackAll}}
	cfg.Overwatch = &config.Overwatch{
		AgentTokens: map[string]string{"webapp": "0123456789abcdef0123"},
		Gossip:      &config.OverwatchGossip{BindAddress: "127.0.0.1:0", EncryptionKey: "x"},
		Validation:  config.Validation{Enabled: true},
		Stale: config.Stale{
			Threshold:   config.Duration{Duration: 30 * time.Second},
			RemoveAfter: config.Duration{Duration: 5 * time.Minute},
		},
	}
	return cfg
}

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }

type agentHarness struct {
	*harness
	health *runtime.Mailbox[messages.HealthMsg]
	clock  *clock
}

func startAgents(t *testing.T, cfg *config.Config) *agentHarness {
	t.Helper()
	c := &clock{}
	c.now.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	h := &agentHarness{
		harness: &harness{store: &Store{}, inbox: runtime.NewMailbox[messages.ZoneMsg]("zone", 64, runtime.Block, nil), done: make(chan error, 1)},
		health:  runtime.NewMailbox[messages.HealthMsg]("health", 1, runtime.Latest, nil),
		clock:   c,
	}
	topic := runtime.NewTopic[messages.SnapshotPublished]("snapshots", nil)
	var unsubscribe func()
	h.published, unsubscribe = topic.Subscribe(16)
	a := New(zerolog.Nop(), h.store, h.inbox, topic, cfg, Options{
		Coalesce: 10 * time.Millisecond, Now: c.Now, Health: h.health.Address(), StaleEvery: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("zone actor did not stop within 5s")
		}
		unsubscribe()
	})
	h.next(t)
	return h
}

func report(agent string, seq uint64, at time.Time, backends ...messages.AgentBackend) messages.AgentReport {
	return messages.AgentReport{Agent: agent, Region: "us-east", Service: "webapp", Seq: seq, Backends: backends, Received: at}
}

func backendAt(ip string, state messages.HealthState) messages.AgentBackend {
	return messages.AgentBackend{Address: netip.MustParseAddr(ip), Port: 8080, Weight: 100, Priority: 1, Health: state,
		Check: messages.CheckSpec{Type: "http", Path: "/health"}}
}

// waitFor polls the published snapshot until cond holds, bounded.
func waitFor(t *testing.T, h *harness, what string, cond func(*Snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond(h.store.Load()) {
			return
		}
		select {
		case <-h.published:
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func domain(s *Snapshot) *Domain {
	_, n := s.Lookup("webapp.gslb.example.com.")
	return n.Domain
}

func served(s *Snapshot) int {
	set, ok := domain(s).A.Pick(0, false)
	if !ok {
		return -1 // SERVFAIL
	}
	return int(set.Count)
}

func TestColdStartAnswersServfailUntilWarm(t *testing.T) {
	h := startAgents(t, gossipConfig())
	if got := served(h.store.Load()); got != -1 {
		t.Fatalf("cold overwatch with no agent report: %d records, want SERVFAIL", got)
	}
	h.send(t, messages.WarmupDone{At: h.clock.Now(), Reason: "timeout"})
	waitFor(t, h.harness, "warm-up to end SERVFAIL", func(s *Snapshot) bool { return served(s) == 0 })
}

func TestAgentReportsAreServedAndWithdrawn(t *testing.T) {
	h := startAgents(t, gossipConfig())
	h.send(t, messages.WarmupDone{At: h.clock.Now()})
	h.send(t, report("web-1", 1, h.clock.Now(), backendAt("10.0.1.10", messages.HealthHealthy), backendAt("10.0.1.11", messages.HealthUnhealthy)))
	h.send(t, report("web-2", 1, h.clock.Now(), backendAt("10.0.1.12", messages.HealthHealthy)))
	waitFor(t, h.harness, "two healthy agent backends", func(s *Snapshot) bool { return served(s) == 2 })

	// The HealthActor is told to validate every agent backend.
	select {
	case msg := <-h.health.Receive():
		if vt, ok := msg.(messages.ValidationTargets); !ok || len(vt.Backends) != 3 {
			t.Fatalf("validation targets %+v, want the 3 agent backends", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no validation targets sent")
	}

	// The overwatch's own validation overrules an agent's "healthy".
	h.send(t, messages.BackendHealth{Key: messages.BackendKey{Service: "webapp", Address: netip.MustParseAddr("10.0.1.12"), Port: 8080}, State: messages.HealthUnhealthy})
	waitFor(t, h.harness, "validation to pull 10.0.1.12", func(s *Snapshot) bool { return served(s) == 1 })
	if got := validationDisagreements.Get(); got != 1 {
		t.Errorf("opengslb_overwatch_validation_disagreements = %v, want 1", got)
	}

	// An older sequence is ignored; a failed agent is withdrawn at once.
	h.send(t, report("web-1", 0, h.clock.Now()))
	h.send(t, messages.AgentGone{Agent: "web-1", Reason: "failed"})
	waitFor(t, h.harness, "web-1's backends withdrawn", func(s *Snapshot) bool {
		for _, b := range domain(s).Backends {
			if b.Source == "web-1" {
				return false
			}
		}
		return true
	})
}

func TestSilentAgentTurnsStaleThenIsRemoved(t *testing.T) {
	h := startAgents(t, gossipConfig())
	h.send(t, messages.WarmupDone{At: h.clock.Now()})
	h.send(t, report("web-1", 1, h.clock.Now(), backendAt("10.0.1.10", messages.HealthHealthy)))
	waitFor(t, h.harness, "the report", func(s *Snapshot) bool { return served(s) == 1 })

	h.clock.advance(31 * time.Second)
	waitFor(t, h.harness, "the report to turn stale", func(s *Snapshot) bool {
		b := domain(s).Backends
		return len(b) == 1 && b[0].Stale && b[0].Served
	})
	h.clock.advance(5 * time.Minute)
	waitFor(t, h.harness, "the stale report to be removed", func(s *Snapshot) bool { return len(domain(s).Backends) == 0 })
}
