package signer

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime/statefile"
)

// KeyDir is where keys live under data_dir.
const KeyDir = "dnssec"

// bindTime is BIND's timestamp format in key files (UTC).
const bindTime = "20060102150405"

// WriteKey stores k as BIND does: K<zone>+<alg>+<tag>.key holds the DNSKEY
// record (what dnssec-dsfromkey reads) and .private the private key in
// "Private-key-format: v1.3". The private file is written first, so a
// .key file always has its .private beside it.
func WriteKey(dir string, k *Key) error {
	base := filepath.Join(dir, k.baseName())
	if err := statefile.Write(base+".private", []byte(k.privateText())); err != nil {
		return fmt.Errorf("dnssec: key for zone %s: %w", k.Zone, err)
	}
	public := roleComment(k) + "\n"
	for _, t := range k.timings() {
		public += "; " + t.name + ": " + t.at.Format(bindTime) + " (" + t.at.Format(time.ANSIC) + ")\n"
	}
	public += k.DNSKEY.String() + "\n"
	if err := statefile.Write(base+".key", []byte(public)); err != nil {
		return fmt.Errorf("dnssec: key for zone %s: %w", k.Zone, err)
	}
	return nil
}

type timing struct {
	name string
	at   time.Time
}

// timings are BIND's key state times. A retiring key is Inactive and
// Delete at once: it signs until it is withdrawn, so a resolver holding the
// old DNSKEY set finds a signature it can check until the set expires.
func (k *Key) timings() []timing {
	created := k.Created.UTC()
	out := []timing{{"Created", created}, {"Publish", created}, {"Activate", created}}
	if !k.DeleteAt.IsZero() {
		out = append(out, timing{"Inactive", k.DeleteAt.UTC()}, timing{"Delete", k.DeleteAt.UTC()})
	}
	return out
}

// privateText is the .private file: the private key, then the timings.
func (k *Key) privateText() string {
	text := k.DNSKEY.PrivateKeyString(k.Private)
	for _, t := range k.timings() {
		text += t.name + ": " + t.at.Format(bindTime) + "\n"
	}
	return text
}

// RemoveKey deletes k's files, private half last so a crash between
// leaves no .key without its .private.
func RemoveKey(dir string, k *Key) error {
	base := filepath.Join(dir, k.baseName())
	for _, path := range []string{base + ".key", base + ".private"} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dnssec: remove retired key file %s: %w", path, err)
		}
	}
	return nil
}

// LoadKeys reads every key pair in dir, sorted by zone, then creation,
// then key tag. A missing directory holds no keys. A key file that cannot
// be read, does not parse, or whose private half is missing or does not
// match is an error that names the file: a node must never quietly make a
// new key while the old one's DS may be at the parent.
func LoadKeys(dir string) ([]*Key, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "K*.key"))
	if err != nil {
		return nil, fmt.Errorf("dnssec: list %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dnssec: key directory %s: %w", dir, err)
	}
	var keys []*Key
	for _, path := range paths {
		k, err := readKey(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Zone != b.Zone {
			return a.Zone < b.Zone
		}
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.Tag() < b.Tag()
	})
	return keys, nil
}

// readKey reads one .key file and the .private file beside it.
func readKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dnssec: read key file %s: %w", path, err)
	}
	pub, err := parsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("dnssec: key file %s: %w", path, err)
	}
	privPath := strings.TrimSuffix(path, ".key") + ".private"
	privData, err := os.ReadFile(privPath)
	if err != nil {
		return nil, fmt.Errorf("dnssec: read private key file %s (the pair of %s): %w", privPath, path, err)
	}
	k, err := pairKey(pub, privData)
	if err != nil {
		return nil, fmt.Errorf("dnssec: private key file %s (the pair of %s): %w", privPath, path, err)
	}
	return k, nil
}

// ParseKey reads a key as a peer sends it: the DNSKEY record and the
// .private text. Errors say what is wrong, for the caller to name the peer.
func ParseKey(m messages.KeyMaterial) (*Key, error) {
	pub, err := parsePublic([]byte(m.DNSKEY))
	if err != nil {
		return nil, fmt.Errorf("dnskey: %w", err)
	}
	if len(m.Private) > maxPrivateText {
		return nil, fmt.Errorf("private: %d bytes, more than a key file holds (%d)", len(m.Private), maxPrivateText)
	}
	k, err := pairKey(pub, []byte(m.Private))
	if err != nil {
		return nil, fmt.Errorf("private: %w", err)
	}
	switch {
	case k.Zone != dns.CanonicalName(m.Zone):
		return nil, fmt.Errorf("the DNSKEY is for %s, not zone %s", k.Zone, m.Zone)
	case k.Tag() != m.KeyTag:
		return nil, fmt.Errorf("the DNSKEY's key tag is %d, not %d", k.Tag(), m.KeyTag)
	case !k.DeleteAt.IsZero():
		return nil, fmt.Errorf("key %d is retiring (it has a Delete time); peers offer active keys only", k.Tag())
	}
	return k, nil
}

