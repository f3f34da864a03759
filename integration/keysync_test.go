package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/signer"
)

// syncTimeout bounds a key sync round seen from outside: a poll, the
// signer storing the key, the zone re-signing and publishing.
const syncTimeout = 10 * time.Second

// The guide's order: the first overwatch starts alone and makes the
// keys; the others list it (and each other) as peers and fetch them at
// start-up instead of making their own; the first then gets its peers by
// SIGHUP. All three sign with one key, and a resolver holding one DS
// validates what each of them answers.
func TestKeySyncSequentialStartAsTheGuide(t *testing.T) {
	n1, n2, n3 := tlsNode(t), tlsNode(t), tlsNode(t)
	ca := caBundle(t, n1, n2, n3)
	n1.run(t, syncBody()+keySyncTable(nil, syncToken, ca))
	n2.run(t, syncBody()+keySyncTable(urls(n1), syncToken, ca))
	n3.run(t, syncBody()+keySyncTable(urls(n1, n2), syncToken, ca))

	first := n1.activeTags(t)
	checkFor(t, syncTimeout, expectSameKeys(t, n1, n2, n3))
	for _, n := range []*apiNode{n2, n3} {
		if got := storedKeys(t, n); !slices.Equal(got, first) {
			t.Errorf("%s stores keys %v, want only the first overwatch's %v: it generated its own", n.base, got, first)
		}
		if _, err := n.findLog("DNSSEC key fetched from a peer"); err != nil {
			t.Errorf("%s: %v", n.base, err)
		}
	}

	// Step 4: the first overwatch learns its peers by SIGHUP.
	success, failure := n1.reloads(t)
	n1.writeBody(syncBody() + keySyncTable(urls(n2, n3), syncToken, ca))
	n1.reload(t, success+1, failure)
	checkFor(t, syncTimeout, func() error {
		st := n1.dnssecStatus(t).Sync
		if !st.Enabled || st.PeerCount != 2 || st.LastSync == nil || st.LastSyncError != nil || st.NextSync == nil {
			return fmt.Errorf("sync block after the reload: %+v", st)
		}
		return nil
	})
	for _, n := range []*apiNode{n1, n2, n3} {
		checkFor(t, syncTimeout, n.expectMetric("opengslb_dnssec_sync_success", 1))
		if text, err := n.metricsText(); err != nil || !strings.Contains(text, `opengslb_dnssec_sync_attempts_total{peer="`+n1.base+`",result="ok"}`) && n != n1 {
			t.Errorf("%s: no successful attempt against %s counted (%v)", n.base, n1.base, err)
		}
	}
	if !slices.Equal(n1.activeTags(t), first) {
		t.Fatalf("the first overwatch's key changed after it got peers: %v → %v", first, n1.activeTags(t))
	}

	ds := zoneDS(t, n1.dir)
	for _, n := range []*apiNode{n1, n2, n3} {
		v := validatorWithDS(t, n.ports.dns, ds)
		v.check("svc.gslb.test", "A", delvValidated)
		v.check("nope.gslb.test", "A", "resolution failed: ncache nxdomain")
	}
	if r := runCLI(t, "ha", "check", "--node", n1.base, "--node", n2.base, "--node", n3.base, "--ca-file", ca); r.code != 0 ||
		!strings.Contains(r.stdout, "1 key tags") {
		t.Errorf("ha check over the three:\n%s", r)
	}
}

// Started together, each overwatch finds no peer with keys and makes its
// own; the next poll converges all three on the oldest key. The replaced
// keys keep signing, so a resolver that trusted one still validates.
// Whether they diverge at all depends on who answers first, so a second
// run starts them already holding different keys, as after a partition
// in which each was set up alone: then the oldest must win everywhere.
func TestKeySyncSimultaneousStartConverges(t *testing.T) {
	t.Run("fresh", func(t *testing.T) { simultaneousStart(t, false) })
	t.Run("each with its own key", func(t *testing.T) { simultaneousStart(t, true) })
}

