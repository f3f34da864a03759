package signer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func (r *running) adopt(t *testing.T, keys ...messages.KeyMaterial) messages.AdoptReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := runtime.Ask(ctx, r.inbox.Address(), func(c chan<- messages.AdoptReply) messages.SignerMsg {
		return messages.AdoptKeys{Keys: keys, Reply: c}
	})
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func (r *running) export(t *testing.T) []messages.KeyMaterial {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := runtime.Ask(ctx, r.inbox.Address(), func(c chan<- []messages.KeyMaterial) messages.SignerMsg {
		return messages.ExportKeys{Reply: c}
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func aRecord() []dns.RR {
	return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: []byte{192, 0, 2, 1}}}
}

// verifiedBy reports which DNSKEYs of the signed zone verify one of sigs.
func verifiedBy(t *testing.T, sz messages.SignedZone, sigs []dns.RR, set []dns.RR) map[uint16]bool {
	t.Helper()
	out := map[uint16]bool{}
	for _, rr := range sz.DNSKEY.RRs {
		key := rr.(*dns.DNSKEY)
		for _, s := range sigs {
			sig := s.(*dns.RRSIG)
			if sig.KeyTag == key.KeyTag() && sig.Verify(key, set) == nil {
				out[key.KeyTag()] = true
			}
		}
	}
	return out
}

// A peer's older key wins; during the retirement both keys are published
// and both sign every set, so a resolver holding either DNSKEY set
// validates; after it the old key is gone from answers and from disk.
func TestAdoptingAnOlderKeyDoubleSignsUntilTheOldKeyRetires(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	peerKey, err := Generate(zone, "", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := startSignerWith(t, dir, &now, Options{RetireAfter: 2 * time.Hour})
	own := r.sign(t).Keys[0]

	reply := r.adopt(t, peerKey.Material())
	if reply.Err != nil || len(reply.Adopted) != 1 || reply.Adopted[0].From != own.KeyTag || reply.Adopted[0].To != peerKey.Tag() {
		t.Fatalf("adopt reply %+v, want %d → %d", reply, own.KeyTag, peerKey.Tag())
	}
	sz := r.sign(t, aRecord())
	if len(sz.Keys) != 2 || sz.Keys[0].KeyTag != peerKey.Tag() || sz.Keys[0].Retiring || !sz.Keys[1].Retiring || sz.Keys[1].KeyTag != own.KeyTag {
		t.Fatalf("keys after adoption %+v: want the peer's active, the own retiring", sz.Keys)
	}
	if got := verifiedBy(t, sz, sz.Sigs[0], aRecord()); !got[peerKey.Tag()] || !got[own.KeyTag] {
		t.Errorf("A set verified by %v, want both keys", got)
	}
	if got := verifiedBy(t, sz, sz.DNSKEY.Sigs, sz.DNSKEY.RRs); !got[peerKey.Tag()] || !got[own.KeyTag] {
		t.Errorf("DNSKEY set verified by %v, want both keys", got)
	}
	if cds := sz.CDS.RRs; len(cds) != 1 || cds[0].(*dns.CDS).KeyTag != peerKey.Tag() {
		t.Errorf("CDS %v, want only the active key", cds)
	}
	if exp := r.export(t); len(exp) != 1 || exp[0].KeyTag != peerKey.Tag() {
		t.Errorf("export %+v, want only the active key", exp)
	}
	// A newer key offered afterwards changes nothing.
	newer, _ := Generate(zone, "", now)
	if again := r.adopt(t, newer.Material(), peerKey.Material()); len(again.Adopted) != 0 || again.Err != nil {
		t.Errorf("offering a newer key and the same key again: %+v, want no change", again)
	}

	// A restart keeps the schedule: both keys, the peer's active.
	r.stop()
	r2 := startSignerWith(t, dir, &now, Options{RetireAfter: 2 * time.Hour})
	sz = r2.sign(t, aRecord())
	if len(sz.Keys) != 2 || sz.Keys[0].KeyTag != peerKey.Tag() || !sz.Keys[1].Retiring {
		t.Fatalf("keys after restart %+v", sz.Keys)
	}
	if want := now.Add(2 * time.Hour); !sz.RefreshAt.After(now) || sz.RefreshAt.After(want) {
		t.Errorf("refresh at %s, want by the retirement at %s", sz.RefreshAt, want)
	}

	now = now.Add(2*time.Hour + time.Second)
	sz = r2.sign(t, aRecord())
	if len(sz.Keys) != 1 || sz.Keys[0].KeyTag != peerKey.Tag() || len(sz.Sigs[0]) != 1 || len(sz.DNSKEY.RRs) != 1 {
		t.Fatalf("after the retirement: keys %+v, %d signatures, %d DNSKEYs; want only the peer's", sz.Keys, len(sz.Sigs[0]), len(sz.DNSKEY.RRs))
	}
	left, _ := filepath.Glob(filepath.Join(dir, KeyDir, "K*"))
	if len(left) != 2 {
		t.Errorf("key files left %v, want the active pair only", left)
	}
}

// Two stored active keys (an adoption cut short by a crash) load as the
// rule's winner active and the other retiring, with its Delete stored.
func TestTwoStoredKeysLoadAsWinnerAndRetiring(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	older, _ := Generate(zone, "", now.Add(-time.Minute))
	newer, _ := Generate(zone, "", now)
	for _, k := range []*Key{newer, older} {
		if err := WriteKey(filepath.Join(dir, KeyDir), k); err != nil {
			t.Fatal(err)
		}
	}
	r := startSigner(t, dir, &now)
	sz := r.sign(t)
	if len(sz.Keys) != 2 || sz.Keys[0].KeyTag != older.Tag() || !sz.Keys[1].Retiring {
		t.Fatalf("keys %+v, want %d active then %d retiring", sz.Keys, older.Tag(), newer.Tag())
	}
	keys, err := LoadKeys(filepath.Join(dir, KeyDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Tag() == newer.Tag() && k.DeleteAt.IsZero() {
			t.Errorf("the loser's retirement was not stored")
		}
	}
}

func TestOfferedKeysThatDoNotMatchAreRefused(t *testing.T) {
	now := time.Now()
	a, _ := Generate(zone, "", now.Add(-time.Hour))
	b, _ := Generate(zone, "", now)
	swapped := a.Material()
	swapped.Private = b.Material().Private
	wrongZone := a.Material()
	wrongZone.Zone = "other.example."
	wrongTag := a.Material()
	wrongTag.KeyTag++
	garbage := a.Material()
	garbage.DNSKEY = "not a record"
	for name, m := range map[string]messages.KeyMaterial{"swapped private": swapped, "zone": wrongZone, "tag": wrongTag, "garbage": garbage} {
		if _, err := ParseKey(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	r := startSigner(t, dir, &now)
	before := r.sign(t).Keys[0].KeyTag
	if reply := r.adopt(t, swapped, wrongTag, garbage); len(reply.Adopted) != 0 {
		t.Errorf("bad offers adopted: %+v", reply)
	}
	if after := r.sign(t).Keys[0].KeyTag; after != before {
		t.Errorf("key changed from %d to %d", before, after)
	}
}

// A node with peers asks them before generating, and takes their key.
func TestStartUpFetchesBeforeGenerating(t *testing.T) {
	now := time.Now()
	peerKey, _ := Generate(zone, "", now.Add(-time.Hour))
	syncBox := runtime.NewMailbox[messages.SyncMsg]("sync", 1, runtime.Block, nil)
	stop := make(chan struct{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		select {
		case m := <-syncBox.Receive():
			m.(messages.FetchKeys).Reply <- []messages.KeyMaterial{peerKey.Material()}
		case <-stop:
		}
	}()
	dir := t.TempDir()
	r := startSignerWith(t, dir, &now, Options{Sync: syncBox.Address(), FetchTimeout: 5 * time.Second})
	close(stop)
	<-served
	if got := r.sign(t).Keys; len(got) != 1 || got[0].KeyTag != peerKey.Tag() {
		t.Fatalf("keys %+v, want the peer's %d only", got, peerKey.Tag())
	}
	if _, err := os.Stat(filepath.Join(dir, KeyDir, peerKey.baseName()+".private")); err != nil {
		t.Errorf("fetched key not stored: %v", err)
	}
}
