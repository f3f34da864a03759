package sync

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/actors/signer"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	zone      = "gslb.example.com."
	syncToken = "sync-token-0123456789abcdef"
)

// peer is another overwatch's keys endpoint, over TLS with a certificate
// only caFile trusts.
type peer struct {
	srv     *httptest.Server
	caFile  string
	handler *atomic.Pointer[http.HandlerFunc]
}

// serve changes what the peer answers from now on.
func (p peer) serve(h http.HandlerFunc) { p.handler.Store(&h) }

func startPeer(t *testing.T, handler http.HandlerFunc) peer {
	t.Helper()
	current := &atomic.Pointer[http.HandlerFunc]{}
	current.Store(&handler)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load())(w, r) }))
	// The refused handshakes are what some tests are about.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return peer{srv: srv, caFile: caFile, handler: current}
}

// servingKeys answers like an overwatch's keys endpoint: the keys to a
// request bearing the sync token, 403 otherwise.
func servingKeys(keys ...*signer.Key) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != KeysPath {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+syncToken {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "forbidden", "detail": "the sync token does not match"})
			return
		}
		out := KeysResponse{Keys: []messages.KeyMaterial{}}
		for _, k := range keys {
			out.Keys = append(out.Keys, k.Material())
		}
		_ = json.NewEncoder(w).Encode(out)
	}
}

func testConfig(dataDir, caFile string, peers ...string) *config.Config {
	return &config.Config{
		Mode: config.ModeOverwatch, DataDir: dataDir,
		DNS: config.DNS{Zones: []string{zone}},
		Overwatch: &config.Overwatch{DNSSEC: config.DNSSEC{
			Enabled: true, Algorithm: config.AlgorithmECDSAP256, Denial: config.DenialNSEC3,
			SignatureValidity: config.Duration{Duration: 14 * 24 * time.Hour},
			KeySync: config.KeySync{
				Peers: peers, Token: syncToken, CAFile: caFile,
				PollInterval: config.Duration{Duration: time.Hour}, Timeout: config.Duration{Duration: 2 * time.Second},
			},
		}},
	}
}

// node is a sync actor with a real signer storing keys under a temporary
// data directory, and the zone's mailbox to see KeysChanged arrive.
type node struct {
	sync     *Actor
	syncBox  *runtime.Mailbox[messages.SyncMsg]
	signer   *runtime.Mailbox[messages.SignerMsg]
	zone     *runtime.Mailbox[messages.ZoneMsg]
	dataDir  string
	stopping func()
}

func startNode(t *testing.T, cfg *config.Config) *node {
	t.Helper()
	n := &node{
		syncBox: runtime.NewMailbox[messages.SyncMsg]("sync", 4, runtime.Block, nil),
		signer:  runtime.NewMailbox[messages.SignerMsg]("signer", 4, runtime.Block, nil),
		zone:    runtime.NewMailbox[messages.ZoneMsg]("zone", 4, runtime.Block, nil),
		dataDir: cfg.DataDir,
	}
	sig := signer.New(zerolog.Nop(), n.signer, cfg, signer.Options{Sync: n.syncBox.Address(), FetchTimeout: 10 * time.Second})
	n.sync = New(zerolog.Nop(), n.syncBox, n.signer.Address(), n.zone.Address(), cfg, Options{SignerReady: sig.Ready()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = n.sync.Run(ctx); done <- struct{}{} }()
	<-n.sync.Ready()
	go func() { _ = sig.Run(ctx); done <- struct{}{} }()
	n.stopping = func() { cancel(); <-done; <-done }
	t.Cleanup(n.stopping)
	select {
	case <-sig.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("signer not ready")
	}
	return n
}

// waitFirstRound waits for the round a node runs once its signer is
// ready, so that a test's own round is the one that sees a change.
func (n *node) waitFirstRound(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.sync.Status().NextSync.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no first round within 10s of the signer being ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *node) syncNow(t *testing.T) messages.SyncRound {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	round, err := runtime.Ask(ctx, n.syncBox.Address(), func(r chan<- messages.SyncRound) messages.SyncMsg { return messages.SyncNow{Reply: r} })
	if err != nil {
		t.Fatal(err)
	}
	return round
}

// activeTag is the key the signer serves for the zone now.
func (n *node) activeTag(t *testing.T) uint16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := runtime.Ask(ctx, n.signer.Address(), func(r chan<- []messages.KeyMaterial) messages.SignerMsg { return messages.ExportKeys{Reply: r} })
	if err != nil || len(keys) != 1 {
		t.Fatalf("export: %v, %+v", err, keys)
	}
	return keys[0].KeyTag
}

