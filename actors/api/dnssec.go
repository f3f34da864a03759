package api

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/messages"
)

type dnssecStatusJSON struct {
	Enabled bool `json:"enabled"`
	// Keys are the zones' active keys, the ones key sync converges on
	// and whose DS belongs at the parent: the same on every overwatch.
	Keys []dnssecKeyJSON `json:"keys"`
	// RetiringKeys were replaced by key sync and still sign until
	// delete_at, so resolvers that cached them keep validating.
	RetiringKeys []dnssecKeyJSON `json:"retiring_keys"`
	Sync         syncJSON        `json:"sync"`
}

type dnssecKeyJSON struct {
	Zone            string `json:"zone"`
	KeyTag          uint16 `json:"key_tag"`
	Algorithm       string `json:"algorithm"`
	AlgorithmNumber uint8  `json:"algorithm_number"`
	Flags           uint16 `json:"flags"`
	Role            string `json:"role"`
	Created         string `json:"created"`
	AgeSeconds      int64  `json:"age_seconds"`
	DeleteAt        string `json:"delete_at,omitempty"`
}

type syncJSON struct {
	Enabled       bool    `json:"enabled"`
	LastSync      *string `json:"last_sync"`
	LastSyncError *string `json:"last_sync_error"`
	NextSync      *string `json:"next_sync"`
	PeerCount     int     `json:"peer_count"`
}

type dsJSON struct {
	Zone       string `json:"zone"`
	KeyTag     uint16 `json:"key_tag"`
	Algorithm  uint8  `json:"algorithm"`
	DigestType uint8  `json:"digest_type"`
	// Digest is hex in upper case, as the record shows it (miekg keeps
	// the field itself in lower case).
	Digest string `json:"digest"`
	// Record is the DS in presentation format, ready for the parent zone.
	Record string `json:"record"`
}

