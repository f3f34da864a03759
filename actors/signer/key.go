// Package signer owns each zone's DNSSEC keys (generated once, kept under
// data_dir in BIND's key file format) and signs the record sets a snapshot
// serves, reusing signatures while their record set and key are unchanged.
package signer

import (
	"crypto"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// keyTTL is the TTL of DNSKEY, CDS and CDNSKEY: keys change rarely, and a
// resolver that caches them an hour refetches soon enough for a rollover.
const keyTTL = 3600

// Key is one zone's signing key. Flags 257 (zone key, secure entry point)
// make it a combined signing key: it signs the DNSKEY set and every other
// set alike, and its DS goes to the parent.
type Key struct {
	Zone    string // lower case, fully qualified
	DNSKEY  *dns.DNSKEY
	Private crypto.Signer
	Created time.Time
	// DeleteAt, when set, marks a key that key sync replaced: it stays
	// published and signing until then (BIND's Inactive and Delete).
	DeleteAt time.Time
}

// Tag is the key tag that RRSIGs and DS records name.
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// algorithmNumber maps a config algorithm name to its DNSSEC number.
func algorithmNumber(name string) (uint8, error) {
	switch name {
	case config.AlgorithmECDSAP256, "":
		return dns.ECDSAP256SHA256, nil
	case config.AlgorithmED25519:
		return dns.ED25519, nil
	}
	return 0, fmt.Errorf("dnssec: algorithm %q is not supported (ECDSAP256SHA256 or ED25519)", name)
}

// Generate makes a new combined signing key for zone.
func Generate(zone, algorithm string, now time.Time) (*Key, error) {
	alg, err := algorithmNumber(algorithm)
	if err != nil {
		return nil, err
	}
	zone = dns.CanonicalName(zone)
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: keyTTL},
		Flags:     dns.ZONE | dns.SEP,
		Protocol:  3,
		Algorithm: alg,
	}
	// Both algorithms take 256 bits: P-256, and Ed25519's fixed size.
	priv, err := k.Generate(256)
	if err != nil {
		return nil, fmt.Errorf("dnssec: generate a key for zone %s: %w", zone, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dnssec: generated key for zone %s cannot sign", zone)
	}
	return &Key{Zone: zone, DNSKEY: k, Private: signer, Created: now.UTC().Truncate(time.Second)}, nil
}

// Info describes the key for the API and the snapshot.
func (k *Key) Info() messages.KeyInfo {
	return messages.KeyInfo{Zone: k.Zone, KeyTag: k.Tag(), Algorithm: k.DNSKEY.Algorithm, Flags: k.DNSKEY.Flags, Created: k.Created, DNSKEY: k.DNSKEY,
		Retiring: !k.DeleteAt.IsZero(), DeleteAt: k.DeleteAt}
}

// Wins is the convergence rule every overwatch applies alike, so all end
// on one key per zone without talking to each other beyond fetching: the
// oldest creation wins, then the lowest key tag, then (two keys with one
// tag) the lower public key.
func (k *Key) Wins(other *Key) bool {
	if !k.Created.Equal(other.Created) {
		return k.Created.Before(other.Created)
	}
	if k.Tag() != other.Tag() {
		return k.Tag() < other.Tag()
	}
	return k.DNSKEY.PublicKey < other.DNSKEY.PublicKey
}

// Material is the key as peers exchange it: its stored files' text.
func (k *Key) Material() messages.KeyMaterial {
	return messages.KeyMaterial{Zone: k.Zone, KeyTag: k.Tag(), Created: k.Created, DNSKEY: k.DNSKEY.String(), Private: k.privateText()}
}

// DS is the key's SHA-256 DS record, what the parent zone publishes.
func (k *Key) DS() *dns.DS {
	ds := k.DNSKEY.ToDS(dns.SHA256)
	ds.Hdr.Ttl = keyTTL
	return ds
}

// baseName is BIND's file name stem: K<zone>+<alg>+<tag>.
func (k *Key) baseName() string {
	return fmt.Sprintf("K%s+%03d+%05d", k.Zone, k.DNSKEY.Algorithm, k.Tag())
}

// roleComment is BIND's first comment line of a .key file.
func roleComment(k *Key) string {
	kind := "zone-signing"
	if k.DNSKEY.Flags&dns.SEP != 0 {
		kind = "key-signing"
	}
	return fmt.Sprintf("; This is a %s key, keyid %d, for %s", kind, k.Tag(), strings.TrimSuffix(k.Zone, ".")+".")
}
