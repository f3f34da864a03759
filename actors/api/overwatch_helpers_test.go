package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// fixedNow is the clock of every overwatch API test: expiries and ages are
// computed from it, so the answers do not depend on when the test runs.
var fixedNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// fixtureSnapshot is a real zone snapshot: two domains of "webapp" (so
// backends must be deduplicated) with static IPv4 and IPv6 backends and one
// stale agent-reported backend, a drain override, and "api" whose only
// backend is down with fallback servfail.
func fixtureSnapshot(t *testing.T) *zone.Snapshot {
	t.Helper()
	cfg := &config.Config{
		Mode: "overwatch",
		DNS:  config.DNS{Zones: []string{"gslb.example.com."}, DefaultTTL: 30, NegativeTTL: 60},
		Domains: []config.Domain{
			{Name: "webapp.gslb.example.com.", Service: "webapp", Routing: config.RoutingRoundRobin, TTL: 30, Fallback: config.FallbackAll},
			{Name: "www.gslb.example.com.", Service: "webapp", Routing: config.RoutingRoundRobin, TTL: 60, Fallback: config.FallbackAll},
			{Name: "api.gslb.example.com.", Service: "api", Routing: config.RoutingFailover, TTL: 30, Fallback: config.FallbackServfail},
		},
		Backends: []config.Backend{
			{Service: "webapp", Address: "10.0.1.10", Port: 80, Weight: 100, Priority: 1, Region: "us-east"},
			{Service: "webapp", Address: "10.0.1.9", Port: 80, Weight: 100, Priority: 1, Region: "us-east"},
			{Service: "webapp", Address: "2001:db8::1", Port: 443, Weight: 100, Priority: 1, Region: "eu-west"},
			{Service: "api", Address: "10.0.2.1", Port: 8080, Weight: 100, Priority: 1, Region: "us-east"},
		},
		Overwatch: &config.Overwatch{
			AgentTokens: map[string]string{"webapp": "0123456789abcdef0123"},
			Gossip:      &config.OverwatchGossip{BindAddress: "127.0.0.1:0", EncryptionKey: "x"},
			Validation:  config.Validation{Enabled: true},
		},
	}
	key := func(service, ap string) messages.BackendKey {
		a := netip.MustParseAddrPort(ap)
		return messages.BackendKey{Service: service, Address: a.Addr(), Port: a.Port()}
	}
	health := map[messages.BackendKey]messages.HealthState{
		key("webapp", "10.0.1.10:80"):      messages.HealthHealthy,
		key("webapp", "10.0.1.9:80"):       messages.HealthUnhealthy,
		key("webapp", "[2001:db8::1]:443"): messages.HealthHealthy,
		key("webapp", "10.0.1.20:8080"):    messages.HealthHealthy,
		key("api", "10.0.2.1:8080"):        messages.HealthUnhealthy,
	}
	agents := []zone.AgentBackend{{
		Agent: "agent-1", Service: "webapp", Received: fixedNow.Add(-90 * time.Second), Stale: true,
		Backend: messages.AgentBackend{
			Address: netip.MustParseAddr("10.0.1.20"), Port: 8080, Weight: 50, Priority: 1, Region: "us-west",
			Health: messages.HealthHealthy,
		},
	}}
	overrides := []messages.Override{
		{
			Service: "webapp", Backend: netip.MustParseAddrPort("10.0.1.10:80"), State: messages.OverrideDrain,
			Reason: "patching", Expires: fixedNow.Add(time.Hour), Created: fixedNow.Add(-time.Minute), Source: "127.0.0.1",
		},
		// Expired before the snapshot was built: it changed nothing.
		{Service: "api", State: messages.OverrideUp, Expires: fixedNow.Add(-time.Minute), Created: fixedNow.Add(-time.Hour)},
	}
	snap, err := zone.Build(zone.Input{
		Config: cfg, Health: health, Agents: agents, Overrides: overrides, Now: fixedNow,
	}, 2026011501, 7, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// fakeZone answers the zone mailbox as the ZoneActor would: it records
// every override change and clears only what was set.
type fakeZone struct {
	mu      sync.Mutex
	set     map[string]messages.Override
	history []messages.ZoneMsg
	silent  bool // never reply, as a stuck zone
}

func (z *fakeZone) serve(ctx context.Context, box *runtime.Mailbox[messages.ZoneMsg]) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-box.Receive():
			z.mu.Lock()
			z.history = append(z.history, msg)
			silent := z.silent
			var reply chan<- error
			var err error
			switch m := msg.(type) {
			case messages.SetOverride:
				z.set[m.Override.Key()] = m.Override
				reply = m.Reply
			case messages.ClearOverride:
				k := messages.Override{Service: m.Service, Backend: m.Backend}.Key()
				if _, ok := z.set[k]; !ok {
					err = fmt.Errorf("%w for %s", messages.ErrNoOverride, k)
				}
				delete(z.set, k)
				reply = m.Reply
			}
			z.mu.Unlock()
			if reply != nil && !silent {
				reply <- err
			}
		}
	}
}