func gauge(t *testing.T, name string) float64 {
	t.Helper()
	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	for line := range strings.Lines(b.String()) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

func TestStartUpTakesThePeersKeyAndARoundAdoptsAnOlderOne(t *testing.T) {
	first, _ := signer.Generate(zone, "", time.Now().Add(-time.Hour))
	p := startPeer(t, servingKeys(first))
	n := startNode(t, testConfig(t.TempDir(), p.caFile, p.srv.URL))
	if got := n.activeTag(t); got != first.Tag() {
		t.Fatalf("after start-up the node serves key %d, want the peer's %d", got, first.Tag())
	}
	st := n.sync.Status()
	if !st.Enabled || st.PeerCount != 1 || st.LastSync.IsZero() || st.LastSyncError != "" {
		t.Errorf("status after the start-up fetch: %+v", st)
	}
	if gauge(t, "opengslb_dnssec_sync_success") != 1 {
		t.Error("sync_success is not 1 after a good round")
	}

	// The peer now serves a key older still (a partition healed): the
	// next round adopts it, tells the zone, and keeps the old one signing.
	n.waitFirstRound(t)
	older, _ := signer.Generate(zone, "", time.Now().Add(-2*time.Hour))
	p.serve(servingKeys(older))
	round := n.syncNow(t)
	if !round.OK() || len(round.Adopted) != 1 || round.Adopted[0].From != first.Tag() || round.Adopted[0].To != older.Tag() {
		t.Fatalf("round %+v, want %d → %d", round, first.Tag(), older.Tag())
	}
	if got := n.activeTag(t); got != older.Tag() {
		t.Errorf("active key %d, want %d", got, older.Tag())
	}
	select {
	case m := <-n.zone.Receive():
		if _, ok := m.(messages.KeysChanged); !ok {
			t.Errorf("zone got %T, want KeysChanged", m)
		}
	case <-time.After(5 * time.Second):
		t.Error("the zone was not told to re-sign")
	}
	if st := n.sync.Status(); st.NextSync.Before(time.Now().Add(50 * time.Minute)) {
		t.Errorf("next sync %s, want about poll_interval (1h) away", st.NextSync)
	}
}

// Every way a peer can fail names the peer and the cause, sets
// sync_success to 0, and leaves the key in use alone.
func TestBadPeersGiveAClearErrorAndChangeNoKey(t *testing.T) {
	older, _ := signer.Generate(zone, "", time.Now().Add(-time.Hour))
	good := startPeer(t, servingKeys(older))
	garbage := startPeer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) })
	forged := older.Material()
	other, _ := signer.Generate(zone, "", time.Now())
	forged.Private = other.Material().Private
	badKey := startPeer(t, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(KeysResponse{Keys: []messages.KeyMaterial{forged}})
	})
	plain := httptest.NewServer(servingKeys(older))
	t.Cleanup(plain.Close)
	closed := closedPort(t)

	cases := []struct {
		name, peer, caFile, token string
		result, says              string
	}{
		{"wrong token", good.srv.URL, good.caFile, "another-token-0123456789", messages.SyncUnauthorized, "sync token does not match"},
		{"no TLS", strings.Replace(plain.URL, "http://", "https://", 1), good.caFile, syncToken, messages.SyncTLS, "does not speak TLS"},
		{"unknown CA", good.srv.URL, "", syncToken, messages.SyncTLS, "key_sync.ca_file"},
		{"unreachable", "https://" + closed, good.caFile, syncToken, messages.SyncUnreachable, "cannot connect"},
		{"garbage", garbage.srv.URL, garbage.caFile, syncToken, messages.SyncBadResponse, "not a key list"},
		{"forged key", badKey.srv.URL, badKey.caFile, syncToken, messages.SyncBadResponse, "private"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir(), c.caFile, c.peer)
			cfg.Overwatch.DNSSEC.KeySync.Token = c.token
			n := startNode(t, cfg)
			before := n.activeTag(t)
			round := n.syncNow(t)
			if round.OK() || len(round.Peers) != 1 || round.Peers[0].Result != c.result {
				t.Fatalf("round %+v, want result %s", round, c.result)
			}
			st := n.sync.Status()
			if !strings.Contains(st.LastSyncError, c.peer) || !strings.Contains(st.LastSyncError, c.says) {
				t.Errorf("last_sync_error %q: want the peer %s and %q", st.LastSyncError, c.peer, c.says)
			}
			if gauge(t, "opengslb_dnssec_sync_success") != 0 {
				t.Error("sync_success is not 0")
			}
			if after := n.activeTag(t); after != before || after == older.Tag() {
				t.Errorf("key in use went from %d to %d", before, after)
			}
		})
	}
}

// A reload that adds peers polls them at once (the guide's step 4).
func TestReloadWithNewPeersPollsAtOnce(t *testing.T) {
	older, _ := signer.Generate(zone, "", time.Now().Add(-time.Hour))
	p := startPeer(t, servingKeys(older))
	dir := t.TempDir()
	n := startNode(t, testConfig(dir, ""))
	if st := n.sync.Status(); st.Enabled || st.PeerCount != 0 {
		t.Fatalf("status without peers %+v", st)
	}
	if err := n.syncBox.Address().Send(context.Background(), messages.ConfigApplied{Config: testConfig(dir, p.caFile, p.srv.URL)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.activeTag(t) != older.Tag() {
		if time.Now().After(deadline) {
			t.Fatalf("the peer's older key %d was not adopted after the reload", older.Tag())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := n.sync.Status(); !st.Enabled || st.PeerCount != 1 {
		t.Errorf("status after the reload %+v", st)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
