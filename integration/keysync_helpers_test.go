package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opengslb/opengslb/actors/signer"
)

// Helpers for the key sync tests: overwatches whose APIs serve HTTPS with
// their own certificates, each trusting all of them through one CA
// bundle, and key_sync tables pointing them at each other.

// syncToken is the key sync token the overwatches of a test share.
const syncToken = "key-sync-token-0123456789abcdef"

// syncBody is what every key sync node serves: one static name, signed.
func syncBody() string {
	return domain("svc.gslb.test") + staticBackend("svc", "192.0.2.1") + "\n[overwatch.dnssec]\ndenial = \"nsec3\"\n"
}

// keySyncTable is [overwatch.dnssec.key_sync] for peers; extra lines
// (poll_interval, timeout) go into it verbatim.
func keySyncTable(peers []string, token, caFile string, extra ...string) string {
	s := fmt.Sprintf("\n[overwatch.dnssec.key_sync]\npeers = %s\ntoken = %q\nca_file = %q\n", tomlStrings(peers), token, caFile)
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// tlsNode is an overwatch prepared (ports, certificate) but not started,
// so that its peers can name it before it runs.
func tlsNode(t *testing.T) *apiNode {
	t.Helper()
	n := &apiNode{overwatch: &overwatch{process: newProcess(t, "overwatch"), ports: freePorts(t)}}
	n.settings.certFile, n.settings.keyFile, n.settings.caPEM = selfSigned(t, n.dir)
	n.setClient()
	return n
}

// caBundle writes every node's certificate into one file, the ca_file
// each of them trusts its peers by.
func caBundle(t *testing.T, nodes ...*apiNode) string {
	t.Helper()
	var pem []byte
	for _, n := range nodes {
		pem = append(pem, n.settings.caPEM...)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// urls are the nodes' API base URLs, as key_sync.peers lists them.
func urls(nodes ...*apiNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.base
	}
	return out
}

// run writes body as the node's configuration, starts it and waits until
// its API answers.
func (n *apiNode) run(t *testing.T, body string) {
	t.Helper()
	n.writeBody(body)
	n.launch()
	if err := n.awaitStart(n.ready); err != nil {
		t.Fatal(err)
	}
}

type dnssecStatus struct {
	Keys []struct {
		Zone     string `json:"zone"`
		KeyTag   uint16 `json:"key_tag"`
		Created  string `json:"created"`
		DeleteAt string `json:"delete_at"`
	} `json:"keys"`
	RetiringKeys []struct {
		KeyTag   uint16 `json:"key_tag"`
		DeleteAt string `json:"delete_at"`
	} `json:"retiring_keys"`
	Sync struct {
		Enabled       bool    `json:"enabled"`
		LastSync      *string `json:"last_sync"`
		LastSyncError *string `json:"last_sync_error"`
		NextSync      *string `json:"next_sync"`
		PeerCount     int     `json:"peer_count"`
	} `json:"sync"`
}

func (n *apiNode) dnssecStatus(t testing.TB) dnssecStatus {
	t.Helper()
	var st dnssecStatus
	n.get(t, "/api/v1/dnssec/status", &st)
	return st
}

// activeTags are the key tags GET /api/v1/dnssec/status lists, as the
// guide's `jq '.keys[].key_tag'` prints them.
func (n *apiNode) activeTags(t testing.TB) []uint16 {
	t.Helper()
	var tags []uint16
	for _, k := range n.dnssecStatus(t).Keys {
		tags = append(tags, k.KeyTag)
	}
	slices.Sort(tags)
	return tags
}

// expectSameKeys is a condition: every node lists exactly one active key,
// the same one.
func expectSameKeys(t testing.TB, nodes ...*apiNode) func() error {
	return func() error {
		var first []uint16
		for i, n := range nodes {
			tags := n.activeTags(t)
			if len(tags) != 1 {
				return fmt.Errorf("%s lists active keys %v, want one", n.base, tags)
			}
			if i == 0 {
				first = tags
			} else if !slices.Equal(tags, first) {
				return fmt.Errorf("%s signs with %v, %s with %v", nodes[0].base, first, n.base, tags)
			}
		}
		return nil
	}
}

// syncNow is POST /api/v1/dnssec/sync, as the guide runs it: from
// loopback, no body.
func (n *apiNode) syncNow(t testing.TB) apiResp {
	t.Helper()
	r, err := n.send(apiReq{method: http.MethodPost, path: "/api/v1/dnssec/sync"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storedKeys are the key files' tags in the node's data_dir.
func storedKeys(t testing.TB, n *apiNode) []uint16 {
	t.Helper()
	keys, err := signer.LoadKeys(filepath.Join(n.dir, signer.KeyDir))
	if err != nil {
		t.Fatal(err)
	}
	var tags []uint16
	for _, k := range keys {
		tags = append(tags, k.Tag())
	}
	slices.Sort(tags)
	return tags
}
