package zone

import (
	"crypto"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// testSigner signs in-process with one key per zone, counting signatures,
// as the SignerActor would without its cache.
type testSigner struct {
	key    *dns.DNSKEY
	priv   crypto.Signer
	signed int
}

func newTestSigner(t testing.TB, zone string) *testSigner {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{key: k, priv: priv.(crypto.Signer)}
}

func (s *testSigner) sign(zones []messages.ZoneToSign) ([]messages.SignedZone, error) {
	now := time.Now()
	sig := func(set []dns.RR) []dns.RR {
		s.signed++
		r := &dns.RRSIG{Hdr: dns.RR_Header{Ttl: set[0].Header().Ttl}, Algorithm: s.key.Algorithm, KeyTag: s.key.KeyTag(),
			SignerName: s.key.Hdr.Name, Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(time.Hour).Unix())}
		if err := r.Sign(s.priv, set); err != nil {
			panic(err)
		}
		return []dns.RR{r}
	}
	var out []messages.SignedZone
	for _, z := range zones {
		sz := messages.SignedZone{Zone: z.Zone, Keys: []messages.KeyInfo{{Zone: z.Zone, KeyTag: s.key.KeyTag(), DNSKEY: s.key}},
			RefreshAt: now.Add(time.Hour)}
		sz.DNSKEY = messages.SignedRRset{RRs: []dns.RR{s.key}, Sigs: sig([]dns.RR{s.key})}
		cds := s.key.ToDS(dns.SHA256).ToCDS()
		sz.CDS = messages.SignedRRset{RRs: []dns.RR{cds}, Sigs: sig([]dns.RR{cds})}
		cdnskey := s.key.ToCDNSKEY()
		sz.CDNSKEY = messages.SignedRRset{RRs: []dns.RR{cdnskey}, Sigs: sig([]dns.RR{cdnskey})}
		for _, set := range z.RRsets {
			sz.Sigs = append(sz.Sigs, sig(set))
		}
		out = append(out, sz)
	}
	return out, nil
}

