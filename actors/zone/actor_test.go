package zone

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(domains ...string) *config.Config {
	cfg := &config.Config{
		Mode: "overwatch",
		DNS:  config.DNS{Zones: []string{"gslb.example.com."}, DefaultTTL: 30, NegativeTTL: 60},
	}
	for i, name := range domains {
		cfg.Domains = append(cfg.Domains, config.Domain{
			Name: name + ".gslb.example.com.", Service: name, Routing: config.RoutingFailover, TTL: 30, Fallback: config.FallbackNodata,
		})
		cfg.Backends = append(cfg.Backends, config.Backend{
			Service: name, Address: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}).String(), Port: 80, Weight: 100, Priority: 1,
			HealthCheck: config.HealthCheck{Type: config.CheckHTTP, Path: "/health"},
		})
	}
	return cfg
}

type harness struct {
	store     *Store
	inbox     *runtime.Mailbox[messages.ZoneMsg]
	published <-chan messages.SnapshotPublished
	cancel    context.CancelFunc
	done      chan error
}

func start(t *testing.T, cfg *config.Config) *harness {
	t.Helper()
	h := &harness{store: &Store{}, inbox: runtime.NewMailbox[messages.ZoneMsg]("zone", 64, runtime.Block, nil), done: make(chan error, 1)}
	topic := runtime.NewTopic[messages.SnapshotPublished]("snapshots", nil)
	var unsubscribe func()
	h.published, unsubscribe = topic.Subscribe(16)
	a := New(zerolog.Nop(), h.store, h.inbox, topic, cfg, Options{Coalesce: 30 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("zone actor returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("zone actor did not stop within 5s")
		}
		unsubscribe()
	})
	select {
	case <-a.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("zone actor not ready within 5s")
	}
	return h
}

func (h *harness) next(t *testing.T) messages.SnapshotPublished {
	t.Helper()
	select {
	case p := <-h.published:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot published within 5s")
		return messages.SnapshotPublished{}
	}
}

func (h *harness) send(t *testing.T, msg messages.ZoneMsg) {
	t.Helper()
	if err := h.inbox.Address().Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// answerOf returns the A records a query for name would get now.
func answerOf(t *testing.T, s *Snapshot, name string) int {
	t.Helper()
	_, node := s.Lookup(name)
	if node == nil || node.Domain == nil {
		return -1
	}
	set, _ := node.Domain.A.Pick(0, false)
	return int(set.Count)
}

func healthOf(service string, ip string, state messages.HealthState) messages.BackendHealth {
	return messages.BackendHealth{
		Key:   messages.BackendKey{Service: service, Address: netip.MustParseAddr(ip), Port: 80},
		State: state, At: time.Now(),
	}
}

func TestPublishesAtStartAndOnHealthChange(t *testing.T) {
	h := start(t, testConfig("webapp"))
	first := h.next(t)
	if got := answerOf(t, h.store.Load(), "webapp.gslb.example.com."); got != 0 {
		t.Fatalf("unknown backend with fallback nodata served %d records, want 0", got)
	}
	h.send(t, healthOf("webapp", "10.0.0.1", messages.HealthHealthy))
	second := h.next(t)
	if second.Serial <= first.Serial {
		t.Errorf("serial went from %d to %d; it must grow with every change", first.Serial, second.Serial)
	}
	if got := answerOf(t, h.store.Load(), "webapp.gslb.example.com."); got != 1 {
		t.Fatalf("healthy backend: %d records, want 1", got)
	}
}

func TestCoalescesABurst(t *testing.T) {
	cfg := testConfig("a", "b", "c", "d", "e")
	h := start(t, cfg)
	h.next(t)
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		h.send(t, healthOf(name, netip.AddrFrom4([4]byte{10, 0, byte(i), 1}).String(), messages.HealthHealthy))
	}
	p := h.next(t)
	if p.Healthy != 5 {
		t.Errorf("first snapshot after a burst of 5 changes has %d healthy backends, want all 5 in one rebuild", p.Healthy)
	}
	select {
	case extra := <-h.published:
		t.Errorf("a second snapshot %+v followed the burst; want one", extra)
	case <-time.After(150 * time.Millisecond):
	}
}

