package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func TestOverwatchSetsAndClearsOverrides(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})

	r := h.do(t, "PUT", "/api/v1/overrides/webapp/10.0.1.9:80", map[string]string{"state": "drain", "reason": "kernel update", "expires": "2h"})
	want := map[string]any{"override": map[string]any{
		"service": "webapp", "backend": "10.0.1.9:80", "state": "drain", "reason": "kernel update",
		"expires": "2026-01-15T14:00:00Z", "created": "2026-01-15T12:00:00Z", "source": "127.0.0.1",
	}}
	if r.code != 200 || !reflect.DeepEqual(r.body, want) {
		t.Errorf("PUT backend override:\n got %v\nwant %v", r, want)
	}
	set, ok := h.zone.last().(messages.SetOverride)
	wantSet := messages.Override{
		Service: "webapp", Backend: netip.MustParseAddrPort("10.0.1.9:80"), State: "drain", Reason: "kernel update",
		Expires: fixedNow.Add(2 * time.Hour), Created: fixedNow, Source: "127.0.0.1",
	}
	if !ok || set.Override != wantSet {
		t.Errorf("zone got %#v, want SetOverride of %#v", h.zone.last(), wantSet)
	}

	r = h.do(t, "PUT", "/api/v1/overrides/webapp", map[string]string{"state": "down", "expires": "2026-12-01T10:00:00Z"})
	if o, _ := r.body["override"].(map[string]any); r.code != 200 || o["backend"] != "" || o["expires"] != "2026-12-01T10:00:00Z" || o["state"] != "down" {
		t.Errorf("PUT service override with an RFC 3339 expiry: %v", r)
	}
	r = h.do(t, "PUT", "/api/v1/overrides/webapp", map[string]string{"state": "up"})
	if o, _ := r.body["override"].(map[string]any); r.code != 200 || o["expires"] != nil {
		t.Errorf("PUT without an expiry: %v", r)
	}

	if r := h.do(t, "DELETE", "/api/v1/overrides/webapp/10.0.1.9:80", nil); r.code != 200 || r.body["cleared"] != "webapp/10.0.1.9:80" {
		t.Errorf("DELETE backend override: %v", r)
	}
	if r := h.do(t, "DELETE", "/api/v1/overrides/webapp/10.0.1.9:80", nil); r.code != 404 || r.body["error"] != "no such override" {
		t.Errorf("DELETE it again: %v", r)
	}
	if r := h.do(t, "DELETE", "/api/v1/overrides/webapp", nil); r.code != 200 || r.body["cleared"] != "webapp" {
		t.Errorf("DELETE service override: %v", r)
	}
}

