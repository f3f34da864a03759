package zone

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func ask(t *testing.T, h *harness, build func(chan<- error) messages.ZoneMsg) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err, askErr := runtime.Ask(ctx, h.inbox.Address(), build)
	if askErr != nil {
		t.Fatalf("ask: %v", askErr)
	}
	return err
}

func setOverride(t *testing.T, h *harness, o messages.Override) error {
	return ask(t, h, func(r chan<- error) messages.ZoneMsg { return messages.SetOverride{Override: o, Reply: r} })
}

func clearOverride(t *testing.T, h *harness, service string, backend netip.AddrPort) error {
	return ask(t, h, func(r chan<- error) messages.ZoneMsg {
		return messages.ClearOverride{Service: service, Backend: backend, Reply: r}
	})
}

func servedA(s *Snapshot, name string) int {
	_, n := s.Lookup(name)
	set, ok := n.Domain.A.Pick(0, false)
	if !ok {
		return -1
	}
	return int(set.Count)
}

func TestOverridesBeatHealthAndSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("webapp")
	cfg.DataDir = dir
	h := start(t, cfg)
	h.next(t)
	h.send(t, healthOf("webapp", "10.0.0.1", messages.HealthHealthy))
	waitFor(t, h, "the healthy backend", func(s *Snapshot) bool { return servedA(s, "webapp.gslb.example.com.") == 1 })

	backend := netip.MustParseAddrPort("10.0.0.1:80")
	if err := setOverride(t, h, messages.Override{Service: "webapp", Backend: backend, State: messages.OverrideDrain, Reason: "patching"}); err != nil {
		t.Fatal(err)
	}
	// Drained: out of answers, and fail-open does not bring it back.
	waitFor(t, h, "the drain", func(s *Snapshot) bool { return servedA(s, "webapp.gslb.example.com.") == 0 })
	info, err := os.Stat(filepath.Join(dir, overridesFile))
	if err != nil {
		t.Fatalf("override not persisted: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("overrides file mode %v, want 0600", info.Mode().Perm())
	}
	if got := h.store.Load().Overrides(); len(got) != 1 || got[0].Reason != "patching" {
		t.Errorf("snapshot overrides %+v", got)
	}

	// A new actor (a restarted process) reads the decision back.
	h2 := start(t, cfg)
	if got := servedA(h2.store.Load(), "webapp.gslb.example.com."); got != 0 {
		t.Errorf("after restart the drained backend is served (%d records)", got)
	}

	if err := clearOverride(t, h, "webapp", backend); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, "the backend back after clearing", func(s *Snapshot) bool { return servedA(s, "webapp.gslb.example.com.") == 1 })
	if err := clearOverride(t, h, "webapp", backend); !errors.Is(err, messages.ErrNoOverride) {
		t.Errorf("clearing twice: %v, want ErrNoOverride", err)
	}
	if err := setOverride(t, h, messages.Override{Service: "webapp", State: "maybe"}); err == nil {
		t.Error("an override with state \"maybe\" was accepted")
	}
}

func TestUpOverrideServesAnUnhealthyBackendUntilItExpires(t *testing.T) {
	cfg := testConfig("webapp")
	cfg.DataDir = t.TempDir()
	c := &clock{}
	c.now.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	h := &harness{store: &Store{}, inbox: runtime.NewMailbox[messages.ZoneMsg]("zone", 64, runtime.Block, nil), done: make(chan error, 1)}
	topic := runtime.NewTopic[messages.SnapshotPublished]("snapshots", nil)
	var unsubscribe func()
	h.published, unsubscribe = topic.Subscribe(16)
	defer unsubscribe()
	a := New(zerolog.Nop(), h.store, h.inbox, topic, cfg, Options{Coalesce: 5 * time.Millisecond, Now: c.Now, StaleEvery: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- a.Run(ctx) }()
	defer func() { cancel(); <-h.done }()
	h.next(t)

	h.send(t, healthOf("webapp", "10.0.0.1", messages.HealthUnhealthy))
	if err := setOverride(t, h, messages.Override{Service: "webapp", State: messages.OverrideUp, Expires: c.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, "the forced-up backend", func(s *Snapshot) bool {
		_, n := s.Lookup("webapp.gslb.example.com.")
		return len(n.Domain.Backends) == 1 && n.Domain.Backends[0].Override == messages.OverrideUp && n.Domain.Backends[0].Served
	})
	c.advance(2 * time.Hour)
	waitFor(t, h, "the override to expire", func(s *Snapshot) bool { return len(s.Overrides()) == 0 })
}

func TestCorruptOverridesFileStopsStartUp(t *testing.T) {
	cfg := testConfig("webapp")
	cfg.DataDir = t.TempDir()
	path := filepath.Join(cfg.DataDir, overridesFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(zerolog.Nop(), &Store{}, runtime.NewMailbox[messages.ZoneMsg]("zone", 1, runtime.Block, nil), nil, cfg, Options{})
	err := a.Run(context.Background())
	if !errors.Is(err, runtime.ErrFatal) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run with a corrupt overrides file: %v; want a fatal error naming %s", err, path)
	}
}

// The API answers when the zone replies; an operator who lists overrides or
// asks DNS right after must see the change, not the snapshot before it.
func TestOverrideReplyComesOnceTheSnapshotServesIt(t *testing.T) {
	cfg := testConfig("webapp")
	cfg.DataDir = t.TempDir()
	h := start(t, cfg)
	h.next(t)
	backend := netip.MustParseAddrPort("10.0.0.1:80")
	for round := range 5 {
		if err := setOverride(t, h, messages.Override{Service: "webapp", Backend: backend, State: messages.OverrideDrain}); err != nil {
			t.Fatal(err)
		}
		if got := h.store.Load().Overrides(); len(got) != 1 {
			t.Fatalf("round %d: right after the set reply the snapshot has overrides %+v", round, got)
		}
		if err := clearOverride(t, h, "webapp", backend); err != nil {
			t.Fatal(err)
		}
		if got := h.store.Load().Overrides(); len(got) != 0 {
			t.Fatalf("round %d: right after the clear reply the snapshot has overrides %+v", round, got)
		}
	}
}
