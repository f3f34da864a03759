package signer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

const zone = "gslb.example.com."

func testConfig(dataDir string) *config.Config {
	return &config.Config{
		Mode: config.ModeOverwatch, DataDir: dataDir,
		DNS: config.DNS{Zones: []string{zone}},
		Overwatch: &config.Overwatch{DNSSEC: config.DNSSEC{Enabled: true, Algorithm: config.AlgorithmECDSAP256,
			Denial: config.DenialNSEC3, SignatureValidity: config.Duration{Duration: 14 * 24 * time.Hour}}},
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	for _, alg := range []string{config.AlgorithmECDSAP256, config.AlgorithmED25519} {
		dir := filepath.Join(t.TempDir(), KeyDir)
		k, err := Generate(zone, alg, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteKey(dir, k); err != nil {
			t.Fatal(err)
		}
		keys, err := LoadKeys(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].Tag() != k.Tag() || !keys[0].Created.Equal(k.Created) || keys[0].DS().String() != k.DS().String() {
			t.Fatalf("%s: loaded %+v, stored tag %d created %s", alg, keys, k.Tag(), k.Created)
		}
		// The loaded private key signs what the stored public key verifies.
		set := []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: []byte{192, 0, 2, 1}}}
		sig := &dns.RRSIG{Algorithm: k.DNSKEY.Algorithm, KeyTag: k.Tag(), SignerName: zone, Inception: 1, Expiration: 1<<32 - 1}
		if err := sig.Sign(keys[0].Private, set); err != nil {
			t.Fatal(err)
		}
		if err := sig.Verify(k.DNSKEY, set); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		info, err := os.Stat(dir)
		if err != nil || info.Mode().Perm() != 0o700 {
			t.Fatalf("key directory mode %v (%v), want 0700", info.Mode().Perm(), err)
		}
		for _, ext := range []string{".key", ".private"} {
			path := filepath.Join(dir, k.baseName()+ext)
			info, err := os.Stat(path)
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v (%v), want 0600", path, info.Mode().Perm(), err)
			}
		}
	}
}

func TestBadKeyFilesNameTheFile(t *testing.T) {
	other, _ := Generate(zone, "", time.Now())
	cases := []struct {
		name   string
		mangle func(dir string, k *Key) string // returns the file the error must name
	}{
		{"corrupt .key", func(dir string, k *Key) string {
			p := filepath.Join(dir, k.baseName()+".key")
			must(t, os.WriteFile(p, []byte("gslb.example.com. IN DNSKEY 257 3 13 !!!\n"), 0o600))
			return p
		}},
		{"missing .private", func(dir string, k *Key) string {
			p := filepath.Join(dir, k.baseName()+".private")
			must(t, os.Remove(p))
			return p
		}},
		{"garbage .private", func(dir string, k *Key) string {
			p := filepath.Join(dir, k.baseName()+".private")
			must(t, os.WriteFile(p, []byte("Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: AAAA\n"), 0o600))
			return p
		}},
		{"another key's .private", func(dir string, k *Key) string {
			p := filepath.Join(dir, k.baseName()+".private")
			must(t, os.WriteFile(p, []byte(other.DNSKEY.PrivateKeyString(other.Private)), 0o600))
			return p
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			k, err := Generate(zone, "", time.Now())
			must(t, err)
			must(t, WriteKey(dir, k))
			path := c.mangle(dir, k)
			_, err = LoadKeys(dir)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadKeys: %v, want an error naming %s", err, path)
			}
			// The actor refuses to start rather than make a new key.
			a := New(zerolog.Nop(), runtime.NewMailbox[messages.SignerMsg]("signer", 1, runtime.Block, nil), testConfig(filepath.Dir(dir)), Options{})
			must(t, os.Rename(dir, filepath.Join(filepath.Dir(dir), KeyDir)))
			if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), KeyDir) {
				t.Fatalf("Run: %v, want a fatal error naming the key file", err)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// running is a signer actor under test with a clock the test moves.
type running struct {
	inbox *runtime.Mailbox[messages.SignerMsg]
	stop  func() // idempotent: a test may stop the signer before its cleanup does
}

func startSigner(t *testing.T, dataDir string, now *time.Time) *running {
	t.Helper()
	return startSignerWith(t, dataDir, now, Options{})
}

func startSignerWith(t *testing.T, dataDir string, now *time.Time, opts Options) *running {
	t.Helper()
	r := &running{inbox: runtime.NewMailbox[messages.SignerMsg]("signer", 4, runtime.Block, nil)}
	opts.Now = func() time.Time { return *now }
	a := New(zerolog.Nop(), r.inbox, testConfig(dataDir), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(r.stop)
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("signer not ready")
	}
	return r
}

func (r *running) sign(t *testing.T, sets ...[]dns.RR) messages.SignedZone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := runtime.Ask(ctx, r.inbox.Address(), func(c chan<- messages.SignReply) messages.SignerMsg {
		return messages.SignRequest{Zones: []messages.ZoneToSign{{Zone: zone, RRsets: sets}}, Reply: c}
	})
	if err == nil {
		err = reply.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	return reply.Zones[0]
}

func aSet(last byte) []dns.RR {
	return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: []byte{192, 0, 2, last}}}
}

func TestSignaturesReusedThenRefreshed(t *testing.T) {
	now := time.Now()
	r := startSigner(t, t.TempDir(), &now)
	first := r.sign(t, aSet(1), aSet(2))
	made := signedSnapshot.Get()
	again := r.sign(t, aSet(2), aSet(1))
	if signedSnapshot.Get() != made {
		t.Fatalf("unchanged sets signed again: %d new signatures", signedSnapshot.Get()-made)
	}
	if again.Sigs[1][0].String() != first.Sigs[0][0].String() {
		t.Fatal("the same set got a different signature while its cached one was fresh")
	}
	if err := again.DNSKEY.Sigs[0].(*dns.RRSIG).Verify(first.Keys[0].DNSKEY, again.DNSKEY.RRs); err != nil {
		t.Fatalf("DNSKEY set signature: %v", err)
	}
	// Past the refresh time every set is signed anew, with a later expiry:
	// refresh comes at a quarter of the validity left, which jitter of up
	// to a tenth moves earlier, so 80% of the way every set is due.
	refreshed := signedRefresh.Get()
	if !first.RefreshAt.After(now) {
		t.Fatalf("refresh time %s is not after now %s", first.RefreshAt, now)
	}
	now = now.Add(14 * 24 * time.Hour * 8 / 10)
	later := r.sign(t, aSet(1))
	if signedRefresh.Get() < refreshed+1 {
		t.Fatal("a signature past its refresh time was reused")
	}
	old, renewed := first.Sigs[0][0].(*dns.RRSIG), later.Sigs[0][0].(*dns.RRSIG)
	if renewed.Expiration <= old.Expiration {
		t.Fatalf("refreshed signature expires %d, no later than the old %d", renewed.Expiration, old.Expiration)
	}
	if !later.RefreshAt.After(now) {
		t.Fatalf("refresh time %s is not after now %s", later.RefreshAt, now)
	}
}

func TestKeyKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	r := startSigner(t, dir, &now)
	tag := r.sign(t, aSet(1)).Keys[0].KeyTag
	r.stop()
	again := startSigner(t, dir, &now)
	if got := again.sign(t, aSet(1)).Keys[0].KeyTag; got != tag {
		t.Fatalf("key tag %d after restart, %d before", got, tag)
	}
}
