package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opengslb/opengslb/actors/signer"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// KeysPath is the API path that serves an overwatch's keys to its peers.
const KeysPath = "/api/v1/dnssec/keys"

// maxKeysBody bounds what a peer may send: a few zones' keys are a few
// KiB, so a peer streaming more is broken or hostile.
const maxKeysBody = 1 << 20

// KeysResponse is the body of GET /api/v1/dnssec/keys.
type KeysResponse struct {
	Keys []messages.KeyMaterial `json:"keys"`
}

// peerClient fetches keys from peers with one key_sync configuration.
type peerClient struct {
	http    *http.Client
	token   string
	timeout time.Duration
}

func newPeerClient(ks config.KeySync) (*peerClient, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if ks.CAFile != "" {
		pem, err := os.ReadFile(ks.CAFile)
		if err != nil {
			return nil, fmt.Errorf("overwatch.dnssec.key_sync.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("overwatch.dnssec.key_sync.ca_file: %s holds no PEM certificate", ks.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		// A peer URL names the peer itself: a proxy in between would see
		// the token and the private keys.
		Proxy: nil,
	}
	return &peerClient{
		http:    &http.Client{Transport: transport, CheckRedirect: refuseRedirects},
		token:   ks.Token,
		timeout: ks.Timeout.Duration,
	}, nil
}

// refuseRedirects keeps the token from following a redirect to a host the
// operator did not list.
func refuseRedirects(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("redirected to %s: key sync follows no redirects; list the peer's own URL", req.URL.Redacted())
}

func (c *peerClient) close() { c.http.CloseIdleConnections() }

// fetch asks one peer for its keys. Every key it returns parsed and
// matched its private half; one bad key makes the whole answer bad, since
// a peer that serves garbage is not one to take keys from.
func (c *peerClient) fetch(ctx context.Context, peer string) ([]messages.KeyMaterial, messages.PeerOutcome) {
	out := messages.PeerOutcome{Peer: peer}
	fail := func(result, format string, args ...any) ([]messages.KeyMaterial, messages.PeerOutcome) {
		out.Result = result
		out.Error = fmt.Sprintf("peer %s: ", peer) + fmt.Sprintf(format, args...)
		return nil, out
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	url := strings.TrimRight(peer, "/") + KeysPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(messages.SyncUnreachable, "%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		result, reason := classify(err, c.timeout.String())
		return fail(result, "GET %s: %s", KeysPath, reason)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1))
	if err != nil {
		result, reason := classify(err, c.timeout.String())
		return fail(result, "GET %s: reading the answer: %s", KeysPath, reason)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fail(messages.SyncUnauthorized, "GET %s: %s: %s (key_sync.token must be the same on every overwatch, and the peer's api.allowed_networks must hold this one)",
			KeysPath, resp.Status, peerMessage(body))
	case resp.StatusCode != http.StatusOK:
		return fail(messages.SyncRefused, "GET %s: %s: %s", KeysPath, resp.Status, peerMessage(body))
	case len(body) > maxKeysBody:
		return fail(messages.SyncBadResponse, "GET %s: answer larger than %d bytes", KeysPath, maxKeysBody)
	}
	// Unknown fields are allowed: during a rolling upgrade a newer peer
	// may send more than this version reads.
	var parsed KeysResponse
	if err := json.Unmarshal(body, &parsed); err != nil {
		return fail(messages.SyncBadResponse, "GET %s: not a key list: %v", KeysPath, err)
	}
	if parsed.Keys == nil {
		return fail(messages.SyncBadResponse, "GET %s: not a key list: no \"keys\" array", KeysPath)
	}
	var errs []error
	for i := range parsed.Keys {
		m := &parsed.Keys[i]
		m.Source = peer
		if _, err := signer.ParseKey(*m); err != nil {
			errs = append(errs, fmt.Errorf("key %d (zone %q, tag %d): %w", i, m.Zone, m.KeyTag, err))
		}
	}
	if len(errs) > 0 {
		return fail(messages.SyncBadResponse, "GET %s: %v", KeysPath, errors.Join(errs...))
	}
	out.Result = messages.SyncOK
	out.Keys = len(parsed.Keys)
	return parsed.Keys, out
}

// peerMessage is the reason a peer gave in the API's error body, or the
// start of whatever it sent.
func peerMessage(body []byte) string {
	var e struct {
		Error  string `json:"error"`
		Detail any    `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.Detail == nil {
			return e.Error
		}
		return fmt.Sprintf("%s: %v", e.Error, e.Detail)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return fmt.Sprintf("%q", s)
}