func simultaneousStart(t *testing.T, ownKeys bool) {
	nodes := []*apiNode{tlsNode(t), tlsNode(t), tlsNode(t)}
	var oldest uint16
	if ownKeys {
		for i, n := range nodes {
			k, err := signer.Generate(zoneName, "", time.Now().Add(-time.Duration(3-i)*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := signer.WriteKey(filepath.Join(n.dir, signer.KeyDir), k); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				oldest = k.Tag()
			}
		}
	}
	ca := caBundle(t, nodes...)
	const poll = 2 * time.Second
	for i, n := range nodes {
		others := slices.Delete(slices.Clone(nodes), i, i+1)
		n.writeBody(syncBody() + keySyncTable(urls(others...), syncToken, ca, fmt.Sprintf("poll_interval = %q", poll), `timeout = "1s"`))
	}
	for _, n := range nodes {
		n.launch()
	}
	for _, n := range nodes {
		if err := n.awaitStart(n.ready); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	// Each node has polled once when its signer was ready; the next poll
	// is at most 1.1 poll away.
	checkFor(t, 2*poll+syncTimeout, expectSameKeys(t, nodes...))
	t.Logf("converged %s after the last start", time.Since(started).Round(100*time.Millisecond))

	winner := nodes[0].dnssecStatus(t).Keys[0]
	var losers []*apiNode
	for _, n := range nodes {
		stored := storedKeys(t, n)
		if !slices.Contains(stored, winner.KeyTag) {
			t.Fatalf("%s does not store the winning key %d: %v", n.base, winner.KeyTag, stored)
		}
		if len(stored) == 1 {
			continue
		}
		losers = append(losers, n)
		st := n.dnssecStatus(t)
		// A node may adopt twice (a peer it could not reach at first
		// held an older key still): each replaced key retires.
		if len(st.RetiringKeys) != len(stored)-1 || st.RetiringKeys[0].DeleteAt == "" {
			t.Errorf("%s stores %v but lists retiring keys %+v", n.base, stored, st.RetiringKeys)
		}
		entry, err := n.findLog("DNSSEC key adopted from a peer (older, or lower key tag): the replaced key stays published and signing until replaced_delete_at; give the parent this key's DS")
		if err != nil || entry["replaced_key_tag"] == nil || entry["key_tag"] == nil {
			t.Errorf("%s: adoption not logged with both key tags: %v %v", n.base, entry, err)
		}
	}
	if len(losers) == 0 {
		t.Log("one node's key reached the others at start-up: nothing was replaced")
	}
	if ownKeys && (winner.KeyTag != oldest || len(losers) != 2) {
		t.Errorf("converged on %d with %d nodes replacing theirs; want the oldest key %d, replaced on 2", winner.KeyTag, len(losers), oldest)
	}

	keys := map[uint16]*dns.DS{}
	for _, n := range nodes {
		ks, err := signer.LoadKeys(filepath.Join(n.dir, signer.KeyDir))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			keys[k.Tag()] = k.DS()
		}
	}
	for _, n := range nodes {
		validatorWithDS(t, n.ports.dns, keys[winner.KeyTag]).check("svc.gslb.test", "A", delvValidated)
	}
	// A resolver that trusted a loser's old key (its DS, or its cached
	// DNSKEY set) keeps validating that node during the retirement.
	for _, n := range losers {
		for _, tag := range storedKeys(t, n) {
			validatorWithDS(t, n.ports.dns, keys[tag]).check("svc.gslb.test", "A", delvValidated)
		}
	}
}

// Every way a peer can be wrong shows in last_sync_error and the POST's
// answer, sets sync_success to 0 and changes no key.
func TestKeySyncBadPeers(t *testing.T) {
	wrongToken, plain, node := tlsNode(t), startAPINode(t, apiSettings{}, syncBody()), tlsNode(t)
	garbage := tlsNode(t) // its address, serving an HTML page over TLS
	garbageSrv := serveGarbage(t, garbage)
	ca := caBundle(t, wrongToken, node, garbage)
	wrongToken.run(t, syncBody()+keySyncTable(nil, "a-different-token-0123456789", ca))
	closed := "https://" + freeAddr(t, false)
	plainURL := strings.Replace(plain.base, "http://", "https://", 1)
	peers := []string{wrongToken.base, plainURL, closed, garbageSrv}
	node.run(t, syncBody()+keySyncTable(peers, syncToken, ca, `timeout = "2s"`))
	before := storedKeys(t, node)

	r := node.syncNow(t)
	var round struct {
		OK    bool `json:"ok"`
		Peers []struct {
			Peer, Result string
			Error        *string
		} `json:"peers"`
		Detail string `json:"detail"`
	}
	r.decode(t, &round)
	want := map[string]struct{ result, says string }{
		wrongToken.base: {"unauthorized", "sync token does not match"},
		plainURL:        {"tls", "does not speak TLS"},
		closed:          {"unreachable", "connection refused"},
		garbageSrv:      {"bad_response", "not a key list"},
	}
	if r.code != 502 || round.OK || len(round.Peers) != len(peers) {
		t.Fatalf("POST /api/v1/dnssec/sync with bad peers: %s", r)
	}
	for _, p := range round.Peers {
		w := want[p.Peer]
		if p.Result != w.result || p.Error == nil || !strings.Contains(*p.Error, w.says) || !strings.Contains(*p.Error, p.Peer) {
			t.Errorf("peer %s: result %s, error %v; want %s saying %q", p.Peer, p.Result, deref(p.Error), w.result, w.says)
		}
	}
	st := node.dnssecStatus(t).Sync
	if st.LastSyncError == nil {
		t.Fatal("last_sync_error is null after a failed round")
	}
	for peer, w := range want {
		if !strings.Contains(*st.LastSyncError, peer) || !strings.Contains(*st.LastSyncError, w.says) {
			t.Errorf("last_sync_error does not say %q about %s: %s", w.says, peer, *st.LastSyncError)
		}
	}
	checkFor(t, apiTimeout, node.expectMetric("opengslb_dnssec_sync_success", 0))
	if after := storedKeys(t, node); !slices.Equal(after, before) {
		t.Errorf("keys changed from %v to %v", before, after)
	}
	if tags := node.activeTags(t); !slices.Equal(tags, before) {
		t.Errorf("signing with %v, stored %v", tags, before)
	}
	// The peer refusing the token says why in its own log too.
	if _, err := wrongToken.findLog("DNSSEC keys refused to a key sync peer"); err != nil {
		t.Error(err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// serveGarbage answers every request on n's API address with an HTML
// page over TLS with n's certificate: a peer URL pointing at the wrong
// service.
func serveGarbage(t *testing.T, n *apiNode) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(n.settings.certFile, n.settings.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", n.ports.api, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>It works!</body></html>"))
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return n.base
}
