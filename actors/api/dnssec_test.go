package api

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// The published examples, so the DS the API answers is checked against
// values computed elsewhere: RFC 6605 §6.1 (ECDSA P-256, example.net) and
// RFC 8080 §6 (Ed25519, example.com).
const (
	rfc6605Key    = "example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA=="
	rfc6605Digest = "B4C8C1FE2E7477127B27115656AD6256F424625BF5C1E2770CE6D6E37DF61D17"
	rfc8080Key    = "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="
	rfc8080Digest = "3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B"
	// A zone-signing key of example.net (RFC 8080's public key under
	// flags 256): listed by status, never given a DS.
	zskKey = "example.net. 3600 IN DNSKEY 256 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="
	zskTag = 3612 // RFC 8080's tag less one: the tag sums the flags
)

func keyInfo(t *testing.T, record string, created time.Time) messages.KeyInfo {
	t.Helper()
	rr, err := dns.NewRR(record)
	if err != nil {
		t.Fatal(err)
	}
	k := rr.(*dns.DNSKEY)
	return messages.KeyInfo{
		Zone: k.Hdr.Name, KeyTag: k.KeyTag(), Algorithm: k.Algorithm, Flags: k.Flags, Created: created, DNSKEY: k,
	}
}

// signedSnapshot serves three zones: example.net with a combined key and
// a zone-signing key, example.com with one combined key, and
// unsigned.example.org with none (its keys not loaded yet). The zone
// package fills Keys from the signer; here they are set on the built
// snapshot before it is published.
func signedSnapshot(t *testing.T) *zone.Snapshot {
	t.Helper()
	cfg := &config.Config{
		Mode: "overwatch",
		DNS: config.DNS{
			Zones:      []string{"example.net.", "example.com.", "unsigned.example.org."},
			DefaultTTL: 30, NegativeTTL: 60,
		},
	}
	snap, err := zone.Build(zone.Input{Config: cfg, Now: fixedNow}, 2026011501, 7, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]messages.KeyInfo{
		// Listed out of order: the API sorts by zone, creation, tag.
		"example.net.": {
			keyInfo(t, zskKey, fixedNow.Add(-time.Hour)),
			keyInfo(t, rfc6605Key, fixedNow.Add(-48*time.Hour)),
		},
		"example.com.": {keyInfo(t, rfc8080Key, fixedNow.Add(-90*time.Second))},
	}
	for _, z := range snap.Zones() {
		z.Keys = keys[z.Name]
	}
	return snap
}

func withDNSSEC(a *OverwatchActor) { a.src.DNSSEC = true }

// zeroSync is the sync block until key sync exists.
var zeroSync = map[string]any{
	"enabled": false, "last_sync": nil, "last_sync_error": nil, "next_sync": nil, "peer_count": float64(0),
}

func TestDNSSECStatusListsTheSnapshotsKeys(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{store: zone.StoreOf(signedSnapshot(t)), prepare: withDNSSEC})
	r := h.do(t, "GET", "/api/v1/dnssec/status", nil)
	if r.code != 200 {
		t.Fatalf("status: %v", r)
	}
	want := map[string]any{
		"enabled": true,
		"keys": []any{
			map[string]any{
				"zone": "example.com.", "key_tag": float64(3613), "algorithm": "ED25519", "algorithm_number": float64(15),
				"flags": float64(257), "role": "csk", "created": "2026-01-15T11:58:30Z", "age_seconds": float64(90),
			},
			map[string]any{
				"zone": "example.net.", "key_tag": float64(55648), "algorithm": "ECDSAP256SHA256", "algorithm_number": float64(13),
				"flags": float64(257), "role": "csk", "created": "2026-01-13T12:00:00Z", "age_seconds": float64(172800),
			},
			map[string]any{
				"zone": "example.net.", "key_tag": float64(zskTag), "algorithm": "ED25519",
				"algorithm_number": float64(15), "flags": float64(256), "role": "zsk", "created": "2026-01-15T11:00:00Z",
				"age_seconds": float64(3600),
			},
		},
		"retiring_keys": []any{},
		"sync":          zeroSync,
	}
	if !reflect.DeepEqual(r.body, want) {
		t.Errorf("status:\n got %v\nwant %v", r.body, want)
	}

	// What the operator's guide runs: jq '.keys[].key_tag'.
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Log("jq is not installed: the jq check is skipped (the shape is checked above)")
		return
	}
	cmd := exec.Command(jq, ".keys[].key_tag")
	cmd.Stdin = strings.NewReader(r.raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq: %v", err)
	}
	if got, wantTags := strings.Fields(string(out)), []string{"3613", "55648", "3612"}; !reflect.DeepEqual(got, wantTags) {
		t.Errorf("jq '.keys[].key_tag' printed %q, want %q", got, wantTags)
	}
}