// signedSnapshot builds testConfig's domains plus an ENT-creating one,
// signed with denial.
func signedSnapshot(t testing.TB, s *testSigner, denial string) *Snapshot {
	t.Helper()
	cfg := testConfig("webapp", "api")
	cfg.Domains = append(cfg.Domains, config.Domain{Name: "a.deep.gslb.example.com.", Service: "deep", Routing: config.RoutingRoundRobin, TTL: 30, Fallback: config.FallbackAll})
	cfg.Backends = append(cfg.Backends, config.Backend{Service: "deep", Address: "2001:db8::1", Port: 80, Weight: 100, Priority: 1,
		HealthCheck: config.HealthCheck{Type: config.CheckNone}})
	health := map[messages.BackendKey]messages.HealthState{}
	for _, b := range cfg.Backends {
		health[messages.BackendKey{Service: b.Service, Address: netip.MustParseAddr(b.Address), Port: b.Port}] = messages.HealthHealthy
	}
	snap, err := Build(Input{Config: cfg, Health: health, Sign: s.sign, Denial: denial, Now: time.Now()}, 1, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// unpackAll reads the records of prepared, uncompressed RRSets.
func unpackAll(t testing.TB, sets []RRSet) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, set := range sets {
		off := 0
		for range set.Count {
			rr, next, err := dns.UnpackRR(set.Wire, off)
			if err != nil {
				t.Fatalf("unpack proof record at %d: %v", off, err)
			}
			out = append(out, rr)
			off = next
		}
	}
	return out
}

// checkNameError verifies, with miekg's NSEC3 and NSEC logic and the key,
// that the proof for a missing name holds: every record is signed, and the
// records match the closest encloser and cover the next closer name and
// the wildcard (NSEC3), or cover the name and the wildcard (NSEC).
func checkNameError(t testing.TB, snap *Snapshot, s *testSigner, name string) {
	t.Helper()
	z, node := snap.Lookup(name)
	if z == nil || node != nil {
		return
	}
	rrs := unpackAll(t, snap.NameErrorProof(z, name, nil))
	var denials []dns.RR
	for _, rr := range rrs {
		if sig, ok := rr.(*dns.RRSIG); ok {
			var covered []dns.RR
			for _, d := range rrs {
				if d.Header().Rrtype == sig.TypeCovered && strings.EqualFold(d.Header().Name, sig.Hdr.Name) {
					covered = append(covered, d)
				}
			}
			if err := sig.Verify(s.key, covered); err != nil {
				t.Fatalf("%q: signature over %s does not verify: %v", name, sig.Hdr.Name, err)
			}
			continue
		}
		denials = append(denials, rr)
	}
	// Closest encloser: the longest existing ancestor.
	ce, next := parent(name), name
	for range maxLabels {
		if n, ok := snap.names[ce]; ok && n.Zone == z {
			break
		}
		ce, next = parent(ce), ce
	}
	if n, ok := snap.names[ce]; !ok || n.Zone != z {
		t.Fatalf("%q: no closest encloser inside %s", name, z.Name)
	}
	wildcard := "*." + ce
	matched, coveredNext, coveredWild := false, false, false
	for _, rr := range denials {
		switch d := rr.(type) {
		case *dns.NSEC3:
			matched = matched || d.Match(ce)
			coveredNext = coveredNext || d.Cover(next)
			coveredWild = coveredWild || d.Cover(wildcard)
		case *dns.NSEC:
			matched = true
			coveredNext = coveredNext || nsecCovers(d, name)
			coveredWild = coveredWild || nsecCovers(d, wildcard)
		}
	}
	if !matched || !coveredNext || !coveredWild {
		t.Fatalf("%q (closest encloser %q): match %v, next closer covered %v, wildcard covered %v:\n%v", name, ce, matched, coveredNext, coveredWild, denials)
	}
}

func nsecCovers(n *dns.NSEC, name string) bool {
	w := func(s string) wireName { x, _ := newWireName(s); return x }
	owner, next, q := w(n.Hdr.Name), w(n.NextDomain), w(name)
	if canonicalCompare(owner, next) < 0 {
		return canonicalCompare(owner, q) < 0 && canonicalCompare(q, next) < 0
	}
	return canonicalCompare(owner, q) < 0 || canonicalCompare(q, next) < 0 // the last record wraps
}

func TestNameErrorProofs(t *testing.T) {
	for _, denial := range []string{config.DenialNSEC3, config.DenialNSEC} {
		s := newTestSigner(t, "gslb.example.com.")
		snap := signedSnapshot(t, s, denial)
		for _, name := range []string{
			"nothere.gslb.example.com.", "x.y.webapp.gslb.example.com.", "b.deep.gslb.example.com.",
			"0.gslb.example.com.", "zzzz.gslb.example.com.", "*.gslb.example.com.", "a\\.b.gslb.example.com.",
			"\\000.deep.gslb.example.com.", strings.Repeat("x.", 100) + "gslb.example.com.",
		} {
			checkNameError(t, snap, s, name)
		}
	}
}

// Every rotation of a round-robin answer shares one signature, and the
// signed variants verify.
func TestRoundRobinSignedOnce(t *testing.T) {
	s := newTestSigner(t, "gslb.example.com.")
	cfg := testConfig()
	cfg.Domains = []config.Domain{{Name: "rr.gslb.example.com.", Service: "rr", Routing: config.RoutingRoundRobin, TTL: 30, Fallback: config.FallbackAll}}
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		cfg.Backends = append(cfg.Backends, config.Backend{Service: "rr", Address: a, Port: 80, Weight: 100, Priority: 1})
	}
	snap, err := Build(Input{Config: cfg, Sign: s.sign, Denial: config.DenialNSEC3, Now: time.Now()}, 1, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// SOA, NS, NSEC3PARAM, the A set, 3 NSEC3 (apex, domain, ENT-free) and 3 key sets.
	if want := 3 + 1 + 2 + 3; s.signed != want {
		t.Fatalf("%d signatures made, want %d (one for all rotations)", s.signed, want)
	}
	d := snap.names["rr.gslb.example.com."].Domain
	for range 3 {
		set, _ := d.A.Pick(0, true)
		if set.Count != 4 {
			t.Fatalf("signed variant holds %d records, want 3 A and an RRSIG", set.Count)
		}
	}
}

// A dot escaped inside a label does not make a name part of the zone.
func TestEscapedDotIsNotInZone(t *testing.T) {
	snap := signedSnapshot(t, newTestSigner(t, "gslb.example.com."), config.DenialNSEC3)
	if z, _ := snap.Lookup(`a\.gslb.example.com.`); z != nil {
		t.Fatalf(`a\.gslb.example.com. (label "a.gslb" under example.com) found in zone %s`, z.Name)
	}
	if z, _ := snap.Lookup(`a\\.gslb.example.com.`); z == nil {
		t.Fatal(`a\\.gslb.example.com. (label "a\" under gslb.example.com) not found in the zone`)
	}
}