func TestOverwatchOverrideOfAnIPv6Backend(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	body := `{"state": "drain"}`

	// Brackets as curl -g sends them, raw in the request line.
	req, err := http.NewRequest("PUT", h.base, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "/api/v1/overrides/webapp/[2001:db8::1]:443"
	req.Header.Set("Content-Type", "application/json")
	if r := h.send(t, req); r.code != 200 || r.body["override"].(map[string]any)["backend"] != "[2001:db8::1]:443" {
		t.Errorf("PUT with raw brackets: %v", r)
	}
	if set, ok := h.zone.last().(messages.SetOverride); !ok || set.Override.Backend != netip.MustParseAddrPort("[2001:db8::1]:443") {
		t.Errorf("zone got %#v", h.zone.last())
	}

	// Percent-encoded, as most HTTP libraries send them.
	if r := h.do(t, "DELETE", "/api/v1/overrides/webapp/%5B2001:db8::1%5D:443", nil); r.code != 200 || r.body["cleared"] != "webapp/[2001:db8::1]:443" {
		t.Errorf("DELETE with encoded brackets: %v", r)
	}

	for _, bad := range []string{"2001:db8::1:443", "10.0.1.9", "10.0.1.9:0", "[fe80::1%25eth0]:443", "example.com:80"} {
		if r := h.do(t, "PUT", "/api/v1/overrides/webapp/"+bad, body); r.code != 400 {
			t.Errorf("PUT for backend %s: %v, want 400", bad, r)
		}
	}
}

func TestOverwatchRejectsBadOverrides(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	path := "/api/v1/overrides/webapp/10.0.1.9:80"
	for _, c := range []struct {
		name, body string
		code       int
		detail     string
	}{
		{"past RFC 3339", `{"state":"drain","expires":"2026-01-15T11:00:00Z"}`, 400, "not in the future"},
		{"negative duration", `{"state":"drain","expires":"-5m"}`, 400, "positive"},
		{"unparsable expiry", `{"state":"drain","expires":"tomorrow"}`, 400, "RFC 3339"},
		{"unknown state", `{"state":"maintenance"}`, 400, "drain, down, up"},
		{"no state", `{"reason":"why not"}`, 400, "drain, down, up"},
		{"unknown field", `{"state":"drain","colour":"red"}`, 400, `unknown field "colour"`},
		{"wrong type", `{"state":"drain","reason":42}`, 400, `"reason"`},
		{"not JSON", `state=drain`, 400, "invalid"},
		{"two values", `{"state":"drain"}{"state":"up"}`, 400, "more than one"},
		{"long reason", `{"state":"drain","reason":"` + strings.Repeat("x", 2000) + `"}`, 400, "longer"},
	} {
		r := h.do(t, "PUT", path, c.body)
		detail, _ := r.body["detail"].(string)
		if r.code != c.code || !strings.Contains(detail, c.detail) {
			t.Errorf("%s: %v, want %d with %q in the detail", c.name, r, c.code, c.detail)
		}
	}
	if r := h.do(t, "PUT", path, nil); r.code != 400 {
		t.Errorf("PUT without a body: %v", r)
	}
	if r := h.do(t, "PUT", "/api/v1/overrides/webap", `{"state":"drain"}`); r.code != 404 || !strings.Contains(r.body["detail"].(string), "webapp") {
		t.Errorf("PUT for an unknown service: %v, want 404 naming the known ones", r)
	}
	if r := h.do(t, "PUT", path, `{"state":"drain"}`, "Content-Type", "text/plain"); r.code != 415 {
		t.Errorf("text/plain body: %v", r)
	}
	if r := h.do(t, "PUT", path, `{"state":"drain"}`, "Content-Type", "application/json; charset=utf-8"); r.code != 200 {
		t.Errorf("application/json with a charset: %v", r)
	}

	big := `{"state":"drain","reason":"` + strings.Repeat("x", 70<<10) + `"}`
	if r := h.do(t, "PUT", path, big); r.code != 413 {
		t.Errorf("70 KiB body with a length: %v", r)
	}
	// Without a declared length (chunked) the limit holds while reading.
	if r := h.do(t, "PUT", path, io.MultiReader(strings.NewReader(big))); r.code != 413 {
		t.Errorf("70 KiB chunked body: %v", r)
	}
	h.zone.mu.Lock()
	defer h.zone.mu.Unlock()
	if len(h.zone.history) != 1 {
		t.Errorf("the zone got %d changes, want only the one valid PUT", len(h.zone.history))
	}
}

// A zone that took the request but did not answer is a 504 that says the
// change may still apply; one that could not even be handed the request is
// a 503 that says to retry.
func TestOverwatchZoneBusy(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{prepare: func(a *OverwatchActor) { a.zoneTimeout = 100 * time.Millisecond }})
	h.zone.mu.Lock()
	h.zone.silent = true
	h.zone.mu.Unlock()
	r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`)
	if r.code != 504 || r.body["error"] != "zone did not answer in time" || !strings.Contains(fmt.Sprint(r.body["detail"]), "may still be applied") {
		t.Errorf("PUT while the zone does not answer: %v", r)
	}
	if r := h.do(t, "DELETE", "/api/v1/overrides/webapp", nil); r.code != 504 {
		t.Errorf("DELETE while the zone does not answer: %v", r)
	}
}

func TestOverwatchZoneUnreachable(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{prepare: func(a *OverwatchActor) {
		a.zoneTimeout = 100 * time.Millisecond
		a.src.Zone = runtime.Address[messages.ZoneMsg]{} // no zone at all: the send itself fails
	}})
	r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`)
	if r.code != 503 || r.body["error"] != "zone busy" || !strings.Contains(fmt.Sprint(r.body["detail"]), "not handed over") {
		t.Errorf("PUT with no zone to hand it to: %v", r)
	}
}

func TestOverwatchReload(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	h.reload.answer(messages.ReloadResult{Applied: true, Generation: 8, Changes: []string{"domains.0.ttl: 30 → 60"}})
	want := map[string]any{"applied": true, "generation": float64(8), "changes": []any{"domains.0.ttl: 30 → 60"}}
	if r := h.do(t, "POST", "/api/v1/reload", nil); r.code != 200 || !reflect.DeepEqual(r.body, want) {
		t.Errorf("reload:\n got %v\nwant %v", r, want)
	}
	if r := h.do(t, "POST", "/api/v1/reload", `{}`); r.code != 200 {
		t.Errorf("reload with an empty JSON object: %v", r)
	}
	if r := h.do(t, "POST", "/api/v1/reload", `{"force":true}`); r.code != 400 {
		t.Errorf("reload with an unknown field: %v", r)
	}

	h.reload.answer(messages.ReloadResult{Generation: 8})
	want = map[string]any{"applied": false, "generation": float64(8), "changes": []any{}}
	if r := h.do(t, "POST", "/api/v1/reload", nil); r.code != 200 || !reflect.DeepEqual(r.body, want) {
		t.Errorf("reload of an unchanged file: %v", r)
	}

	h.reload.answer(messages.ReloadResult{Generation: 8, Err: errors.New("reload /etc/opengslb.toml: dns.listen_address cannot change without a restart")})
	r := h.do(t, "POST", "/api/v1/reload", nil)
	if r.code != 422 || r.body["error"] != "reload refused" || !strings.Contains(r.body["detail"].(string), "dns.listen_address") {
		t.Errorf("refused reload: %v", r)
	}
}

func TestOverwatchDrain(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	if err := h.actor.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != 503 || r.body["detail"] != "shutting down" {
		t.Errorf("ready while draining: %v", r)
	}
	if r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`); r.code != 503 {
		t.Errorf("PUT while draining: %v", r)
	}
	if r := h.do(t, "POST", "/api/v1/reload", nil); r.code != 503 {
		t.Errorf("reload while draining: %v", r)
	}
	if r := h.do(t, "GET", "/api/v1/overwatch/backends", nil); r.code != 200 {
		t.Errorf("reads while draining: %v", r)
	}
	if r := h.do(t, "GET", "/api/v1/status", nil); r.body["ready"] != false || r.body["ready_detail"] != "shutting down" {
		t.Errorf("status while draining: %v", r)
	}
	if h.zone.last() != nil {
		t.Errorf("a change reached the zone while draining: %#v", h.zone.last())
	}
}