// maxPrivateText bounds a peer's private text; BIND's files are ~200 bytes.
const maxPrivateText = 4096

// pairKey joins a DNSKEY with its .private text, checking they match.
func pairKey(pub *dns.DNSKEY, privData []byte) (*Key, error) {
	priv, err := pub.ReadPrivateKey(bytes.NewReader(privData), "private key")
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !matches(pub, signer) {
		return nil, errors.New("does not hold the private half of the DNSKEY")
	}
	created, err := timeOf(privData, "Created", time.Unix(0, 0).UTC())
	if err != nil {
		return nil, err
	}
	deleteAt, err := timeOf(privData, "Delete", time.Time{})
	if err != nil {
		return nil, err
	}
	return &Key{Zone: dns.CanonicalName(pub.Hdr.Name), DNSKEY: pub, Private: signer, Created: created, DeleteAt: deleteAt}, nil
}

// parsePublic reads the one DNSKEY record of a .key file.
func parsePublic(data []byte) (*dns.DNSKEY, error) {
	zp := dns.NewZoneParser(bytes.NewReader(data), ".", "")
	var key *dns.DNSKEY
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey || key != nil {
			return nil, errors.New("must hold exactly one DNSKEY record and nothing else")
		}
		key = k
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, errors.New("holds no DNSKEY record")
	}
	if key.Protocol != 3 || key.Flags&dns.ZONE == 0 {
		return nil, fmt.Errorf("DNSKEY for %s is not a zone key (flags %d, protocol %d)", key.Hdr.Name, key.Flags, key.Protocol)
	}
	if _, err := algorithmName(key.Algorithm); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(key.PublicKey)
	if want := publicKeySize(key.Algorithm); err != nil || len(raw) != want {
		return nil, fmt.Errorf("DNSKEY for %s: the public key is not %d bytes of base64", key.Hdr.Name, want)
	}
	return key, nil
}

// matches reports whether priv is the private half of pub. The public
// half is derived from the private scalar or seed itself: miekg/dns fills
// an ECDSA key's public point from the DNSKEY, which proves nothing.
func matches(pub *dns.DNSKEY, priv crypto.Signer) bool {
	var derived []byte
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		scalar, err := p.Bytes()
		if err != nil {
			return false
		}
		k, err := ecdh.P256().NewPrivateKey(scalar)
		if err != nil {
			return false
		}
		// DNSKEY's ECDSA public key is X||Y without the 0x04 prefix.
		derived = k.PublicKey().Bytes()[1:]
	case ed25519.PrivateKey:
		derived = p.Public().(ed25519.PublicKey)
	default:
		return false
	}
	return toBase64(derived) == pub.PublicKey
}

// timeOf reads one of BIND's timing lines ("Created:", "Delete:"); absent
// gives def. A file without Created (an older tool's) counts as created
// at the epoch, so it is the oldest.
func timeOf(private []byte, name string, def time.Time) (time.Time, error) {
	sc := bufio.NewScanner(bytes.NewReader(private))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), name) {
			continue
		}
		t, err := time.Parse(bindTime, strings.TrimSpace(value))
		if err != nil {
			return time.Time{}, fmt.Errorf("the %s: line's %q is not a BIND timestamp (YYYYMMDDHHMMSS)", name, strings.TrimSpace(value))
		}
		return t.UTC(), nil
	}
	return def, sc.Err()
}

func publicKeySize(alg uint8) int {
	if alg == dns.ED25519 {
		return ed25519.PublicKeySize
	}
	return 64 // P-256: X and Y
}

// algorithmName names the algorithms this signer can use.
func algorithmName(alg uint8) (string, error) {
	switch alg {
	case dns.ECDSAP256SHA256, dns.ED25519:
		return dns.AlgorithmToString[alg], nil
	}
	return "", fmt.Errorf("algorithm %d (%s) is not supported: ECDSAP256SHA256 (13) or ED25519 (15)", alg, dns.AlgorithmToString[alg])
}

func toBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
