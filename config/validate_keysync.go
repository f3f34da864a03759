package config

import (
	"crypto/x509"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// minKeySyncPoll keeps a typo ("1s" for "1h") from turning every peer's
// API into a hot path; tests and impatient operators use POST
// /api/v1/dnssec/sync instead.
const minKeySyncPoll = time.Second

// keySync checks [overwatch.dnssec.key_sync]. Peers must be https: the
// answer carries private keys, and the token would travel in clear text.
func (v *validator) keySync(k KeySync) {
	const base = "overwatch.dnssec.key_sync"
	seen := map[string]int{}
	for i, peer := range k.Peers {
		path := base + ".peers." + strconv.Itoa(i)
		u, err := url.Parse(peer)
		switch {
		case err != nil:
			v.p.add(path, "%q is not a URL: %v", peer, err)
			continue
		case u.Scheme != "https":
			v.p.add(path, "%q must be an https:// URL: key sync carries private keys and the sync token, so it never uses plain HTTP", peer)
			continue
		case u.Host == "" || u.Port() == "":
			v.p.add(path, "%q needs a host and a port (like https://overwatch-2.internal:9090)", peer)
			continue
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
			v.p.add(path, "%q must be the API's base URL only (scheme, host, port): the sync path is added to it", peer)
			continue
		}
		key := strings.ToLower(u.Host)
		if j, dup := seen[key]; dup {
			v.p.add(path, "%q is the same peer as peers.%d", peer, j)
			continue
		}
		seen[key] = i
	}
	if k.PollInterval.Duration < minKeySyncPoll {
		v.p.add(base+".poll_interval", "%s is too short: at least %s", k.PollInterval, minKeySyncPoll)
	}
	if v.positive(base+".timeout", k.Timeout) && k.PollInterval.Duration >= minKeySyncPoll && k.Timeout.Duration > k.PollInterval.Duration {
		v.p.add(base+".timeout", "%s must not exceed poll_interval (%s)", k.Timeout, k.PollInterval)
	}
	switch n := utf8.RuneCountInString(k.Token); {
	case k.Token == "" && len(k.Peers) > 0:
		v.p.add(base+".token", "required with peers: the same secret on every overwatch (never on agents), at least %d characters", MinTokenLength)
	case k.Token == "" && !v.defined(base+".token"):
	case strings.TrimSpace(k.Token) == "":
		v.p.add(base+".token", "must not be empty when set")
	case n < MinTokenLength:
		v.p.add(base+".token", "the token is %d characters long; it must be at least %d (the token is not shown)", n, MinTokenLength)
	}
	if k.CAFile != "" {
		pem, err := os.ReadFile(k.CAFile)
		switch {
		case err != nil:
			v.p.add(base+".ca_file", "cannot read %s: %v", k.CAFile, err)
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			v.p.add(base+".ca_file", "%s holds no PEM certificate", k.CAFile)
		}
	}
}
