// Package zone owns the desired state of every GSLB zone and publishes it as
// immutable snapshots that the DNS responder reads without locks.
package zone

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/opengslb/opengslb/messages"
)

// Snapshot is everything the responder needs to answer, prepared in advance:
// record sets are stored in wire form so that answering is a lookup, a
// choice and a copy. A Snapshot is never modified after it is published.
type Snapshot struct {
	Serial     uint32
	Generation uint64
	Built      time.Time
	// Warm is true once the snapshot was built from what the cluster's
	// agents reported (warm-up over): readiness waits for it, not for the
	// gossip actor's word, which reaches DNS only once this is published.
	Warm bool

	// zones is ordered by label count, longest first, so the first suffix
	// match is the most specific zone.
	zones []*Zone
	// names holds every name that exists in some zone, lower case and fully
	// qualified: apexes, domains and the empty non-terminals between them.
	names map[string]*Node
	// domains lists the domains in configuration order, for the API.
	domains []*Domain
	// overrides are the operator's decisions this snapshot applied.
	overrides []messages.Override
	// refreshAt is when the earliest signature needs making again.
	refreshAt time.Time
}

// Overrides returns the overrides in force when the snapshot was built,
// sorted by what they cover.
func (s *Snapshot) Overrides() []messages.Override { return s.overrides }

// Zone is one authoritative zone.
type Zone struct {
	Name string // lower case, fully qualified
	// SOA and NS are the apex record sets, packed to follow a question for
	// the apex (owner names compress to the question at offset 12).
	SOA Records
	NS  Records
	// NegativeSOA is the SOA record with its owner written out in full and
	// the negative TTL (RFC 2308 §5), ready for any negative answer's
	// authority section whatever the question was.
	NegativeSOA Records
	// apex holds the apex's DNSSEC record sets by type (DNSKEY, CDS,
	// CDNSKEY, NSEC3PARAM or NSEC); nil when the zone is unsigned.
	apex map[uint16]Records

	// Keys are the DNSSEC keys the zone is signed with; nil when the zone
	// is served unsigned.
	Keys []messages.KeyInfo
	// denial proves names and types absent; nil when unsigned.
	denial *denial
}

// Signed reports whether the zone's answers carry DNSSEC records.
func (z *Zone) Signed() bool { return len(z.Keys) > 0 }

// ApexSet returns a DNSSEC record set the apex holds besides SOA and NS.
func (z *Zone) ApexSet(qtype uint16) (Records, bool) {
	r, ok := z.apex[qtype]
	return r, ok
}

// Node is one name that exists.
type Node struct {
	Zone   *Zone
	Apex   bool
	Domain *Domain // nil at the apex and at empty non-terminals
	// proof is the denial record that shows which types the name has
	// (the NODATA proof), and wildcard the one that proves no wildcard
	// directly below it: indexes into the zone's chain, noProof when
	// the zone is unsigned.
	proof, wildcard int
}

// NoDataProof is the signed record that proves the name lacks a type, for
// the authority section of a NODATA answer with the DO bit.
func (n *Node) NoDataProof() RRSet {
	if d := n.Zone.denial; d != nil && n.proof != noProof {
		return d.signed[n.proof]
	}
	return RRSet{}
}

// OwnNSEC is the name's NSEC record (NSEC chains only), to answer a query
// for type NSEC; ok is false when the name owns none.
func (n *Node) OwnNSEC(do bool) (RRSet, bool) {
	d := n.Zone.denial
	if d == nil || d.nsec3 || (!n.Apex && n.Domain == nil) {
		return RRSet{}, false
	}
	if do {
		return d.signed[n.proof], true
	}
	return d.plain[n.proof], true
}

// Domain is one GSLB name with its answers for each address family.
type Domain struct {
	Name     string
	Service  string
	Routing  string
	TTL      uint32
	Fallback string
	// FallbackActive is true when no backend was healthy when the snapshot
	// was built, so every answer comes from the fallback rule.
	FallbackActive bool
	// Cold is true when the domain answers SERVFAIL because the overwatch
	// is still warming up and no agent has reported a healthy backend.
	Cold    bool
	A, AAAA Answer
	// Backends are the addresses considered, with the state used, for the
	// API and for tests; the responder reads only A and AAAA.
	Backends []BackendView

	fallbackAnswers *metrics.Counter
}

// CountFallback records one answer given by the fallback rule.
func (d *Domain) CountFallback() {
	if d.fallbackAnswers != nil {
		d.fallbackAnswers.Inc()
	}
}