func TestConfigAppliedReplacesDomainsAndForgetsRemovedBackends(t *testing.T) {
	h := start(t, testConfig("webapp"))
	h.next(t)
	h.send(t, healthOf("webapp", "10.0.0.1", messages.HealthHealthy))
	h.next(t)

	next := testConfig("webapp", "api")
	h.send(t, messages.ConfigApplied{Config: next, Generation: 1})
	p := h.next(t)
	if p.Generation != 1 || p.Domains != 2 {
		t.Fatalf("after apply: %+v, want generation 1 with 2 domains", p)
	}
	if got := answerOf(t, h.store.Load(), "webapp.gslb.example.com."); got != 1 {
		t.Errorf("unchanged backend lost its health across a reload: %d records", got)
	}

	// The same backend with a different check keeps its verdict until
	// the new check decides; a removed backend's verdict is forgotten.
	changed := testConfig("webapp", "api")
	changed.Backends[0].HealthCheck.Path = "/ready"
	h.send(t, messages.ConfigApplied{Config: changed, Generation: 2})
	h.next(t)
	if got := answerOf(t, h.store.Load(), "webapp.gslb.example.com."); got != 1 {
		t.Errorf("backend whose check changed lost its verdict: %d records", got)
	}
	h.send(t, messages.ConfigApplied{Config: testConfig("api"), Generation: 3})
	h.next(t)
	h.send(t, messages.ConfigApplied{Config: testConfig("webapp", "api"), Generation: 4})
	h.next(t)
	if got := answerOf(t, h.store.Load(), "webapp.gslb.example.com."); got != 0 {
		t.Errorf("a removed then re-added backend kept its old verdict: %d records", got)
	}

	// An older generation arriving late is ignored.
	h.send(t, messages.ConfigApplied{Config: testConfig("old"), Generation: 1})
	select {
	case p := <-h.published:
		t.Errorf("stale generation published %+v", p)
	case <-time.After(100 * time.Millisecond):
	}
	if _, node := h.store.Load().Lookup("old.gslb.example.com."); node != nil {
		t.Error("stale generation's domain is served")
	}
}

func TestSnapshotsAreImmutable(t *testing.T) {
	h := start(t, testConfig("webapp"))
	h.next(t)
	before := h.store.Load()
	h.send(t, healthOf("webapp", "10.0.0.1", messages.HealthHealthy))
	h.next(t)
	if got := answerOf(t, before, "webapp.gslb.example.com."); got != 0 {
		t.Errorf("an old snapshot changed under a reader: %d records", got)
	}
	if before == h.store.Load() {
		t.Error("a change was published into the same snapshot instead of a new one")
	}
}

func TestBuildRejectsADomainOutsideEveryZone(t *testing.T) {
	cfg := testConfig("webapp")
	cfg.Domains[0].Name = "webapp.example.org."
	if _, err := Build(Input{Config: cfg}, 1, 1, time.Now()); err == nil {
		t.Fatal("Build accepted a domain outside every zone")
	}
}

func TestPreparedRecordsParse(t *testing.T) {
	cfg := testConfig("webapp")
	snap, err := Build(Input{Config: cfg, Health: map[messages.BackendKey]messages.HealthState{
		{Service: "webapp", Address: netip.MustParseAddr("10.0.0.1"), Port: 80}: messages.HealthHealthy,
	}}, 7, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	z, _ := snap.Lookup("gslb.example.com.")
	// A prepared set must read back as records when placed after a
	// question for its owner, which is how the responder uses it.
	for _, tc := range []struct {
		owner string
		qtype uint16
		set   RRSet
	}{
		{"gslb.example.com.", dns.TypeSOA, z.SOA.Plain},
		{"gslb.example.com.", dns.TypeNS, z.NS.Plain},
		{"WEBAPP.gslb.example.com.", dns.TypeA, func() RRSet { s, _ := snap.names["webapp.gslb.example.com."].Domain.A.Pick(0, false); return s }()},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.owner, tc.qtype)
		wire, _ := m.Pack()
		wire = append(wire, tc.set.Wire...)
		wire[7] = byte(tc.set.Count)
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatalf("%s %s: prepared records do not parse: %v", tc.owner, dns.TypeToString[tc.qtype], err)
		}
		if len(back.Answer) != int(tc.set.Count) || back.Answer[0].Header().Name != tc.owner {
			t.Errorf("%s: read back %v", tc.owner, back.Answer)
		}
	}
}