func (z *fakeZone) last() messages.ZoneMsg {
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(z.history) == 0 {
		return nil
	}
	return z.history[len(z.history)-1]
}

// fakeReloader answers reload requests with whatever result is queued.
type fakeReloader struct {
	mu     sync.Mutex
	result messages.ReloadResult
}

func (f *fakeReloader) serve(ctx context.Context, box *runtime.Mailbox[messages.ReloadMsg]) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-box.Receive():
			if req, ok := msg.(messages.ReloadRequest); ok {
				f.mu.Lock()
				res := f.result
				f.mu.Unlock()
				req.Reply <- res
			}
		}
	}
}

func (f *fakeReloader) answer(res messages.ReloadResult) {
	f.mu.Lock()
	f.result = res
	f.mu.Unlock()
}

// apiHarness runs an OverwatchActor on 127.0.0.1:0 with a fake zone and
// reloader behind real mailboxes.
type apiHarness struct {
	actor  *OverwatchActor
	zone   *fakeZone
	reload *fakeReloader
	client *http.Client
	base   string
}

type harnessOptions struct {
	api     config.API
	store   *zone.Store
	ready   func() string
	agents  func() any
	gossip  func() any
	noStore bool
	// prepare runs on the actor before it starts, to shorten timeouts.
	prepare func(*OverwatchActor)
	// transport is the client's transport; nil means a plain one.
	transport *http.Transport
}

func startOverwatchAPI(t *testing.T, opts harnessOptions) *apiHarness {
	t.Helper()
	if opts.api.ListenAddress == "" {
		opts.api.ListenAddress = "127.0.0.1:0"
	}
	if opts.store == nil && !opts.noStore {
		opts.store = zone.StoreOf(fixtureSnapshot(t))
	}
	zoneBox := runtime.NewMailbox[messages.ZoneMsg]("zone", 8, runtime.Block, nil)
	reloadBox := runtime.NewMailbox[messages.ReloadMsg]("reload", 1, runtime.Block, nil)
	h := &apiHarness{
		zone:   &fakeZone{set: map[string]messages.Override{"webapp/10.0.1.10:80": {}}},
		reload: &fakeReloader{},
	}
	h.actor = NewOverwatch(zerolog.Nop(), opts.api, OverwatchSources{
		Store: opts.store, Zone: zoneBox.Address(), Reload: reloadBox.Address(),
		Ready: opts.ready, Agents: opts.agents, Gossip: opts.gossip,
		Node: "overwatch-us-east-1", Region: "us-east", Version: "v1.2.3-test",
	})
	h.actor.now = func() time.Time { return fixedNow }
	if opts.prepare != nil {
		opts.prepare(h.actor)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.zone.serve(ctx, zoneBox) }()
	go func() { defer wg.Done(); h.reload.serve(ctx, reloadBox) }()
	done := make(chan error, 1)
	go func() { done <- h.actor.Run(ctx) }()

	transport := opts.transport
	if transport == nil {
		transport = &http.Transport{}
	}
	h.client = &http.Client{Timeout: 10 * time.Second, Transport: transport}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("API Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("API did not stop within 10s")
		}
		wg.Wait()
	})
	select {
	case <-h.actor.Ready():
	case err := <-done:
		t.Fatalf("API stopped before it was ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("API not ready within 5s")
	}
	scheme := "http"
	if opts.api.TLSCertFile != "" {
		scheme = "https"
	}
	h.base = scheme + "://" + h.actor.Addr()
	return h
}

// response is one answer, decoded.
type response struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.code, r.raw) }

// do sends a request; body, when not nil, is sent as application/json
// unless headers say otherwise.
func (h *apiHarness) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return h.send(t, req)
}

func (h *apiHarness) send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{code: resp.StatusCode, header: resp.Header, raw: string(data)}
	if req.Method != http.MethodHead {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q, want application/json", req.Method, req.URL, ct)
		}
		if err := json.Unmarshal(data, &out.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", req.Method, req.URL, err, data)
		}
		if out.code >= 400 {
			if _, ok := out.body["error"].(string); !ok {
				t.Errorf("%s %s: error answer without an \"error\" string: %s", req.Method, req.URL, data)
			}
			if _, ok := out.body["detail"]; !ok {
				t.Errorf("%s %s: error answer without \"detail\": %s", req.Method, req.URL, data)
			}
		}
	}
	return out
}

// clientFrom is a transport whose connections leave from local, to test
// allowed_networks with a second loopback address.
func clientFrom(local string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Transport{DialContext: d.DialContext}
}

// list returns body[key] as a list of objects.
func list(t *testing.T, r response, key string) []map[string]any {
	t.Helper()
	raw, ok := r.body[key].([]any)
	if !ok {
		t.Fatalf("%q is not a list: %s", key, r.raw)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], ok = v.(map[string]any)
		if !ok {
			t.Fatalf("%q[%d] is not an object: %s", key, i, r.raw)
		}
	}
	return out
}