// BackendView is a backend as a snapshot saw it.
type BackendView struct {
	Service  string
	Address  string
	Port     uint16
	Weight   int
	Priority int
	Region   string
	// Source is "static" for [[backends]], else the reporting agent.
	Source string
	// State is the effective state; Claimed and Validated are, for an
	// agent's backend, its agent's verdict and this overwatch's own.
	State      string
	Claimed    string
	Validated  string
	Stale      bool
	LastReport time.Time
	// Override is the operator's state for it ("drain", "down", "up"), if
	// any; it beats health.
	Override string
	Served   bool
}

// Records is one record set ready to answer with, alone and followed by
// its RRSIGs (for queries with the DO bit); Signed is empty when the zone
// is unsigned.
type Records struct {
	Plain, Signed RRSet
}

// For returns the form a query asks for.
func (r Records) For(do bool) RRSet {
	if do && !r.Signed.Empty() {
		return r.Signed
	}
	return r.Plain
}

// RRSet is one or more resource records in wire form with their count.
type RRSet struct {
	Wire  []byte
	Count uint16
}

// Empty reports whether the set holds no records.
func (s RRSet) Empty() bool { return s.Count == 0 }

// Zones returns the snapshot's zones, most specific first.
func (s *Snapshot) Zones() []*Zone { return s.zones }

// Domains returns every domain in configuration order.
func (s *Snapshot) Domains() []*Domain { return s.domains }

// NameErrorProof appends to dst the signed records that prove name does
// not exist in z (RFC 5155 §7.2.2, RFC 4035 §3.1.3.2): for NSEC3 the
// closest encloser's record, the one covering the next closer name and the
// one covering the wildcard; for NSEC the records covering the name and
// the wildcard. name is lower case and fully qualified; nothing is
// appended for an unsigned zone.
func (s *Snapshot) NameErrorProof(z *Zone, name string, dst []RRSet) []RRSet {
	d := z.denial
	if d == nil {
		return dst
	}
	// The apex exists, so the walk up ends at the latest there.
	next, encloser := name, parent(name)
	var ce *Node
	for range maxLabels {
		if n, ok := s.names[encloser]; ok && n.Zone == z {
			ce = n
			break
		}
		if encloser == z.Name || encloser == "." {
			break
		}
		next, encloser = encloser, parent(encloser)
	}
	if ce == nil {
		return dst
	}
	var (
		buf  [256]byte
		seen [3]int
		n    int
	)
	if d.nsec3 {
		wire, ok := toWire(next, buf[:])
		if !ok {
			return dst
		}
		dst = d.appendProof(dst, &seen, &n, ce.proof)
		dst = d.appendProof(dst, &seen, &n, d.coverHash(nsec3Hash(wire)))
		return d.appendProof(dst, &seen, &n, ce.wildcard)
	}
	wire, ok := toWire(name, buf[:])
	if !ok {
		return dst
	}
	var offsets [maxLabels]int
	qn := wireName{wire: wire, labels: labelOffsets(wire, offsets[:0])}
	dst = d.appendProof(dst, &seen, &n, d.cover(qn))
	return d.appendProof(dst, &seen, &n, ce.wildcard)
}

// Lookup finds the zone a lower-case, fully qualified name belongs to, and
// the node of that name when it exists. A nil zone means the name is not
// ours (REFUSED); a zone with a nil node means the name does not exist
// (NXDOMAIN).
func (s *Snapshot) Lookup(name string) (*Zone, *Node) {
	if n, ok := s.names[name]; ok {
		return n.Zone, n
	}
	for _, z := range s.zones {
		if inZone(name, z.Name) {
			return z, nil
		}
	}
	return nil, nil
}

// inZone reports whether name equals zone or lies below it, comparing whole
// labels so that "xexample.com." is not inside "example.com.".
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	rest := len(name) - len(zone)
	if rest == 0 {
		return true
	}
	if name[rest-1] != '.' {
		return false
	}
	// An escaped dot ("a\.gslb.example.com." is one label "a.gslb"
	// under example.com) does not end a label: count the backslashes.
	escapes := 0
	for i := rest - 2; i >= 0 && name[i] == '\\'; i-- {
		escapes++
	}
	return escapes%2 == 0
}

// Store holds the current snapshot. The ZoneActor is its only writer; every
// reader gets a complete, consistent snapshot with one atomic load.
type Store struct {
	current atomic.Pointer[Snapshot]
}

// Load returns the snapshot in force, or nil before the first is published.
func (s *Store) Load() *Snapshot { return s.current.Load() }

// publish makes snap the snapshot in force for every query that starts after.
func (s *Store) publish(snap *Snapshot) { s.current.Store(snap) }

// StoreOf returns a store that already holds snap: for tools and tests that
// answer from a fixed snapshot without running the actor.
func StoreOf(snap *Snapshot) *Store {
	s := &Store{}
	s.publish(snap)
	return s
}
