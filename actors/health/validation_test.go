package health

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// An overwatch validates what agents claim with the agent's own check, and
// a "none" check by a TCP connect.
func TestValidatesAgentBackends(t *testing.T) {
	cfg := &config.Config{Mode: config.ModeOverwatch, Overwatch: &config.Overwatch{
		Validation: config.Validation{Enabled: true, CheckInterval: ms(30), CheckTimeout: ms(20)},
	}}
	h := newHarness(t, cfg, Options{})
	h.run()

	web := newFlipServer(t, false)
	webKey := keyOf("webapp", web.addrPort(t))
	closedKey := keyOf("db", closedPort(t))
	send := func(targets ...messages.ValidationTarget) {
		t.Helper()
		if err := h.inbox.Address().Send(context.Background(), messages.ValidationTargets{Backends: targets}); err != nil {
			t.Fatal(err)
		}
	}
	send(
		messages.ValidationTarget{Key: webKey, Check: messages.CheckSpec{Type: config.CheckHTTP, Path: "/health", ExpectedStatus: []int{200}}},
		messages.ValidationTarget{Key: closedKey, Check: messages.CheckSpec{Type: config.CheckNone}},
	)
	h.expect(webKey, messages.HealthHealthy)
	h.expect(closedKey, messages.HealthUnhealthy)

	web.status.Store(http.StatusServiceUnavailable)
	h.expect(webKey, messages.HealthUnhealthy)

	// A list without the backend stops validating it.
	send()
	waitFor(t, "validation of removed targets to stop", func() bool {
		before := web.hits.Load()
		return waitHits(web, before)
	})
}

// waitHits reports whether no check reached s for a few intervals.
func waitHits(s *flipServer, before int64) bool {
	for range 5 {
		if s.hits.Load() != before {
			return false
		}
		<-time.After(30 * time.Millisecond)
	}
	return true
}

func TestValidationOffChecksNothingExtra(t *testing.T) {
	cfg := &config.Config{Mode: config.ModeOverwatch, Overwatch: &config.Overwatch{
		Validation: config.Validation{Enabled: false, CheckInterval: ms(30), CheckTimeout: ms(20)},
	}}
	h := newHarness(t, cfg, Options{})
	h.run()
	web := newFlipServer(t, false)
	if err := h.inbox.Address().Send(context.Background(), messages.ValidationTargets{Backends: []messages.ValidationTarget{
		{Key: keyOf("webapp", web.addrPort(t)), Check: messages.CheckSpec{Type: config.CheckHTTP, Path: "/"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if !waitHits(web, 0) {
		t.Fatal("validation disabled, yet the overwatch probed an agent's backend")
	}
}
