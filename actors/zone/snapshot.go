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
}

// Overrides returns the overrides in force when the snapshot was built,
// sorted by what they cover.
func (s *Snapshot) Overrides() []messages.Override { return s.overrides }

// Zone is one authoritative zone.
type Zone struct {
	Name string // lower case, fully qualified
	// SOA and NS are the apex record sets, packed to follow a question for
	// the apex (owner names compress to the question at offset 12).
	SOA RRSet
	NS  RRSet
	// NegativeSOA is the SOA record with its owner written out in full and
	// the negative TTL (RFC 2308 §5), ready for any negative answer's
	// authority section whatever the question was.
	NegativeSOA RRSet

	// Keys are the DNSSEC keys the zone is signed with; nil when the zone
	// is served unsigned.
	Keys []messages.KeyInfo
}

// Signed reports whether the zone's answers carry DNSSEC records.
func (z *Zone) Signed() bool { return len(z.Keys) > 0 }

// Node is one name that exists.
type Node struct {
	Zone   *Zone
	Apex   bool
	Domain *Domain // nil at the apex and at empty non-terminals
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
	return rest == 0 || name[rest-1] == '.'
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
