package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

type fakeKeySync struct{ token string }

func (f fakeKeySync) Status() messages.SyncStatus {
	return messages.SyncStatus{Enabled: true, PeerCount: 1}
}

func (f fakeKeySync) CheckToken(token string) error {
	if token != f.token {
		return errors.New("the sync token does not match")
	}
	return nil
}

// serveKeySync answers the signer's ExportKeys and the sync actor's
// SyncNow until ctx ends.
func serveKeySync(ctx context.Context, signer *runtime.Mailbox[messages.SignerMsg], sync *runtime.Mailbox[messages.SyncMsg], round messages.SyncRound) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-signer.Receive():
			if e, ok := m.(messages.ExportKeys); ok {
				e.Reply <- []messages.KeyMaterial{{Zone: "example.com.", KeyTag: 3613, DNSKEY: "example.com. 3600 IN DNSKEY ...", Private: "secret"}}
			}
		case m := <-sync.Receive():
			if s, ok := m.(messages.SyncNow); ok {
				s.Reply <- round
			}
		}
	}
}

func withKeySync(t *testing.T, round messages.SyncRound) func(*OverwatchActor) {
	return func(a *OverwatchActor) {
		signer := runtime.NewMailbox[messages.SignerMsg]("signer", 1, runtime.Block, nil)
		sync := runtime.NewMailbox[messages.SyncMsg]("sync", 1, runtime.Block, nil)
		a.src.DNSSEC = true
		a.src.Signer, a.src.Sync = signer.Address(), sync.Address()
		a.src.KeySync = fakeKeySync{token: "sync-token-0123456789"}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); serveKeySync(ctx, signer, sync, round) }()
		t.Cleanup(func() { cancel(); <-done })
	}
}

func TestDNSSECKeysNeedTheSyncToken(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{prepare: withKeySync(t, messages.SyncRound{})})
	for _, c := range []struct {
		name   string
		header []string
		code   int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer not-the-sync-token"}, 403},
		// The API's write token is not the sync token.
		{"basic scheme", []string{"Authorization", "Basic sync-token-0123456789"}, 401},
	} {
		if r := h.do(t, "GET", "/api/v1/dnssec/keys", nil, c.header...); r.code != c.code || r.body["detail"] == "" {
			t.Errorf("%s: %v, want %d with a reason", c.name, r, c.code)
		}
	}
	r := h.do(t, "GET", "/api/v1/dnssec/keys", nil, "Authorization", "Bearer sync-token-0123456789")
	keys := list(t, r, "keys")
	if r.code != 200 || len(keys) != 1 || keys[0]["key_tag"] != float64(3613) || keys[0]["private"] != "secret" {
		t.Fatalf("keys with the token: %v", r)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store: key material must not be cached", got)
	}
}

func TestDNSSECKeysOffWithoutDNSSEC(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{})
	for _, path := range []string{"/api/v1/dnssec/keys"} {
		if r := h.do(t, "GET", path, nil, "Authorization", "Bearer x"); r.code != 404 {
			t.Errorf("%s without DNSSEC: %v", path, r)
		}
	}
	if r := h.do(t, "POST", "/api/v1/dnssec/sync", nil); r.code != 404 {
		t.Errorf("sync without DNSSEC: %v", r)
	}
}

func TestDNSSECSyncAnswersEachPeersOutcome(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	failed := messages.SyncRound{At: at, Peers: []messages.PeerOutcome{
		{Peer: "https://ow2:9090", Result: messages.SyncOK, Keys: 1},
		{Peer: "https://ow3:9090", Result: messages.SyncUnauthorized, Error: "peer https://ow3:9090: 403 Forbidden"},
	}}
	h := startOverwatchAPI(t, harnessOptions{prepare: withKeySync(t, failed)})
	r := h.do(t, "POST", "/api/v1/dnssec/sync", nil)
	peers := list(t, r, "peers")
	if r.code != 502 || r.body["ok"] != false || len(peers) != 2 || peers[1]["result"] != "unauthorized" || peers[0]["error"] != nil ||
		r.body["error"] != "sync failed" || r.body["detail"] != "peer https://ow3:9090: 403 Forbidden" {
		t.Fatalf("failed round: %v", r)
	}

	good := messages.SyncRound{At: at, Peers: failed.Peers[:1], Adopted: []messages.KeyChange{{Zone: "example.com.", From: 1, To: 2, Source: "https://ow2:9090"}}}
	h2 := startOverwatchAPI(t, harnessOptions{prepare: withKeySync(t, good)})
	r = h2.do(t, "POST", "/api/v1/dnssec/sync", nil)
	adopted := list(t, r, "adopted")
	if r.code != 200 || r.body["ok"] != true || r.body["error"] != nil || len(adopted) != 1 || adopted[0]["to_key_tag"] != float64(2) {
		t.Fatalf("good round: %v", r)
	}
}
