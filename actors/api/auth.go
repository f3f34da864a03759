package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/opengslb/opengslb/config"
)

var (
	deniedNetwork  = metrics.NewCounter(`opengslb_api_denied_total{reason="network"}`)
	deniedToken    = metrics.NewCounter(`opengslb_api_denied_total{reason="token"}`)
	deniedLoopback = metrics.NewCounter(`opengslb_api_denied_total{reason="loopback_only"}`)
	// Plain HTTP to the TLS port from another host (sniff.go).
	deniedPlainHTTP = metrics.NewCounter(`opengslb_api_denied_total{reason="plain_http"}`)
)

// defaultAllowed is what an empty allowed_networks means: the same
// loopback-only default config applies when the key is left out, rather
// than an API nobody may reach.
var defaultAllowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// access holds the API's access rules, prepared once from config.API.
type access struct {
	allowed    []netip.Prefix
	trustProxy bool
	// tokenSum is the SHA-256 of the token; comparing digests keeps the
	// comparison constant-time whatever length the client sends.
	tokenSum [sha256.Size]byte
	hasToken bool
}

func newAccess(cfg config.API) (access, error) {
	a := access{trustProxy: cfg.TrustProxyHeaders}
	for _, n := range cfg.AllowedNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return access{}, fmt.Errorf("api: api.allowed_networks: %q is not a CIDR network: %w", n, err)
		}
		a.allowed = append(a.allowed, p.Masked())
	}
	if len(a.allowed) == 0 {
		a.allowed = defaultAllowed
	}
	if cfg.AuthToken != "" {
		a.hasToken = true
		a.tokenSum = sha256.Sum256([]byte(cfg.AuthToken))
	}
	return a, nil
}

// client is the address the rules apply to: the connection's peer or,
// behind a trusted proxy, the last address in X-Forwarded-For. Only the
// last one is taken because it is the one the proxy itself appended;
// earlier ones are whatever the client chose to send. A last entry that is
// not an address is ignored and the connection's peer is used.
func (a *access) client(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !a.trustProxy {
		return peer
	}
	values := r.Header.Values("X-Forwarded-For")
	if len(values) == 0 {
		return peer
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if addr, err := netip.ParseAddr(last); err == nil && addr.Zone() == "" {
		return addr.Unmap()
	}
	if ap, err := netip.ParseAddrPort(last); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap()
	}
	return peer
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// permits reports whether addr lies in allowed_networks.
func (a *access) permits(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range a.allowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// mayWrite decides a state-changing request. With a token configured the
// request must present it; without one only loopback clients may write,
// so a default install cannot be changed from the network. It writes the
// refusal itself and reports whether the request may go on.
func (a *access) mayWrite(w http.ResponseWriter, r *http.Request, client netip.Addr) bool {
	if !a.hasToken {
		if client.IsLoopback() {
			return true
		}
		deniedLoopback.Inc()
		writeError(w, http.StatusForbidden, "forbidden",
			"requests that change state are taken from loopback clients only; configure api.auth_token to allow them from "+client.String())
		return false
	}
	header := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		deniedToken.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="opengslb"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "this request changes state: send the api.auth_token as \"Authorization: Bearer <token>\"")
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimLeft(token, " \t")))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
		deniedToken.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="opengslb", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the bearer token is not the api.auth_token")
		return false
	}
	return true
}

// writeMode names, for the start-up log, who may change state.
func (a *access) writeMode() string {
	if a.hasToken {
		return "bearer token (api.auth_token)"
	}
	return "loopback clients only (no api.auth_token)"
}