func TestDNSSECStatusWithoutKeys(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    harnessOptions
		enabled bool
	}{
		{"unsigned snapshot", harnessOptions{prepare: withDNSSEC}, true},
		{"no snapshot yet", harnessOptions{noStore: true, prepare: withDNSSEC}, true},
		// Keys in the snapshot are not shown while DNSSEC is off: nothing
		// signs with them.
		{"dnssec disabled", harnessOptions{store: zone.StoreOf(signedSnapshot(t))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startOverwatchAPI(t, c.opts)
			r := h.do(t, "GET", "/api/v1/dnssec/status", nil)
			want := map[string]any{"enabled": c.enabled, "keys": []any{}, "retiring_keys": []any{}, "sync": zeroSync}
			if r.code != 200 || !reflect.DeepEqual(r.body, want) {
				t.Errorf("status:\n got %v\nwant %v", r, want)
			}
			if !strings.Contains(r.raw, `"keys": []`) {
				t.Errorf("keys must be [], not null: %s", r.raw)
			}
		})
	}
}

func TestDNSSECStatusShowsKeySync(t *testing.T) {
	got := syncView(messages.SyncStatus{
		Enabled: true, LastSync: fixedNow.Add(-time.Minute), LastSyncError: "peer overwatch-2: connection refused",
		NextSync: fixedNow.Add(time.Minute), PeerCount: 2,
	})
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"enabled":true,"last_sync":"2026-01-15T11:59:00Z","last_sync_error":"peer overwatch-2: connection refused",` +
		`"next_sync":"2026-01-15T12:01:00Z","peer_count":2}`
	if string(data) != want {
		t.Errorf("sync block:\n got %s\nwant %s", data, want)
	}
}

func TestDNSSECDS(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{store: zone.StoreOf(signedSnapshot(t)), prepare: withDNSSEC})
	netDS := map[string]any{
		"zone": "example.net.", "key_tag": float64(55648), "algorithm": float64(13), "digest_type": float64(2),
		"digest": rfc6605Digest, "record": "example.net.\t3600\tIN\tDS\t55648 13 2 " + rfc6605Digest,
	}
	comDS := map[string]any{
		"zone": "example.com.", "key_tag": float64(3613), "algorithm": float64(15), "digest_type": float64(2),
		"digest": rfc8080Digest, "record": "example.com.\t3600\tIN\tDS\t3613 15 2 " + rfc8080Digest,
	}
	for _, c := range []struct {
		query string
		want  []map[string]any
	}{
		// The zone-signing key of example.net has no DS.
		{"", []map[string]any{comDS, netDS}},
		{"?zone=example.net.", []map[string]any{netDS}},
		{"?zone=EXAMPLE.net", []map[string]any{netDS}},
		{"?zone=example.com", []map[string]any{comDS}},
	} {
		r := h.do(t, "GET", "/api/v1/dnssec/ds"+c.query, nil)
		if got := list(t, r, "ds"); r.code != 200 || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ds%s:\n got %v\nwant %v", c.query, r, c.want)
		}
	}

	r := h.do(t, "GET", "/api/v1/dnssec/ds?zone=nope.example", nil)
	detail, _ := r.body["detail"].(string)
	if r.code != 404 || r.body["error"] != "no such zone" || !strings.Contains(detail, "nope.example.") ||
		!strings.Contains(detail, "example.com., example.net., unsigned.example.org.") {
		t.Errorf("unknown zone: %v, want 404 naming it and the zones served", r)
	}
	r = h.do(t, "GET", "/api/v1/dnssec/ds?zone=unsigned.example.org", nil)
	if detail, _ := r.body["detail"].(string); r.code != 404 || r.body["error"] != "zone not signed" || !strings.Contains(detail, "unsigned.example.org.") {
		t.Errorf("zone without keys: %v", r)
	}
}

func TestDNSSECDSWithoutKeys(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{prepare: withDNSSEC})
	if r := h.do(t, "GET", "/api/v1/dnssec/ds", nil); r.code != 200 || len(list(t, r, "ds")) != 0 || !strings.Contains(r.raw, `"ds": []`) {
		t.Errorf("ds of an unsigned snapshot: %v, want 200 and []", r)
	}
	r := h.do(t, "GET", "/api/v1/dnssec/ds?zone=gslb.example.com", nil)
	if r.code != 404 || r.body["error"] != "zone not signed" {
		t.Errorf("ds of an unsigned zone: %v", r)
	}

	empty := startOverwatchAPI(t, harnessOptions{noStore: true, prepare: withDNSSEC})
	if r := empty.do(t, "GET", "/api/v1/dnssec/ds", nil); r.code != 200 || len(list(t, r, "ds")) != 0 {
		t.Errorf("ds before the first snapshot: %v", r)
	}
	r = empty.do(t, "GET", "/api/v1/dnssec/ds?zone=gslb.example.com", nil)
	if detail, _ := r.body["detail"].(string); r.code != 404 || !strings.Contains(detail, "no zone yet") {
		t.Errorf("a zone before the first snapshot: %v", r)
	}
}

func TestDNSSECDSWhenDisabled(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{store: zone.StoreOf(signedSnapshot(t))})
	for _, path := range []string{"/api/v1/dnssec/ds", "/api/v1/dnssec/ds?zone=example.net"} {
		r := h.do(t, "GET", path, nil)
		if detail, _ := r.body["detail"].(string); r.code != 404 || r.body["error"] != "dnssec disabled" ||
			!strings.Contains(detail, "overwatch.dnssec.enabled = false") {
			t.Errorf("GET %s with DNSSEC off: %v", path, r)
		}
	}
}

// The DNSSEC routes are reads like the others: no token, 405 for other
// methods, counted under their pattern, refused outside allowed_networks.
func TestDNSSECRoutesAreReads(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{api: config.API{AuthToken: testToken}, prepare: withDNSSEC})
	notFound := metrics.GetOrCreateCounter(`opengslb_api_requests_total{method="GET",route="/api/v1/dnssec/ds",code="404"}`)
	ok := metrics.GetOrCreateCounter(`opengslb_api_requests_total{method="GET",route="/api/v1/dnssec/status",code="200"}`)
	beforeNotFound, beforeOK := notFound.Get(), ok.Get()
	for _, path := range []string{"/api/v1/dnssec/status", "/api/v1/dnssec/ds"} {
		if r := h.do(t, "GET", path, nil); r.code != 200 {
			t.Errorf("GET %s without a token: %v", path, r)
		}
		if r := h.do(t, "HEAD", path, nil); r.code != 200 {
			t.Errorf("HEAD %s: %v", path, r)
		}
		r := h.do(t, "POST", path, nil, "Authorization", "Bearer "+testToken)
		if r.code != 405 || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %v Allow=%q, want 405 with Allow GET, HEAD", path, r, r.header.Get("Allow"))
		}
	}
	h.do(t, "GET", "/api/v1/dnssec/ds?zone=nope.example", nil)
	if got := ok.Get() - beforeOK; got != 1 {
		t.Errorf("GET /api/v1/dnssec/status counted %d times under its route, want 1", got)
	}
	if got := notFound.Get() - beforeNotFound; got != 1 {
		t.Errorf("the 404 of /api/v1/dnssec/ds counted %d times under its route, want 1", got)
	}

	cfg := config.API{AllowedNetworks: []string{"127.0.0.1/32"}}
	other := startOverwatchAPI(t, harnessOptions{api: cfg, prepare: withDNSSEC, transport: clientFrom("127.0.0.2")})
	for _, path := range []string{"/api/v1/dnssec/status", "/api/v1/dnssec/ds"} {
		if r := other.do(t, "GET", path, nil); r.code != 403 {
			t.Errorf("GET %s from outside api.allowed_networks: %v", path, r)
		}
	}
}