// dnssecStatus lists the keys the current snapshot signs with. The keys
// come from the snapshot, not the key directory, so this is what DNS
// serves now: a zone whose keys are not loaded yet shows none.
func (a *OverwatchActor) dnssecStatus(w http.ResponseWriter, _ *http.Request) {
	out := dnssecStatusJSON{Enabled: a.src.DNSSEC, Keys: []dnssecKeyJSON{}, RetiringKeys: []dnssecKeyJSON{}, Sync: syncView(a.keySync())}
	if snap := a.snapshot(); snap != nil && a.src.DNSSEC {
		now := a.now()
		for _, k := range snapshotKeys(snap) {
			if k.Retiring {
				out.RetiringKeys = append(out.RetiringKeys, keyView(k, now))
			} else {
				out.Keys = append(out.Keys, keyView(k, now))
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// dnssecDS answers the DS records to publish at the parent, for one zone
// (?zone=, with or without the trailing dot, any case) or for all.
func (a *OverwatchActor) dnssecDS(w http.ResponseWriter, r *http.Request) {
	if !a.src.DNSSEC {
		writeError(w, http.StatusNotFound, "dnssec disabled", "DNSSEC is disabled on this overwatch (overwatch.dnssec.enabled = false): its zones are unsigned and have no DS records")
		return
	}
	snap := a.snapshot()
	want := ""
	if z := r.URL.Query().Get("zone"); z != "" {
		want = dns.CanonicalName(z)
		if !servesZone(snap, want) {
			writeError(w, http.StatusNotFound, "no such zone", want+" is not a zone this overwatch serves; "+servedZones(snap))
			return
		}
	}
	out := []dsJSON{}
	if snap != nil {
		for _, k := range snapshotKeys(snap) {
			if want != "" && k.Zone != want {
				continue
			}
			// Only a key with the SEP flag (a KSK or, here, a combined
			// key) has its DS at the parent, as dnssec-dsfromkey does;
			// a retiring key's DS is on its way out.
			if k.Flags&dns.SEP == 0 || k.Retiring {
				continue
			}
			if k.DNSKEY == nil {
				writeError(w, http.StatusInternalServerError, "internal error", "key "+strconv.Itoa(int(k.KeyTag))+" of zone "+k.Zone+" carries no DNSKEY record")
				return
			}
			ds := k.DNSKEY.ToDS(dns.SHA256)
			if ds == nil {
				writeError(w, http.StatusInternalServerError, "internal error", "the DS of key "+strconv.Itoa(int(k.KeyTag))+" of zone "+k.Zone+" could not be computed")
				return
			}
			out = append(out, dsJSON{
				Zone: k.Zone, KeyTag: ds.KeyTag, Algorithm: ds.Algorithm, DigestType: ds.DigestType,
				Digest: strings.ToUpper(ds.Digest), Record: ds.String(),
			})
		}
	}
	if want != "" && len(out) == 0 {
		writeError(w, http.StatusNotFound, "zone not signed", want+" is served unsigned for now: its keys are not loaded (the overwatch's log says why)")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ds": out})
}

// keySync is the key sync block; the zero block (off, never synced, no
// peers) when DNSSEC is off.
func (a *OverwatchActor) keySync() messages.SyncStatus {
	if a.src.KeySync == nil {
		return messages.SyncStatus{}
	}
	return a.src.KeySync.Status()
}

func syncView(s messages.SyncStatus) syncJSON {
	out := syncJSON{Enabled: s.Enabled, PeerCount: s.PeerCount}
	if !s.LastSync.IsZero() {
		out.LastSync = ptr(rfc3339(s.LastSync))
	}
	if s.LastSyncError != "" {
		out.LastSyncError = ptr(s.LastSyncError)
	}
	if !s.NextSync.IsZero() {
		out.NextSync = ptr(rfc3339(s.NextSync))
	}
	return out
}

// snapshotKeys lists every zone's keys sorted by zone, creation and key
// tag, the order the key directory is read in.
func snapshotKeys(snap *zone.Snapshot) []messages.KeyInfo {
	var out []messages.KeyInfo
	for _, z := range snap.Zones() {
		out = append(out, z.Keys...)
	}
	slices.SortStableFunc(out, func(x, y messages.KeyInfo) int {
		return cmp.Or(cmp.Compare(x.Zone, y.Zone), x.Created.Compare(y.Created), cmp.Compare(x.KeyTag, y.KeyTag))
	})
	return out
}

func keyView(k messages.KeyInfo, now time.Time) dnssecKeyJSON {
	name, ok := dns.AlgorithmToString[k.Algorithm]
	if !ok {
		name = strconv.Itoa(int(k.Algorithm))
	}
	return dnssecKeyJSON{
		Zone: k.Zone, KeyTag: k.KeyTag, Algorithm: name, AlgorithmNumber: k.Algorithm, Flags: k.Flags,
		Role: keyRole(k.Flags), Created: rfc3339(k.Created), AgeSeconds: int64(now.Sub(k.Created) / time.Second),
		DeleteAt: optionalTime(k.DeleteAt),
	}
}

func optionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return rfc3339(t)
}

// keyRole names a key as the signer's key files do: with the SEP flag it
// is the combined signing key, the only kind the signer makes.
func keyRole(flags uint16) string {
	if flags&dns.SEP != 0 {
		return "csk"
	}
	return "zsk"
}

func servesZone(snap *zone.Snapshot, name string) bool {
	if snap == nil {
		return false
	}
	for _, z := range snap.Zones() {
		if z.Name == name {
			return true
		}
	}
	return false
}

// servedZones says which zones there are, for an error about one that is
// not among them.
func servedZones(snap *zone.Snapshot) string {
	var names []string
	if snap != nil {
		for _, z := range snap.Zones() {
			names = append(names, z.Name)
		}
	}
	if len(names) == 0 {
		return "it serves no zone yet (no snapshot published)"
	}
	slices.Sort(names)
	return "it serves " + strings.Join(names, ", ")
}
