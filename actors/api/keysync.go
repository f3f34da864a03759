package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

var (
	deniedSyncToken = metrics.NewCounter(`opengslb_api_denied_total{reason="sync_token"}`)
	deniedPlainKeys = metrics.NewCounter(`opengslb_api_denied_total{reason="keys_need_tls"}`)
)

// KeySyncSource is the sync actor as the API sees it.
type KeySyncSource interface {
	Status() messages.SyncStatus
	// CheckToken compares a presented token with key_sync.token in
	// constant time; the error says what is wrong, for the peer.
	CheckToken(token string) error
}

// keysJSON is the body of GET /api/v1/dnssec/keys, as the sync actor
// reads it.
type keysJSON struct {
	Keys []messages.KeyMaterial `json:"keys"`
}

// dnssecKeys serves the zones' active keys, private halves included, to a
// key-sync peer. It is the one endpoint that hands out secrets, so it
// needs the sync token (not the API token: agents and operators' scripts
// never hold it) and a channel nobody on the path can read: TLS, or a
// connection that never left the host.
func (a *OverwatchActor) dnssecKeys(w http.ResponseWriter, r *http.Request) {
	if !a.src.DNSSEC || a.src.KeySync == nil || a.src.Signer.IsZero() {
		writeError(w, http.StatusNotFound, "dnssec disabled", "DNSSEC is disabled on this overwatch (overwatch.dnssec.enabled = false): it has no keys to share")
		return
	}
	if !servedSecurely(r) {
		deniedPlainKeys.Inc()
		writeError(w, http.StatusForbidden, "https required",
			"DNSSEC keys are served over TLS only (plain HTTP only to loopback clients): set api.tls_cert_file and api.tls_key_file on this overwatch and list it as https:// in its peers' key_sync.peers")
		return
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		deniedSyncToken.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="opengslb key sync"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "send the key sync token (overwatch.dnssec.key_sync.token) as Authorization: Bearer <token>")
		return
	}
	if err := a.src.KeySync.CheckToken(token); err != nil {
		deniedSyncToken.Inc()
		a.log.Warn().Str("client", infoOf(r).client.String()).Err(err).Msg("DNSSEC keys refused to a key sync peer")
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.zoneTimeout)
	defer cancel()
	keys, err := runtime.Ask(ctx, a.src.Signer, func(reply chan<- []messages.KeyMaterial) messages.SignerMsg {
		return messages.ExportKeys{Reply: reply}
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "signer busy", "the signer did not hand out its keys in time (it may still be starting); retry ("+err.Error()+")")
		return
	}
	if keys == nil {
		keys = []messages.KeyMaterial{}
	}
	w.Header().Set("Cache-Control", "no-store")
	a.log.Info().Str("client", infoOf(r).client.String()).Int("keys", len(keys)).Msg("DNSSEC keys served to a key sync peer")
	writeJSON(w, http.StatusOK, keysJSON{Keys: keys})
}

type syncRoundJSON struct {
	OK      bool              `json:"ok"`
	At      string            `json:"at"`
	Peers   []peerOutcomeJSON `json:"peers"`
	Adopted []keyChangeJSON   `json:"adopted"`
	// Error and Detail follow the API's error shape when the round
	// failed, so `curl -f` and scripts see the failure either way.
	Error  *string  `json:"error"`
	Detail *string  `json:"detail,omitempty"`
	Sync   syncJSON `json:"sync"`
}

type peerOutcomeJSON struct {
	Peer   string  `json:"peer"`
	Result string  `json:"result"`
	Error  *string `json:"error"`
	Keys   int     `json:"keys"`
}

type keyChangeJSON struct {
	Zone string `json:"zone"`
	From uint16 `json:"from_key_tag"`
	To   uint16 `json:"to_key_tag"`
	Peer string `json:"peer"`
}

// dnssecSync polls every peer now and answers with each one's outcome:
// 200 when all answered and their keys were taken, 502 otherwise.
func (a *OverwatchActor) dnssecSync(w http.ResponseWriter, r *http.Request) {
	if !a.src.DNSSEC || a.src.Sync.IsZero() {
		writeError(w, http.StatusNotFound, "dnssec disabled", "DNSSEC is disabled on this overwatch (overwatch.dnssec.enabled = false): there are no keys to sync")
		return
	}
	if _, ok := readJSON(w, r, &struct{}{}); !ok {
		return
	}
	// The round may take key_sync.timeout per peer, longer than the
	// server's write timeout allows by default.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.syncTimeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), a.syncTimeout)
	defer cancel()
	round, err := runtime.Ask(ctx, a.src.Sync, func(reply chan<- messages.SyncRound) messages.SyncMsg {
		return messages.SyncNow{Reply: reply}
	})
	if errors.Is(err, runtime.ErrNoReply) {
		writeError(w, http.StatusGatewayTimeout, "sync did not answer in time",
			"the round was started and may still finish; check sync in GET /api/v1/dnssec/status ("+err.Error()+")")
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "sync busy", "the round was not started; retry ("+err.Error()+")")
		return
	}
	out := syncRoundJSON{OK: round.OK(), At: rfc3339(round.At), Peers: []peerOutcomeJSON{}, Adopted: []keyChangeJSON{}, Sync: syncView(a.keySync())}
	var failed []string
	for _, p := range round.Peers {
		po := peerOutcomeJSON{Peer: p.Peer, Result: p.Result, Keys: p.Keys}
		if p.Error != "" {
			po.Error = ptr(p.Error)
			failed = append(failed, p.Error)
		}
		out.Peers = append(out.Peers, po)
	}
	for _, c := range round.Adopted {
		out.Adopted = append(out.Adopted, keyChangeJSON{Zone: c.Zone, From: c.From, To: c.To, Peer: c.Source})
	}
	if round.Err != "" {
		failed = append(failed, round.Err)
	}
	a.log.Info().Bool("ok", out.OK).Int("adopted", len(out.Adopted)).Str("client", infoOf(r).client.String()).Msg("key sync requested through the API")
	if !out.OK {
		out.Error = ptr("sync failed")
		out.Detail = ptr(strings.Join(failed, "; "))
		writeJSON(w, http.StatusBadGateway, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
